// Decode steps of an offloaded context (--kv-offload): the cache and its key indexes live in
// host memory (the host PagedKvCache, LlamaContext's), the GPU holds the weights and, per
// sequence, the blocks of the sinks and the recent window. Per layer the GPU attends those two
// ranges while the CPU probes its key indexes and attends the retrieved keys (OffloadHost);
// the CPU's piece is copied up and merged by log-sum-exp on the device.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "inference/internal/cuda_forward_impl.h"
#include "kernels/cuda/sparse_ops.h"

namespace engram::inference::internal {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr int kRangeSplits = 8;  // GPU pieces per exact range

}  // namespace

Status CudaForwardImpl::InitOffload() {
  const LlamaConfig& c = model_->config();
  for (int32_t b = static_cast<int32_t>(pool_blocks_) - 1; b >= 0; --b) free_blocks_.push_back(b);
  const size_t f = sizeof(float);
  const int pieces = 2 * kRangeSplits + 1;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  for (auto [buffer, bytes] :
       {std::pair{&offload_pieces_, f * cuda::PieceFloats(1, c.n_head, c.head_dim, pieces)},
        {&offload_ranges_, sizeof(int32_t) * 4 * c.n_layer},
        {&offload_kv_, f * 2 * kv_dim * c.n_layer}}) {
    if (Status s = Allocate(buffer, bytes); !s.ok()) return s;
  }
  for (auto [buffer, bytes] :
       {std::pair{&offload_q_, f * c.n_head * c.head_dim},
        {&offload_piece_, f * c.n_head * (c.head_dim + 2)},
        {&offload_host_ranges_, sizeof(int32_t) * 4 * c.n_layer},
        {&offload_host_kv_, f * 2 * kv_dim * c.n_layer}}) {
    Result<cuda::PinnedBuffer> made = cuda::PinnedBuffer::Allocate(bytes);
    if (!made.ok()) return made.status();
    *buffer = std::move(*made);
  }
  Result<cuda::Event> event = cuda::Event::Create();
  if (!event.ok()) return event.status();
  q_ready_ = std::move(*event);
  return Status::OK();
}

Status CudaForwardImpl::MakeResident(const PagedKvCache& cache, SequenceId seq, int64_t length) {
  const LlamaConfig& c = model_->config();
  const AttentionOptions& a = options_.attention;
  const int64_t bs = cache.block_size();
  const std::span<const int32_t> table = cache.BlockTable(seq);
  // As OffloadResidentBlocks counts them (inference/device_plan.h).
  const int64_t recent = std::max<int64_t>(a.window + a.index_batch, c.sliding_window) + bs;
  const int64_t sink_blocks = std::min<int64_t>((a.sinks + bs - 1) / bs, (length + bs - 1) / bs);
  const int64_t window_first = std::max<int64_t>(0, length - recent) / bs;
  std::vector<int32_t> needed;
  for (int64_t b = 0; b < static_cast<int64_t>(table.size()) && b * bs < length; ++b) {
    if (b < sink_blocks || b >= window_first) needed.push_back(table[b]);
  }
  for (auto it = resident_.begin(); it != resident_.end();) {
    if (std::find(needed.begin(), needed.end(), it->first) == needed.end()) {
      free_blocks_.push_back(it->second);
      it = resident_.erase(it);
    } else {
      ++it;
    }
  }
  for (int32_t host : needed) {
    if (resident_.count(host) != 0) continue;
    if (free_blocks_.empty()) {
      return Status::Internal("cuda offload: more resident blocks needed than planned (" +
                              std::to_string(pool_blocks_) + ")");
    }
    const int32_t device = free_blocks_.back();
    free_blocks_.pop_back();
    resident_[host] = device;
    for (int l = 0; l < c.n_layer; ++l) {
      uint16_t* dst = Layer(l).base + device * static_cast<size_t>(Layer(l).BlockElems());
      if (Status s = cuda::CopyToDevice(dst, cache.LayerBlockData(host, l),
                                        cache.layer_block_bytes(), stream_.get());
          !s.ok()) {
        return s;
      }
    }
  }
  // The uploads read host memory the CPU may change later in this step: finish them now.
  return stream_.Synchronize();
}

// One global layer's attention: the GPU's two exact ranges as pieces, the CPU's retrieved keys
// as one more, merged into attn_.
Status CudaForwardImpl::OffloadLayer(int l, int64_t length, const StepInputs& in,
                                     OffloadHost& host) {
  const LlamaConfig& c = model_->config();
  const cuda::Stream s = stream_.get();
  const size_t q_floats = static_cast<size_t>(c.n_head) * c.head_dim;
  if (Status st = cuda::CopyToHost(offload_q_.data(), q_.data(), sizeof(float) * q_floats, s);
      !st.ok()) {
    return st;
  }
  if (Status st = q_ready_.Record(s); !st.ok()) return st;
  const auto [sink_end, recent_begin] = host.BeginLayer(l, length);
  int32_t* ranges = offload_host_ranges_.as<int32_t>() + 4 * l;
  ranges[0] = 0;
  ranges[1] = static_cast<int32_t>(sink_end);
  ranges[2] = static_cast<int32_t>(recent_begin);
  ranges[3] = static_cast<int32_t>(length);
  int32_t* device_ranges = offload_ranges_.as<int32_t>() + 4 * l;
  if (Status st = cuda::CopyToDevice(device_ranges, ranges, 4 * sizeof(int32_t), s); !st.ok()) {
    return st;
  }
  const int pieces = 2 * kRangeSplits + 1;
  const int group = c.n_head / c.n_kv_head;
  const cuda::PagedLayer kv = Layer(l);
  cuda::AttentionRows part = Rows(l, 1, in);
  float* device_pieces = offload_pieces_.as<float>();
  part.key_begin = device_ranges;
  part.key_end = device_ranges + 1;
  cuda::AttendRangePieces(kv, part, group, c.attention_scale, device_pieces, pieces, 0,
                          kRangeSplits, s);
  part.key_begin = device_ranges + 2;
  part.key_end = device_ranges + 3;
  cuda::AttendRangePieces(kv, part, group, c.attention_scale, device_pieces, pieces,
                          kRangeSplits, kRangeSplits, s);

  auto start = Clock::now();  // the GPU works on the ranges meanwhile
  if (Status st = q_ready_.Synchronize(); !st.ok()) return st;
  offload_stats_.wait_seconds += SecondsSince(start);
  start = Clock::now();
  host.AttendRetrieved(l, offload_q_.as<float>(), offload_piece_.as<float>());
  offload_stats_.cpu_seconds += SecondsSince(start);

  const size_t piece_bytes = sizeof(float) * (c.head_dim + 2);
  if (Status st = cuda::CopyRowsToDevice(device_pieces + (pieces - 1) * (c.head_dim + 2),
                                         pieces * piece_bytes, offload_piece_.data(), piece_bytes,
                                         piece_bytes, static_cast<size_t>(c.n_head), s);
      !st.ok()) {
    return st;
  }
  cuda::MergePieces(device_pieces, 1, c.n_head, c.head_dim, pieces, attn_.as<float>(),
                    static_cast<int64_t>(q_floats), s);
  return Status::OK();
}

Status CudaForwardImpl::OffloadStep(const PagedKvCache& cache, const ForwardRows& rows,
                                    float* logits) {
  const auto step_start = Clock::now();
  const LlamaConfig& c = model_->config();
  const cuda::Stream s = stream_.get();
  const int64_t length = rows.pos[0] + 1;
  if (Status st = MakeResident(cache, rows.seq[0], length); !st.ok()) return st;
  const StepInputs& in = decode_inputs_;
  ForwardRows step = rows;
  step.decode = true;
  if (Status st = in.Send(FillInputs(cache, step, in), s); !st.ok()) return st;
  cuda::EmbedRows(weights_->token_embedding, in.Ints(kTokens, true), 1, c.embedding_scale,
                  x_.as<float>(), s);
  const size_t kv_floats = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  float* kv_rows = offload_kv_.as<float>();
  for (int l = 0; l < c.n_layer; ++l) {
    EnqueueQkv(l, 1, in);
    // This step's row of the layer, for the host cache after the step.
    for (auto [from, at] : {std::pair{k_.as<float>(), 2 * l}, {v_.as<float>(), 2 * l + 1}}) {
      if (Status st = cuda::CopyOnDevice(kv_rows + at * kv_floats, from,
                                         sizeof(float) * kv_floats, s);
          !st.ok()) {
        return st;
      }
    }
    if (weights_->layers[l].sliding) {  // its window is resident: all on the GPU
      EnqueueAttention(l, 1, in, /*decode=*/true, DecodeSplits(1));
    } else if (Status st = OffloadLayer(l, length, in, *rows.offload); !st.ok()) {
      return st;
    }
    EnqueueFfn(l, 1);
  }
  if (logits != nullptr) EnqueueLogits(0, 1);
  const size_t vocab_bytes = sizeof(float) * c.n_vocab;
  if (logits != nullptr) {
    if (Status st = cuda::CopyToHost(host_logits_.data(), logits_.data(), vocab_bytes, s);
        !st.ok()) {
      return st;
    }
  }
  if (Status st = cuda::CopyToHost(offload_host_kv_.data(), kv_rows,
                                   sizeof(float) * 2 * kv_floats * c.n_layer, s);
      !st.ok()) {
    return st;
  }
  const auto wait_start = Clock::now();
  if (Status st = stream_.Synchronize(); !st.ok()) return st;
  offload_stats_.wait_seconds += SecondsSince(wait_start);
  if (logits != nullptr) std::memcpy(logits, host_logits_.data(), vocab_bytes);
  const float* host_kv = offload_host_kv_.as<float>();
  for (int l = 0; l < c.n_layer; ++l) {
    rows.offload->StoreRow(l, host_kv + 2 * l * kv_floats, host_kv + (2 * l + 1) * kv_floats);
  }
  offload_stats_.steps += 1;
  offload_stats_.seconds += SecondsSince(step_start);
  return cuda::LastError();
}

}  // namespace engram::inference::internal
