// Sparse decode attention on the GPU for CudaForward: the window, quest and retrieval policies
// of inference/attention_policy.h with every step on the device. Internal to inference; CUDA
// builds only.
//
// Per decode step and layer (not sliding-window layers, which attend their window anyway):
//   window     the sinks and the recent window widened by the budget;
//   quest      the sinks' and the window's whole pages, plus the budget's best pages by Quest's
//              bound (page key bounds kept per cache block on the device);
//   retrieval  the same exact ranges, plus the budget's best keys by exact q·k among the
//              candidate pages (candidate_factor × the budget, by Quest's bound). The CPU's key
//              indexes (IVF, attention-aware) are not used on the device: candidates come from
//              the page bounds and are scored exactly.
// The three parts are attended as pieces and merged by log-sum-exp. Decode steps under these
// policies launch kernel by kernel (no graph: the selection sizes change with the length).
#pragma once

#include <memory>

#include "common/result.h"
#include "inference/attention_policy.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"

namespace engram::inference::internal {

class CudaSparseDecode {
 public:
  // For `layers` layers of `pool_blocks` cache blocks of 2^block_shift positions, contexts of
  // up to n_ctx positions. kResourceExhausted when the bounds or lists do not fit.
  static Result<std::unique_ptr<CudaSparseDecode>> Create(const AttentionOptions& options,
                                                          int layers, int n_head, int n_kv_head,
                                                          int head_dim, int64_t pool_blocks,
                                                          int block_shift, int64_t n_ctx);

  // Page bounds of layer `layer`'s blocks blocks[i] (device) over their first rows[i] rows,
  // recomputed after a step stored keys there.
  void RefreshBounds(const kernels::cuda::PagedLayer& kv, int layer, const int32_t* blocks,
                     const int32_t* rows, int64_t count, kernels::cuda::Stream stream);
  // Another budget or policy (the bounds stay valid).
  void SetOptions(const AttentionOptions& options) { options_ = options; }
  // Copies the bounds of physical block `from` to `to` in every layer (copy-on-write).
  Status CopyBounds(int32_t from, int32_t to, kernels::cuda::Stream stream);

  // Fixes this step's ranges for a sequence of `length` positions (the new token included) and
  // sends them to the device. False when nothing is left between the exact ranges: then the
  // step attends everything (full attention) and Attend must not be called.
  Result<bool> BeginStep(int64_t length, kernels::cuda::Stream stream);
  // One layer's attention of the step's single row: q, out, table_of_row and tables from
  // `row` (its key ranges are ignored).
  void Attend(const kernels::cuda::PagedLayer& kv, int layer, const kernels::cuda::AttentionRows& row,
              int group, float scale, kernels::cuda::Stream stream);

 private:
  CudaSparseDecode() = default;
  float* Bounds(int layer) const;

  AttentionOptions options_;
  int n_head_ = 0, n_kv_head_ = 0, head_dim_ = 0, block_shift_ = 0;
  int64_t pool_blocks_ = 0, n_ctx_ = 0;
  int splits_ = 8;           // pieces per part (sinks, window, selected)
  int64_t pages_ = 0;        // this step: pages chosen (quest) or candidate pages (retrieval)
  int64_t keys_ = 0;         // this step: keys chosen (retrieval)
  kernels::cuda::DeviceBuffer bounds_;      // [layer][block][kv_head][min | max][head_dim]
  kernels::cuda::DeviceBuffer pieces_;      // one row's pieces
  kernels::cuda::DeviceBuffer candidates_;  // [kv_head][n_ctx] positions, then [kv_head] counts
  kernels::cuda::DeviceBuffer selected_;    // likewise
  kernels::cuda::DeviceBuffer ranges_;      // sink begin/end, window begin/end, page begin/end
  kernels::cuda::PinnedBuffer host_ranges_;
};

}  // namespace engram::inference::internal
