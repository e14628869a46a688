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
#include <utility>
#include <span>
#include <string>

#include "common/result.h"
#include "inference/device_plan.h"
#include "inference/llama_context.h"
#include "inference/paged_kv_cache.h"

namespace engram::inference::internal {

// The CPU's side of a decode step whose cache lives in host memory (--kv-offload, the
// retrieval policy): the GPU attends the sinks and the recent window, which stay resident in
// device memory, while the CPU probes its key indexes and attends the retrieved keys; the two
// pieces merge on the device. Implemented by LlamaContext over its host cache.
class OffloadHost {
 public:
  virtual ~OffloadHost() = default;
  // Fixes layer `layer`'s exact ranges for a step at `length` positions (the new token
  // included): [0, first) and [second, length), which the GPU attends.
  virtual std::pair<int64_t, int64_t> BeginLayer(int layer, int64_t length) = 0;
  // The retrieved keys' attention for the layer's n_head queries (q: n_head × head_dim floats,
  // RoPE applied): per query head j, head_dim + 2 floats at pieces + j · (head_dim + 2):
  // [max score, Σ exp(score − max), output normalised] (an empty piece: −inf, 0, zeros).
  virtual void AttendRetrieved(int layer, const float* q, float* pieces) = 0;
  // The step's key and value rows of `layer` (n_kv_head × head_dim floats each), for the host
  // cache.
  virtual void StoreRow(int layer, const float* k, const float* v) = 0;
};

// Where an offloaded decode step spent its time, summed over steps.
struct OffloadStats {
  int64_t steps = 0;
  double seconds = 0.0;       // whole steps
  double cpu_seconds = 0.0;   // in OffloadHost::AttendRetrieved (while the GPU runs)
  double wait_seconds = 0.0;  // the host waiting for the GPU (queries, logits)
};

// The rows of one forward pass: row t is token tokens[t] at position pos[t] of sequence
// seq[t]. `decode`: every row is the next token of its own sequence (DecodeBatch, or an Eval
// of one token); otherwise the rows are consecutive positions of one sequence (prefill).
struct ForwardRows {
  std::span<const int32_t> tokens;
  std::span<const SequenceId> seq;
  std::span<const int64_t> pos;
  bool decode = false;
  OffloadHost* offload = nullptr;  // set for the decode steps of an offloaded context
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
  // The decode attention policy: full, window, quest or retrieval, all on the device
  // (inference/internal/cuda_sparse.h).
  virtual Status SetAttention(const AttentionOptions& attention) = 0;

  // "NVIDIA H200", and its peak memory bandwidth (bytes/s).
  virtual const std::string& device_name() const = 0;
  virtual double peak_bandwidth() const = 0;
  virtual const DeviceMemoryPlan& plan() const = 0;
  virtual OffloadStats offload_stats() const = 0;
};

// The forward pass on GPU options.gpu for `model` with a pool mirroring `cache`.
// kUnavailable: a build without CUDA, no GPU, or options the GPU path does not run (an f32
// cache, a weight type without a GPU kernel), saying which;
// kResourceExhausted: not enough device memory (DescribeShortfall).
Result<std::unique_ptr<CudaForward>> CreateCudaForward(std::shared_ptr<const LlamaModel> model,
                                                       const ContextOptions& options,
                                                       const PagedKvCache& cache);

}  // namespace engram::inference::internal
