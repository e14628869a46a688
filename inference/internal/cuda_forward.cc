// The forward pass on the GPU: LlamaContext::EvalLayer's sequence of operations as kernels of
// kernels/cuda/ops.h on one stream, over device buffers allocated once per context.
#include "inference/internal/cuda_forward.h"
#include "inference/internal/cuda_forward_impl.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "inference/internal/rope_angles.h"

namespace engram::inference::internal {
namespace {

int CeilLog2(int64_t v) {
  int shift = 0;
  while ((int64_t{1} << shift) < v) ++shift;
  return shift;
}

}  // namespace

cuda::PagedLayer CudaForwardImpl::Layer(int layer) const {
  const LlamaConfig& c = model_->config();
  cuda::PagedLayer view;
  view.n_kv_head = c.n_kv_head;
  view.head_dim = c.head_dim;
  view.block_shift = block_shift_;
  view.base = pool_.as<uint16_t>() + static_cast<size_t>(layer) * pool_blocks_ * view.BlockElems();
  return view;
}

int32_t CudaForwardImpl::DeviceBlock(int32_t host) const {
  if (!options_.kv_offload) return host;
  const auto it = resident_.find(host);
  return it == resident_.end() ? 0 : it->second;  // never read: outside the GPU's ranges
}

int CudaForwardImpl::DecodeSplits(int64_t rows) const {
  // Enough thread blocks for two per multiprocessor over all (row, KV head) pairs.
  const int64_t pairs = rows * model_->config().n_kv_head;
  const int64_t wanted = (2 * info_.multiprocessors + pairs - 1) / pairs;
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, kMaxDecodeSplits));
}

Status CudaForwardImpl::Allocate(cuda::DeviceBuffer* buffer, size_t bytes) {
  Result<cuda::DeviceBuffer> made = cuda::DeviceBuffer::Allocate(bytes);
  if (!made.ok()) return made.status();
  *buffer = std::move(*made);
  return Status::OK();
}

Status CudaForwardImpl::Init(const PagedKvCache& cache) {
  const LlamaConfig& c = model_->config();
  Result<cuda::DeviceInfo> info = cuda::QueryDevice(options_.gpu);
  if (!info.ok()) return info.status();
  info_ = *info;
  plan_ = PlanDeviceMemory(*model_, options_);
  if (plan_.total() > info_.free_bytes) {
    return Status::ResourceExhausted(
        DescribeShortfall(plan_, cache.total_blocks() * cache.block_size(), info_.name,
                          info_.free_bytes));
  }
  Result<std::shared_ptr<const DeviceWeights>> weights = SharedDeviceWeights(model_, info_.index);
  if (!weights.ok()) return weights.status();
  weights_ = std::move(*weights);
  Result<cuda::StreamHandle> stream = cuda::StreamHandle::Create();
  if (!stream.ok()) return stream.status();
  stream_ = std::move(*stream);

  // Offloaded, the device holds each step's resident blocks only (cuda_offload.cc).
  pool_blocks_ = options_.kv_offload ? OffloadResidentBlocks(*model_, options_) : cache.total_blocks();
  block_shift_ = CeilLog2(cache.block_size());
  const size_t pool_bytes = sizeof(uint16_t) * static_cast<size_t>(Layer(0).BlockElems()) *
                            pool_blocks_ * c.n_layer;
  const size_t ub = static_cast<size_t>(options_.n_ubatch);
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  const size_t f = sizeof(float);
  for (auto [buffer, bytes] :
       {std::pair{&pool_, pool_bytes}, {&x_, f * ub * c.n_embd},
        {&norm_, f * ub * std::max<size_t>(c.n_embd, q_dim)}, {&q_, f * ub * q_dim},
        {&k_, f * ub * kv_dim}, {&v_, f * ub * kv_dim}, {&attn_, f * ub * q_dim},
        {&gate_, f * ub * c.n_ff}, {&up_, f * ub * c.n_ff},
        {&logits_, f * kLogitRows * c.n_vocab},
        {&partials_, f * cuda::AttendDecodePartialFloats(static_cast<int64_t>(ub), c.n_head,
                                                         c.head_dim, kMaxDecodeSplits)}}) {
    if (Status s = Allocate(buffer, bytes); !s.ok()) return s;
  }
  Result<cuda::PinnedBuffer> host_logits =
      cuda::PinnedBuffer::Allocate(f * kLogitRows * c.n_vocab);
  if (!host_logits.ok()) return host_logits.status();
  host_logits_ = std::move(*host_logits);
  const int64_t table_stride = (options_.n_ctx + cache.block_size() - 1) / cache.block_size();
  const int half = c.rope_dim / 2;
  Result<StepInputs> batch =
      StepInputs::Create(static_cast<int64_t>(ub), static_cast<int64_t>(ub), table_stride, half);
  if (!batch.ok()) return batch.status();
  batch_inputs_ = std::move(*batch);
  Result<StepInputs> decode = StepInputs::Create(1, 1, table_stride, half);
  if (!decode.ok()) return decode.status();
  decode_inputs_ = std::move(*decode);
  if (Status s = cuda::FillZero(pool_.data(), pool_bytes); !s.ok()) return s;
  if (options_.kv_offload) return InitOffload();  // retrieval runs on the CPU's indexes
  return SetAttention(options_.attention);  // a sparse policy's bounds, from the zeroed pool
}

int64_t CudaForwardImpl::FillInputs(const PagedKvCache& cache, const ForwardRows& rows,
                                    const StepInputs& in) {
  const LlamaConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(rows.tokens.size());
  const int64_t block_mask = (int64_t{1} << block_shift_) - 1;
  // Decode rows each have their own table; prefill rows share the first.
  const int64_t tables = rows.decode ? n : 1;
  for (int64_t t = 0; t < tables; ++t) {
    const std::span<const int32_t> table = cache.BlockTable(rows.seq[t]);
    const size_t count = std::min<size_t>(table.size(), static_cast<size_t>(in.table_stride()));
    int32_t* dst = in.Tables(false) + t * in.table_stride();
    for (size_t b = 0; b < count; ++b) dst[b] = DeviceBlock(table[b]);
  }
  const int64_t window = c.sliding_window;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = rows.pos[t];
    const std::span<const int32_t> table = cache.BlockTable(rows.seq[t]);
    in.Ints(kTokens, false)[t] = rows.tokens[t];
    in.Ints(kSlots, false)[t] =
        static_cast<int32_t>((int64_t{DeviceBlock(table[pos >> block_shift_])} << block_shift_) |
                             (pos & block_mask));
    in.Ints(kTableOfRow, false)[t] = static_cast<int32_t>(rows.decode ? t : 0);
    in.Ints(kBeginGlobal, false)[t] = 0;
    in.Ints(kEndGlobal, false)[t] = static_cast<int32_t>(pos + 1);
    in.Ints(kBeginLocal, false)[t] =
        static_cast<int32_t>(window > 0 ? std::max<int64_t>(0, pos + 1 - window) : 0);
    in.Ints(kEndLocal, false)[t] = static_cast<int32_t>(pos + 1);
  }
  // The blocks written, each with its rows filled up to the last one written (rows of one
  // block are consecutive in a prefill; decode rows write distinct blocks).
  touched_ = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int32_t block = in.Ints(kSlots, false)[t] >> block_shift_;
    const int32_t filled = static_cast<int32_t>((rows.pos[t] & block_mask) + 1);
    if (touched_ > 0 && in.Ints(kTouchedBlocks, false)[touched_ - 1] == block) {
      in.Ints(kTouchedRows, false)[touched_ - 1] = filled;
      continue;
    }
    in.Ints(kTouchedBlocks, false)[touched_] = block;
    in.Ints(kTouchedRows, false)[touched_] = filled;
    ++touched_;
  }
  FillRopeAngles(rows.pos, c.rope_dim, c.rope_freq_base, c.rope_freq_scale,
                 model_->rope_freq_factors(), in.Angles(0, false), in.Angles(1, false));
  if (window > 0) {  // local layers: their own base, never scaled (as the CPU path)
    FillRopeAngles(rows.pos, c.rope_dim, c.rope_freq_base_local, 1.0f, {}, in.Angles(2, false),
                   in.Angles(3, false));
  }
  return tables;
}

void CudaForwardImpl::EnqueueLayer(int l, int64_t n, const StepInputs& in, bool decode,
                                   int splits) {
  EnqueueQkv(l, n, in);
  EnqueueAttention(l, n, in, decode, splits);
  EnqueueFfn(l, n);
}

// Norm, q/k/v projections (biases, Gemma's head norms), RoPE; the keys and values go to the
// cache (and the pages they touch get new bounds).
void CudaForwardImpl::EnqueueQkv(int l, int64_t n, const StepInputs& in) {
  const LlamaConfig& c = model_->config();
  const DeviceLayerWeights& w = weights_->layers[l];
  const cuda::Stream s = stream_.get();
  const int64_t E = c.n_embd, hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_kv_head * hd;
  const float eps = c.rms_eps;
  auto* norm = norm_.as<float>();
  auto* q = q_.as<float>();
  auto* k = k_.as<float>();
  auto* v = v_.as<float>();
  cuda::RmsNorm(x_.as<float>(), E, w.attn_norm, n, E, eps, norm, E, s);
  cuda::MatMul(w.wq, norm, E, n, q, q_dim, s);
  cuda::MatMul(w.wk, norm, E, n, k, kv_dim, s);
  cuda::MatMul(w.wv, norm, E, n, v, kv_dim, s);
  if (w.bq != nullptr) cuda::AddBias(q, w.bq, n, q_dim, s);
  if (w.bk != nullptr) cuda::AddBias(k, w.bk, n, kv_dim, s);
  if (w.bv != nullptr) cuda::AddBias(v, w.bv, n, kv_dim, s);
  if (w.q_norm != nullptr) cuda::RmsNorm(q, hd, w.q_norm, n * c.n_head, hd, eps, q, hd, s);
  if (w.k_norm != nullptr) cuda::RmsNorm(k, hd, w.k_norm, n * c.n_kv_head, hd, eps, k, hd, s);
  const bool neox = c.rope_style == RopeStyle::kNeox;
  const float* cos = in.Angles(w.sliding ? 2 : 0, true);
  const float* sin = in.Angles(w.sliding ? 3 : 1, true);
  cuda::Rope(q, n, q_dim, c.n_head, c.head_dim, c.rope_dim, neox, cos, sin, s);
  cuda::Rope(k, n, kv_dim, c.n_kv_head, c.head_dim, c.rope_dim, neox, cos, sin, s);
  const cuda::PagedLayer kv = Layer(l);
  cuda::StoreKv(kv, k, v, kv_dim, n, in.Ints(kSlots, true), s);
  if (sparse_ != nullptr) {
    sparse_->RefreshBounds(kv, l, in.Ints(kTouchedBlocks, true), in.Ints(kTouchedRows, true),
                           touched_, s);
  }
}

// The rows' queries over the cache, into attn_.
cuda::AttentionRows CudaForwardImpl::Rows(int l, int64_t n, const StepInputs& in) const {
  const LlamaConfig& c = model_->config();
  const bool sliding = weights_->layers[l].sliding;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * c.head_dim;
  cuda::AttentionRows rows;
  rows.q = q_.as<float>();
  rows.q_stride = q_dim;
  rows.out = attn_.as<float>();
  rows.out_stride = q_dim;
  rows.rows = n;
  rows.table_of_row = in.Ints(kTableOfRow, true);
  rows.tables = in.Tables(true);
  rows.table_stride = in.table_stride();
  rows.key_begin = in.Ints(sliding ? kBeginLocal : kBeginGlobal, true);
  rows.key_end = in.Ints(sliding ? kEndLocal : kEndGlobal, true);
  return rows;
}

void CudaForwardImpl::EnqueueAttention(int l, int64_t n, const StepInputs& in, bool decode,
                                       int splits) {
  const LlamaConfig& c = model_->config();
  const cuda::Stream s = stream_.get();
  const cuda::PagedLayer kv = Layer(l);
  const cuda::AttentionRows rows = Rows(l, n, in);
  const int group = c.n_head / c.n_kv_head;
  if (decode && sparse_step_ && !weights_->layers[l].sliding) {  // local layers: their window
    sparse_->Attend(kv, l, rows, group, c.attention_scale, s);
  } else if (decode) {
    cuda::AttendDecode(kv, rows, group, c.attention_scale, partials_.as<float>(), splits, s);
  } else {
    cuda::AttendPrefill(kv, rows, group, c.attention_scale, s);
  }
}

// Output projection and residual, then the feed-forward block and its residual.
void CudaForwardImpl::EnqueueFfn(int l, int64_t n) {
  const LlamaConfig& c = model_->config();
  const DeviceLayerWeights& w = weights_->layers[l];
  const cuda::Stream s = stream_.get();
  const int64_t E = c.n_embd, ff = c.n_ff;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * c.head_dim;
  const float eps = c.rms_eps;
  auto* x = x_.as<float>();
  auto* norm = norm_.as<float>();
  auto* gate = gate_.as<float>();
  auto* up = up_.as<float>();
  // A branch's output (in norm) joins the residual stream, normed first where the model says.
  auto add_residual = [&](const float* post_norm) {
    if (post_norm != nullptr) cuda::RmsNorm(norm, E, post_norm, n, E, eps, norm, E, s);
    cuda::Add(x, norm, n * E, s);
  };
  cuda::MatMul(w.wo, attn_.as<float>(), q_dim, n, norm, E, s);
  add_residual(w.post_attn_norm);
  cuda::RmsNorm(x, E, w.ffn_norm, n, E, eps, norm, E, s);
  cuda::MatMul(w.w_gate, norm, E, n, gate, ff, s);
  cuda::MatMul(w.w_up, norm, E, n, up, ff, s);
  cuda::Glu(gate, up, gate, n * ff, c.ffn_activation == FfnActivation::kGeluTanh, s);
  cuda::MatMul(w.w_down, gate, ff, n, norm, E, s);
  add_residual(w.post_ffn_norm);
}

void CudaForwardImpl::EnqueueLogits(int64_t first_row, int64_t count) {
  const LlamaConfig& c = model_->config();
  const int64_t E = c.n_embd;
  cuda::RmsNorm(x_.as<float>() + first_row * E, E, weights_->output_norm, count, E, c.rms_eps,
                norm_.as<float>(), E, stream_.get());
  cuda::MatMul(weights_->output, norm_.as<float>(), E, count, logits_.as<float>(), c.n_vocab,
               stream_.get());
}

void CudaForwardImpl::EnqueueForward(int64_t n, const StepInputs& in, bool decode, int splits) {
  const LlamaConfig& c = model_->config();
  cuda::EmbedRows(weights_->token_embedding, in.Ints(kTokens, true), n, c.embedding_scale,
                  x_.as<float>(), stream_.get());
  for (int l = 0; l < c.n_layer; ++l) EnqueueLayer(l, n, in, decode, splits);
}

// One token of one sequence: a graph of the whole step, captured on first use. The inputs live
// in decode_inputs_, copied before each launch; the key count is read on the device, so the
// graph stays valid as the sequence grows.
Status CudaForwardImpl::DecodeStep(int64_t length, float* logits) {
  const cuda::Stream s = stream_.get();
  const int splits = DecodeSplits(1);
  sparse_step_ = false;
  if (sparse_ != nullptr) {
    Result<bool> sparse = sparse_->BeginStep(length, s);
    if (!sparse.ok()) return sparse.status();
    sparse_step_ = *sparse;
  }
  // The first step runs eagerly (any one-time kernel setup happens outside a capture); the
  // second captures.
  if (graphs_ && !sparse_step_ && !decode_graph_.ready() && eager_steps_++ > 0) {
    Status capture = decode_graph_.BeginCapture(s);
    if (capture.ok()) {
      EnqueueForward(1, decode_inputs_, /*decode=*/true, splits);
      EnqueueLogits(0, 1);
      capture = decode_graph_.EndCapture(s);
    }
    if (!capture.ok()) {
      (void)cuda::LastError();  // clear it: launches without a graph still work
      spdlog::warn("cuda: decode steps run without a CUDA graph ({})", capture.ToString());
      graphs_ = false;
      decode_graph_.Reset();
    }
  }
  if (decode_graph_.ready() && !sparse_step_) {
    if (Status st = decode_graph_.Launch(s); !st.ok()) return st;
  } else {
    EnqueueForward(1, decode_inputs_, /*decode=*/true, splits);
    EnqueueLogits(0, 1);
  }
  if (logits == nullptr) return cuda::LastError();
  const size_t bytes = sizeof(float) * model_->config().n_vocab;
  if (Status st = cuda::CopyToHost(host_logits_.data(), logits_.data(), bytes, s); !st.ok()) {
    return st;
  }
  if (Status st = stream_.Synchronize(); !st.ok()) return st;
  std::memcpy(logits, host_logits_.data(), bytes);
  return cuda::LastError();
}

Status CudaForwardImpl::RunRows(int64_t n, int64_t first_logit, bool decode, float* logits) {
  const LlamaConfig& c = model_->config();
  const cuda::Stream s = stream_.get();
  sparse_step_ = false;  // batched decode attends whole sequences, as on the CPU
  EnqueueForward(n, batch_inputs_, decode, DecodeSplits(n));
  if (logits != nullptr) {
    for (int64_t row = first_logit; row < n; row += kLogitRows) {
      const int64_t count = std::min(kLogitRows, n - row);
      EnqueueLogits(row, count);
      const size_t bytes = sizeof(float) * count * c.n_vocab;
      if (Status st = cuda::CopyToHost(host_logits_.data(), logits_.data(), bytes, s); !st.ok()) {
        return st;
      }
      if (Status st = stream_.Synchronize(); !st.ok()) return st;
      std::memcpy(logits + (row - first_logit) * c.n_vocab, host_logits_.data(), bytes);
    }
  }
  // The pinned inputs are reused by the next call: wait until the device has read them.
  if (Status st = stream_.Synchronize(); !st.ok()) return st;
  return cuda::LastError();
}

Status CudaForwardImpl::Eval(const PagedKvCache& cache, const ForwardRows& rows, float* logits,
                             int64_t first_logit) {
  const int64_t n = static_cast<int64_t>(rows.tokens.size());
  if (n == 0) return Status::OK();
  if (n > options_.n_ubatch) {
    return Status::InvalidArgument("cuda: " + std::to_string(n) + " rows is more than n_ubatch " +
                                   std::to_string(options_.n_ubatch));
  }
  if (options_.kv_offload) {
    if (n != 1 || rows.offload == nullptr) {
      return Status::Internal("cuda: an offloaded context runs decode steps only on the GPU");
    }
    return OffloadStep(cache, rows, logits);
  }
  const bool single_decode = n == 1;  // a one-token Eval is a decode step too
  const StepInputs& in = single_decode ? decode_inputs_ : batch_inputs_;
  ForwardRows filled = rows;
  filled.decode = rows.decode || single_decode;
  const int64_t tables = FillInputs(cache, filled, in);
  if (Status s = in.Send(tables, stream_.get()); !s.ok()) return s;
  if (single_decode) {
    Status s = DecodeStep(rows.pos[0] + 1, logits);
    if (s.ok() && logits == nullptr) s = stream_.Synchronize();
    return s;
  }
  return RunRows(n, first_logit, filled.decode, logits);
}

Status CudaForwardImpl::CopyBlocks(std::span<const PagedKvCache::BlockCopy> copies) {
  if (options_.kv_offload) return Status::OK();  // copies are new host blocks: uploaded when needed
  const int n_layer = model_->config().n_layer;
  const size_t block_bytes = sizeof(uint16_t) * static_cast<size_t>(Layer(0).BlockElems());
  for (const PagedKvCache::BlockCopy& copy : copies) {
    for (int l = 0; l < n_layer; ++l) {
      const uint16_t* base = Layer(l).base;
      const size_t elems = static_cast<size_t>(Layer(l).BlockElems());
      if (Status s = cuda::CopyOnDevice(const_cast<uint16_t*>(base) + copy.to * elems,
                                        base + copy.from * elems, block_bytes, stream_.get());
          !s.ok()) {
        return s;
      }
    }
    if (sparse_ != nullptr) {
      if (Status s = sparse_->CopyBounds(copy.from, copy.to, stream_.get()); !s.ok()) return s;
    }
  }
  return stream_.Synchronize();
}

Status CudaForwardImpl::Upload(const PagedKvCache& cache, SequenceId seq) {
  if (options_.kv_offload) {  // the host rows changed: upload the resident ones again when needed
    for (const auto& [host, device] : resident_) free_blocks_.push_back(device);
    resident_.clear();
    return Status::OK();
  }
  const int n_layer = model_->config().n_layer;
  const size_t bytes = cache.layer_block_bytes();
  for (int32_t physical : cache.BlockTable(seq)) {
    for (int l = 0; l < n_layer; ++l) {
      uint16_t* dst = Layer(l).base + physical * static_cast<size_t>(Layer(l).BlockElems());
      if (Status s = cuda::CopyToDevice(dst, cache.LayerBlockData(physical, l), bytes); !s.ok()) {
        return s;
      }
    }
  }
  return RefreshAllBounds(cache, seq);
}

// Page bounds of every block of the sequence, from the rows now on the device.
Status CudaForwardImpl::RefreshAllBounds(const PagedKvCache& cache, SequenceId seq) {
  if (sparse_ == nullptr) return Status::OK();
  const std::span<const int32_t> table = cache.BlockTable(seq);
  std::vector<int32_t> rows(table.size());
  for (size_t b = 0; b < table.size(); ++b) {
    rows[b] = static_cast<int32_t>(std::clamp<int64_t>(
        cache.length(seq) - static_cast<int64_t>(b) * cache.block_size(), 0, cache.block_size()));
  }
  return RefreshBounds({table.begin(), table.end()}, rows);
}

Status CudaForwardImpl::RefreshBounds(const std::vector<int32_t>& blocks,
                                      const std::vector<int32_t>& rows) {
  std::vector<int32_t> lists(blocks);
  lists.insert(lists.end(), rows.begin(), rows.end());
  Result<cuda::DeviceBuffer> device = cuda::DeviceBuffer::Allocate(sizeof(int32_t) * lists.size());
  if (!device.ok()) return device.status();
  if (Status s = cuda::CopyToDevice(device->data(), lists.data(), sizeof(int32_t) * lists.size());
      !s.ok()) {
    return s;
  }
  const int32_t* on_device = device->as<int32_t>();
  for (int l = 0; l < model_->config().n_layer; ++l) {
    sparse_->RefreshBounds(Layer(l), l, on_device, on_device + blocks.size(),
                           static_cast<int64_t>(blocks.size()), stream_.get());
  }
  if (Status s = stream_.Synchronize(); !s.ok()) return s;
  return cuda::LastError();
}

Status CudaForwardImpl::SetAttention(const AttentionOptions& attention) {
  if (options_.kv_offload) {
    if (attention.kind != AttentionKind::kRetrieval) {
      return Status::Unavailable("cuda: an offloaded context (--kv-offload) decodes with the "
                                 "retrieval policy only");
    }
    options_.attention = attention;
    return Status::OK();
  }
  if (attention.kind == AttentionKind::kFull) {
    sparse_.reset();
    options_.attention = attention;
    return Status::OK();
  }
  if (sparse_ != nullptr) {  // another sparse policy or budget: the same bounds serve
    options_.attention = attention;
    sparse_->SetOptions(attention);
    return Status::OK();
  }
  const LlamaConfig& c = model_->config();
  Result<std::unique_ptr<CudaSparseDecode>> made = CudaSparseDecode::Create(
      attention, c.n_layer, c.n_head, c.n_kv_head, c.head_dim, pool_blocks_, block_shift_,
      options_.n_ctx);
  if (!made.ok()) return made.status();
  sparse_ = std::move(*made);
  options_.attention = attention;
  // Blocks written before: their bounds over whole blocks (rows past a sequence's end only
  // widen them, which keeps them bounds).
  std::vector<int32_t> blocks(static_cast<size_t>(pool_blocks_));
  std::vector<int32_t> rows(blocks.size(), int32_t{1} << block_shift_);
  for (size_t b = 0; b < blocks.size(); ++b) blocks[b] = static_cast<int32_t>(b);
  return RefreshBounds(blocks, rows);
}

Status CudaForwardImpl::Download(PagedKvCache& cache, SequenceId seq) {
  if (options_.kv_offload) return Status::OK();  // the host cache is the whole cache
  const int n_layer = model_->config().n_layer;
  const size_t bytes = cache.layer_block_bytes();
  for (int32_t physical : cache.BlockTable(seq)) {
    for (int l = 0; l < n_layer; ++l) {
      const uint16_t* src = Layer(l).base + physical * static_cast<size_t>(Layer(l).BlockElems());
      if (Status s = cuda::CopyToHost(cache.MutableLayerBlock(physical, l), src, bytes);
          !s.ok()) {
        return s;
      }
    }
  }
  cache.RefreshBounds(seq);
  return Status::OK();
}

namespace {

// The options the GPU path does not run, as the reason; empty when it runs them.
std::string UnsupportedOptions(const LlamaModel& model, const ContextOptions& options) {
  if (options.kv_type != TensorType::kF16) return "the GPU keeps its KV cache in f16";
  if (options.kv_offload && options.attention.kind != AttentionKind::kRetrieval) {
    return "--kv-offload needs --attention retrieval (the CPU's key indexes pick what it attends)";
  }
  if (std::string bad = UnsupportedWeight(model); !bad.empty()) {
    return "no GPU kernel multiplies " + bad + " yet";
  }
  return "";
}

}  // namespace

Result<std::unique_ptr<CudaForward>> CreateCudaForward(std::shared_ptr<const LlamaModel> model,
                                                       const ContextOptions& options,
                                                       const PagedKvCache& cache) {
  if (std::string reason = UnsupportedOptions(*model, options); !reason.empty()) {
    return Status::Unavailable("cuda: " + reason);
  }
  if (cache.type() != TensorType::kF16) return Status::Unavailable("cuda: the cache must be f16");
  auto forward = std::make_unique<CudaForwardImpl>(std::move(model), options);
  if (Status s = forward->Init(cache); !s.ok()) return s;
  return std::unique_ptr<CudaForward>(std::move(forward));
}

}  // namespace engram::inference::internal
