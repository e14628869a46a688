// CudaForward's implementation, shared by cuda_forward.cc (the forward pass) and
// cuda_offload.cc (decode steps with the cache in host memory). Internal; CUDA builds only.
#pragma once

#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "inference/internal/cuda_forward.h"
#include "inference/internal/cuda_sparse.h"
#include "inference/internal/cuda_weights.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"

namespace engram::inference::internal {

namespace cuda = kernels::cuda;

constexpr int64_t kLogitRows = 32;  // logits computed this many rows at a time
constexpr int kMaxDecodeSplits = 64;

// The per-row int inputs of a step. Touched: the cache blocks the step writes (one entry per
// block, the rest unused) and how many of their rows are then filled (page bounds).
enum Input {
  kTokens,
  kSlots,
  kTableOfRow,
  kBeginGlobal,
  kEndGlobal,
  kBeginLocal,
  kEndLocal,
  kTouchedBlocks,
  kTouchedRows,
  kIntArrays
};

// The per-step inputs of `rows` rows and `tables` block tables, laid out identically in pinned
// host memory and in device memory so one copy moves them; block tables come last, so a copy
// stops after the tables in use.
class StepInputs {
 public:
  static Result<StepInputs> Create(int64_t rows, int64_t tables, int64_t table_stride, int half) {
    StepInputs in;
    in.rows_ = rows;
    in.table_stride_ = table_stride;
    in.half_ = half;
    // int32 arrays (enum Input); then four float angle arrays of rows × half; then the tables.
    in.tables_offset_ = sizeof(int32_t) * kIntArrays * rows + sizeof(float) * 4 * rows * half;
    const size_t bytes = in.tables_offset_ + sizeof(int32_t) * tables * table_stride;
    Result<cuda::PinnedBuffer> host = cuda::PinnedBuffer::Allocate(bytes);
    if (!host.ok()) return host.status();
    Result<cuda::DeviceBuffer> device = cuda::DeviceBuffer::Allocate(bytes);
    if (!device.ok()) return device.status();
    in.host_ = std::move(*host);
    in.device_ = std::move(*device);
    return in;
  }

  // Int array `which` (enum Input) of the host or device copy.
  int32_t* Ints(int which, bool device) const {
    return Base(device) + static_cast<size_t>(which) * rows_;
  }
  // Angle array `which` (0 cos, 1 sin, 2 local cos, 3 local sin).
  float* Angles(int which, bool device) const {
    auto* first = reinterpret_cast<float*>(Base(device) + kIntArrays * rows_);
    return first + static_cast<size_t>(which) * rows_ * half_;
  }
  int32_t* Tables(bool device) const {
    return reinterpret_cast<int32_t*>(reinterpret_cast<uint8_t*>(Base(device)) + tables_offset_);
  }
  int64_t table_stride() const { return table_stride_; }
  // Host -> device, through the end of the first `tables` tables.
  Status Send(int64_t tables, cuda::Stream stream) const {
    return cuda::CopyToDevice(device_.data(), host_.data(),
                              tables_offset_ + sizeof(int32_t) * tables * table_stride_, stream);
  }

 private:
  int32_t* Base(bool device) const {
    return static_cast<int32_t*>(device ? device_.data() : host_.data());
  }
  int64_t rows_ = 0;
  int64_t table_stride_ = 0;
  int half_ = 0;
  size_t tables_offset_ = 0;
  cuda::PinnedBuffer host_;
  cuda::DeviceBuffer device_;
};

class CudaForwardImpl final : public CudaForward {
 public:
  CudaForwardImpl(std::shared_ptr<const LlamaModel> model, const ContextOptions& options)
      : model_(std::move(model)), options_(options) {}

  Status Init(const PagedKvCache& cache);

  Status Eval(const PagedKvCache& cache, const ForwardRows& rows, float* logits,
              int64_t first_logit) override;
  Status CopyBlocks(std::span<const PagedKvCache::BlockCopy> copies) override;
  Status Upload(const PagedKvCache& cache, SequenceId seq) override;
  Status Download(PagedKvCache& cache, SequenceId seq) override;
  Status SetAttention(const AttentionOptions& attention) override;
  const std::string& device_name() const override { return info_.name; }
  double peak_bandwidth() const override { return info_.peak_bandwidth_bytes_per_s; }
  const DeviceMemoryPlan& plan() const override { return plan_; }
  OffloadStats offload_stats() const override { return offload_stats_; }

 private:
  Status Allocate(cuda::DeviceBuffer* buffer, size_t bytes);
  // Fills `in` on the host for `rows` (slots, angles, key ranges, block tables); returns the
  // number of tables used.
  int64_t FillInputs(const PagedKvCache& cache, const ForwardRows& rows, const StepInputs& in);
  void EnqueueLayer(int layer, int64_t n, const StepInputs& in, bool decode, int splits);
  void EnqueueQkv(int layer, int64_t n, const StepInputs& in);
  void EnqueueAttention(int layer, int64_t n, const StepInputs& in, bool decode, int splits);
  void EnqueueFfn(int layer, int64_t n);
  cuda::AttentionRows Rows(int layer, int64_t n, const StepInputs& in) const;
  void EnqueueLogits(int64_t first_row, int64_t count);
  void EnqueueForward(int64_t n, const StepInputs& in, bool decode, int splits);
  Status DecodeStep(int64_t length, float* logits);
  Status RunRows(int64_t n, int64_t first_logit, bool decode, float* logits);
  cuda::PagedLayer Layer(int layer) const;
  Status RefreshAllBounds(const PagedKvCache& cache, SequenceId seq);
  Status RefreshBounds(const std::vector<int32_t>& blocks, const std::vector<int32_t>& rows);
  int DecodeSplits(int64_t rows) const;
  // The device block holding host cache block `host` (the same number unless offloaded).
  int32_t DeviceBlock(int32_t host) const;

  // --kv-offload (cuda_offload.cc).
  Status InitOffload();
  Status OffloadStep(const PagedKvCache& cache, const ForwardRows& rows, float* logits);
  // Makes the sinks' and the recent window's blocks of `seq` resident (uploading those that
  // were not) and releases the rest.
  Status MakeResident(const PagedKvCache& cache, SequenceId seq, int64_t length);
  Status OffloadLayer(int layer, int64_t length, const StepInputs& in, OffloadHost& host);

  std::shared_ptr<const LlamaModel> model_;
  ContextOptions options_;
  cuda::DeviceInfo info_;
  DeviceMemoryPlan plan_;
  std::shared_ptr<const DeviceWeights> weights_;
  cuda::StreamHandle stream_;
  cuda::DeviceBuffer pool_;  // [layer][block] of PagedLayer::BlockElems f16
  int64_t pool_blocks_ = 0;
  int block_shift_ = 0;
  cuda::DeviceBuffer x_, norm_, q_, k_, v_, attn_, gate_, up_, logits_, partials_;
  cuda::PinnedBuffer host_logits_;
  StepInputs batch_inputs_;   // up to n_ubatch rows (prefill, batched decode)
  StepInputs decode_inputs_;  // one row: the captured decode step's
  cuda::Graph decode_graph_;
  std::unique_ptr<CudaSparseDecode> sparse_;  // a sparse decode policy: its state and bounds
  bool sparse_step_ = false;                  // this decode step attends sparsely
  int64_t touched_ = 0;                       // cache blocks the current step writes
  bool graphs_ = true;  // false after a capture failed: launch step by step
  // --kv-offload: host cache block -> device block for the resident ones, the free device
  // blocks, and the step's buffers.
  std::unordered_map<int32_t, int32_t> resident_;
  std::vector<int32_t> free_blocks_;
  cuda::DeviceBuffer offload_pieces_, offload_ranges_, offload_kv_;
  cuda::PinnedBuffer offload_q_, offload_piece_, offload_host_ranges_, offload_host_kv_;
  cuda::Event q_ready_;
  OffloadStats offload_stats_;
  int eager_steps_ = 0;  // decode steps launched without the graph
};

}  // namespace engram::inference::internal
