// The llama forward pass on a GPU, for LlamaContext (--device cuda). Internal to inference.
//
// The context keeps its host PagedKvCache as the owner of the cache's bookkeeping (sequences,
// block tables, forks, copy-on-write, truncation); CudaForward keeps the rows themselves in a
// device pool with the same physical block numbers, and the model's weights in device memory in
// their GGUF types (uploaded once per model, shared by every context of that model).
//
// A decode step (one row) is a captured CUDA graph: the step's inputs (token, cache slot, RoPE
// angles, key range, block table) are copied into fixed device buffers, then one graph launch
// runs every layer, then the logits come back.
//
// Built only with CUDA; without it CreateCudaForward says so (kUnavailable).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "inference/device_plan.h"
#include "inference/llama_context.h"
#include "inference/paged_kv_cache.h"

namespace engram::inference::internal {

// The rows of one forward pass: row t is token tokens[t] at position pos[t] of sequence
// seq[t]. `decode`: every row is the next token of its own sequence (DecodeBatch, or an Eval
// of one token); otherwise the rows are consecutive positions of one sequence (prefill).
struct ForwardRows {
  std::span<const int32_t> tokens;
  std::span<const SequenceId> seq;
  std::span<const int64_t> pos;
  bool decode = false;
};

class CudaForward {
 public:
  virtual ~CudaForward() = default;

  // Runs the rows (their cache slots reserved in `cache`), writing their keys and values to
  // the device pool. Logits of rows [first_logit, n) go to `logits` (host, (n - first_logit) ×
  // n_vocab floats); null: none.
  virtual Status Eval(const PagedKvCache& cache, const ForwardRows& rows, float* logits,
                      int64_t first_logit) = 0;
  // Mirrors the host cache's copy-on-write copies (PagedKvCache::Reserve's `copies`).
  virtual Status CopyBlocks(std::span<const PagedKvCache::BlockCopy> copies) = 0;
  // The sequence's rows: host -> device (after PagedKvCache::Load), device -> host (before
  // PagedKvCache::Save; key bounds refreshed).
  virtual Status Upload(const PagedKvCache& cache, SequenceId seq) = 0;
  virtual Status Download(PagedKvCache& cache, SequenceId seq) = 0;

  // "NVIDIA H200", and its peak memory bandwidth (bytes/s).
  virtual const std::string& device_name() const = 0;
  virtual double peak_bandwidth() const = 0;
  virtual const DeviceMemoryPlan& plan() const = 0;
};

// The forward pass on GPU options.gpu for `model` with a pool mirroring `cache`.
// kUnavailable: a build without CUDA, no GPU, or options the GPU path does not run (a sparse
// attention policy, an f32 cache, a weight type without a GPU kernel), saying which;
// kResourceExhausted: not enough device memory (DescribeShortfall).
Result<std::unique_ptr<CudaForward>> CreateCudaForward(std::shared_ptr<const LlamaModel> model,
                                                       const ContextOptions& options,
                                                       const PagedKvCache& cache);

}  // namespace engram::inference::internal
