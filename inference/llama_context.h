// Evaluation state for one sequence of a LlamaModel: the KV cache, the scratch buffers and the
// threads. Feed tokens, read logits.
//
//   Result<std::unique_ptr<LlamaContext>> ctx = LlamaContext::Create(model, {.n_ctx = 4096});
//   Status s = (*ctx)->Eval(prompt_tokens);            // batched prefill
//   std::span<const float> logits = (*ctx)->logits();  // n_vocab floats for the last token
//   s = (*ctx)->Eval({&next, 1});                       // one decode step
//
// Each Eval appends its tokens at position() and grows the cache; Rewind(n) forgets everything
// from position n on (to retry, or to reuse a shared prompt prefix).
//
// The cache is paged (inference/paged_kv_cache.h) and may hold several sequences: Fork() starts
// a sequence that shares the current tokens' cache blocks (copy-on-write), Switch() makes
// another sequence current, so one long prefill can serve several continuations.
//
// Decode steps (one token per Eval) attend what the attention policy chooses
// (inference/attention_policy.h); prefill is always full attention.
//
//   (*ctx)->SetAttention({.kind = AttentionKind::kRetrieval, .budget = 0.05});
//
// A KV retention policy (inference/kv_retention.h; SnapKV and H2O in compress/) instead evicts
// keys for good: SetRetention.
//
// Thread safety: a context is used by one thread at a time; create one per concurrent sequence
// (they may share the model).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include "common/compute_team.h"
#include "common/result.h"
#include "inference/attention_policy.h"
#include "inference/device_plan.h"
#include "inference/kv_retention.h"
#include "inference/paged_kv_cache.h"
#include "inference/llama_model.h"

namespace engram::inference {

struct ContextOptions {
  int64_t n_ctx = 0;       // positions the cache holds; 0: the model's training context
  int n_threads = 0;       // threads, the caller included; 0: one per hardware thread
  int n_ubatch = 512;      // tokens evaluated together in prefill (bounds scratch memory)
  TensorType kv_type = TensorType::kF16;  // kF16 (llama.cpp's default) or kF32
  int kv_block_size = 16;                 // positions per cache block (a power of two)
  int64_t kv_pool_positions = 0;          // cache pool over all sequences; 0: 2 * n_ctx
  AttentionOptions attention;             // the decode attention policy
  // Where the forward pass runs (inference/device_plan.h). On the GPU the cache rows live in
  // device memory and the decode policies run there too (inference/internal/cuda_sparse.h);
  // KV retention policies, CompareAttention and an f32 cache run on the CPU only (kUnavailable
  // on the GPU; auto picks the CPU for an f32 cache).
  Device device = Device::kCpu;
  int gpu = 0;  // which GPU (CUDA device index)
  // GPU with the retrieval policy: the cache and its key indexes stay in host memory, only the
  // sinks and the recent window are resident on the GPU, and each decode step's attention runs
  // on both (RetrievalAttention's co-execution), so contexts larger than device memory decode.
  // Prefill (Evals of several tokens) and batched decode then run on the CPU.
  bool kv_offload = false;
};

// Time spent in decode steps (Evals of one token) since the last ResetDecodeStats.
struct DecodeStats {
  int64_t steps = 0;
  double seconds = 0.0;            // whole steps
  double attention_seconds = 0.0;  // attention, key selection and index upkeep included
  double keys_attended = 0.0;      // summed over steps, layers and KV heads
  // The same two for the layers the attention policy governs: every layer but sliding-window
  // ones (Gemma 3's local layers attend their window under every policy).
  double policy_attention_seconds = 0.0;
  double policy_keys_attended = 0.0;
  double index_build_seconds = 0.0;  // key indexes of the current sequence, summed over heads
  // --kv-offload: time in the CPU's share of attention and waiting for the GPU.
  double offload_cpu_seconds = 0.0;
  double offload_wait_seconds = 0.0;
  size_t index_bytes = 0;            // key indexes of the current sequence
  // K and V bytes of the current sequence's positions (every layer and KV head), and those a
  // retention policy keeps (the rest it evicted; without one, all). Evicted rows stay
  // allocated: kv_bytes_kept is what a compacting cache would hold. Rows sliding-window layers
  // let go of (their memory returned) count in neither.
  size_t kv_bytes = 0;
  size_t kv_bytes_kept = 0;
};

// Sparse decode attention measured against full attention at the same step (for evals; costs a
// full attention per step): averaged over layers, query heads and steps.
struct AttentionComparison {
  double mass_recall_sum = 0.0;  // share of the full softmax mass on the attended keys
  double output_rel_err_sum = 0.0;  // ||out - out_full|| / ||out_full||
  int64_t count = 0;
  std::vector<double> layer_mass_recall_sum;  // per layer, over query heads and steps
  double seconds = 0.0;  // spent measuring (not in DecodeStats)
};

namespace internal {
class CudaForward;
class SparseAttention;
struct PrefillQueries;
}  // namespace internal

// One row of a batched decode step: the next token of one sequence.
struct BatchEntry {
  SequenceId seq = 0;
  int32_t token = 0;
};

enum class LogitsMode {
  kLast,  // logits of the last token only
  kAll,   // logits of every evaluated token (n_tokens × n_vocab)
};

class LlamaContext {
 public:
  static Result<std::unique_ptr<LlamaContext>> Create(std::shared_ptr<const LlamaModel> model,
                                                      const ContextOptions& options);
  ~LlamaContext();

  // Evaluates `tokens` at positions [position(), position() + size). kOutOfRange when they do
  // not fit in n_ctx; kInvalidArgument for a token id outside the vocabulary (nothing is
  // evaluated then).
  Status Eval(std::span<const int32_t> tokens, LogitsMode mode = LogitsMode::kLast);

  // One decode step for several sequences at once (continuous batching): each entry's token is
  // evaluated at the end of its own sequence, all in one forward pass, so the weights are read
  // once for every sequence. logits() then holds entries.size() × n_vocab floats, in entry
  // order. Every entry attends its whole sequence (full attention; the sparse policies apply to
  // Eval). At most n_ubatch entries, each sequence once. kInvalidArgument for an unknown or
  // repeated sequence or a token outside the vocabulary, kOutOfRange when a sequence is at
  // n_ctx, kResourceExhausted when the pool has no free block (nothing is evaluated then).
  Status DecodeBatch(std::span<const BatchEntry> entries);

  // Logits of the last Eval: n_vocab floats (kLast) or tokens × n_vocab (kAll).
  std::span<const float> logits() const { return logits_; }

  int64_t position() const { return cache_->length(sequence_); }
  int64_t n_ctx() const { return options_.n_ctx; }
  // Forgets positions >= `position`. On a model with sliding-window layers an Eval of many
  // tokens lets go of those layers' rows that it wrote itself and that fall out of every later
  // window (their memory returns to the OS: at 32k Gemma 3 keeps about 1/6 of the rows), so a
  // position inside such an Eval's range, more than a window before its end, can no longer be
  // rewound to: CanRewind says. Positions where an Eval began or ended, 0, and everything
  // after the last long Eval always can (decode steps never let go of rows). Rewinding where it
  // cannot forgets everything (position() becomes 0) with a warning.
  void Rewind(int64_t position);
  bool CanRewind(int64_t position) const;

  const LlamaModel& model() const { return *model_; }
  const PagedKvCache& kv_cache() const { return *cache_; }
  // Tests only: to overwrite rows (of a sequence whose blocks are not shared).
  PagedKvCache& TEST_kv_cache() { return *cache_; }
  int n_threads() const { return static_cast<int>(team_.size()); }
  // kCpu or kCuda: where this context runs (auto resolved at Create).
  Device device() const { return options_.device; }
  // The GPU's name and peak memory bandwidth (bytes/s); empty and 0 on the CPU.
  std::string device_name() const;
  double device_peak_bandwidth() const;

  // Sequences. Fork: a new sequence holding the current one's tokens (sharing their cache
  // blocks) and a copy of its built key indexes, if any; the current sequence stays current. Switch: make `seq` current. Free: drop a
  // sequence that is not current. kInvalidArgument for unknown ids; kResourceExhausted when the
  // cache pool is full.
  SequenceId sequence() const { return sequence_; }
  // A new empty sequence (not made current). kResourceExhausted past the sequence limit.
  Result<SequenceId> NewSequence() { return cache_->NewSequence(); }
  // Positions of any sequence (position() is the current one's).
  int64_t length(SequenceId seq) const { return cache_->length(seq); }
  Result<SequenceId> Fork();
  Status Switch(SequenceId seq);
  Status Free(SequenceId seq);

  // The decode attention policy of the current sequence (key indexes are rebuilt for it).
  // kInvalidArgument for options out of range.
  Status SetAttention(const AttentionOptions& attention);
  const AttentionOptions& attention() const { return options_.attention; }
  // The KV retention policy (inference/kv_retention.h); null: none, decode attends what the
  // attention policy chooses. Each sequence gets its own copy of `policy`, started at its first
  // decode step after this call (a sequence's earlier evictions are dropped). Keeps prefill
  // queries from then on (query_samples of the attention options, and the last 64 positions).
  void SetRetention(std::unique_ptr<KvRetention> policy);
  const KvRetention* retention_policy() const { return retention_policy_.get(); }
  // The current sequence's retention state (null when it has not decoded under the policy).
  const KvRetention* retention_state() const;

  // Builds the current sequence's key indexes now (retrieval), instead of in the next decode
  // step.
  void PrepareAttention();

  DecodeStats decode_stats() const;
  void ResetDecodeStats() { stats_ = {}; }
  // While set, every sparse decode step is measured against full attention into `comparison`.
  void CompareAttention(AttentionComparison* comparison) { comparison_ = comparison; }

  // Writes / reads the current sequence's cache (positions, keys, values) to / from a file that
  // names this model. Load replaces the current sequence. Errors as PagedKvCache::Save / Load.
  //
  // Under the retrieval policy the key indexes go with the cache, so a loaded document decodes
  // without rebuilding them (seconds at 8k positions): SaveCache builds the current sequence's
  // indexes if it has none yet (as PrepareAttention; the sequence keeps them) and writes them to
  // `<path>.index` (docs/formats/key_index.md), atomically, after the cache file. The sidecar is
  // bound to the cache file's content (its SHA-256), the model, and the policy's index
  // parameters (index kind, sinks, window, candidate_factor, index_batch, query_samples; not the
  // budget). Under another policy SaveCache removes a `<path>.index` left by an earlier save. An
  // error writing the sidecar is returned; the cache file is complete all the same.
  //
  // LoadCache restores the indexes from `<path>.index` when the current policy is retrieval and
  // the sidecar matches the loaded cache and the policy; then attention_index_restored() is
  // true. A missing, damaged, truncated, stale or mismatched sidecar is never trusted: it is
  // ignored (with a warning unless missing) and the indexes are built at the first decode step
  // as for any sequence, from a sample of the keys (a loaded cache has no prefill queries). Set
  // the policy before LoadCache: a later SetAttention that changes index parameters rebuilds.
  // Forks of the loaded sequence copy its indexes (Fork copies any built indexes).
  Status SaveCache(const std::string& path);
  Status LoadCache(const std::string& path);
  // Whether the last successful LoadCache restored the key indexes from the sidecar, and the
  // seconds it spent reading them (0 when none was read).
  bool attention_index_restored() const { return index_restored_; }
  double attention_index_load_seconds() const { return index_load_seconds_; }
  // What a cache file of this model must name: architecture, shape and file size.
  std::string ModelFingerprint() const;

 private:
  struct Scratch;
  class OffloadAdapter;
  LlamaContext(std::shared_ptr<const LlamaModel> model, const ContextOptions& options);
  // Runs the network over one batch at positions [pos0, pos0 + n). Writes logits to `logits`
  // (null: none) for every token (all_logits) or the last one.
  Status EvalBatch(std::span<const int32_t> tokens, int64_t pos0, float* logits, bool all_logits);
  // The network over rows placed in scratch (row_seq, row_pos): logits for rows
  // [first_logit, n) into `logits` (null: none). `batch`: rows of different sequences, one
  // decode token each.
  Status EvalRows(std::span<const int32_t> tokens, float* logits, int64_t first_logit, bool batch);
  // Reserves positions [0, positions) of `seq`, mirroring copy-on-write copies on the GPU.
  Status Reserve(SequenceId seq, int64_t positions);
  // Picks the GPU for options_.device cuda or auto (auto: the CPU when the GPU cannot).
  Status ChooseDevice();
  // kUnavailable when the GPU runs this context and a CPU-only feature is on.
  Status CheckGpuFeatures() const;
  // --kv-offload: the retrieved keys' attention of one decode step and layer on the CPU, for
  // the GPU to merge (internal::OffloadHost::AttendRetrieved).
  void AttendRetrieved(int layer, const float* q, float* pieces);
  bool offloaded() const { return cuda_ != nullptr && options_.kv_offload; }
  void EmbedAndPlaceRows(std::span<const int32_t> tokens);  // embeddings and RoPE angles
  // Lets go of sliding-window layers' rows from `eval_start` on that no query at or after
  // `next_position` attends.
  void DiscardOutOfWindowRows(int64_t eval_start, int64_t next_position);
  void EvalLayer(int layer, int64_t n, bool batch);
  // Rotates n rows of `heads` heads (row t at v + t * stride) by the rows' angles; `local`:
  // the sliding-window layers' angles.
  void Rope(float* v, int64_t stride, int heads, int64_t n, bool local);
  void NormRows(const std::vector<float>& weight, int64_t first, int64_t count);
  // RMSNorm of `count` rows of `width` floats in place, times `weight`.
  void NormInPlace(const std::vector<float>& weight, float* rows, int64_t count, int64_t width);
  // The first key position a query at position length - 1 of `layer` attends: 0, or the start
  // of a sliding-window layer's window.
  int64_t FirstKey(int layer, int64_t length) const;
  void BatchDecodeAttention(int layer, int64_t n);
  // Prepares `input` (n rows of k floats) for products with `weight_type` weights; reuses the
  // previous preparation of the same input.
  const uint8_t* Prepare(TensorType weight_type, const float* input, int64_t n, int64_t k);
  // out_i = input · W_iᵀ for up to three matrices sharing the input, in one parallel loop.
  struct Product {
    const WeightMatrix* w;
    float* out;
  };
  void Linear(std::initializer_list<Product> products, const float* input, int64_t n);
  // Attention of one layer (AttendLayer), its time and keys also counted as the policy's when
  // the layer is not a sliding-window one.
  void Attention(int layer, int64_t pos0, int64_t n);
  void AttendLayer(int layer, int64_t pos0, int64_t n);
  void FullDecodeAttention(int layer, int64_t begin, int64_t length);  // keys [begin, length)
  void SparseDecodeAttention(int layer, int64_t length);
  void Compare(int layer, int64_t length);
  internal::SparseAttention* sparse();  // the current sequence's state; null for full
  // The current sequence's retention state, started (Start called) on first use; null without
  // a retention policy.
  KvRetention* retention();
  void StartRetention(KvRetention& state);
  // Hands the attention of this step's attended keys (s.plans) to the retention state.
  void ObserveRetention(KvRetention& state, int layer, int64_t length);
  internal::PrefillQueries& queries();  // the current sequence's
  void KeepPrefillQueries(int layer, int64_t pos0, int64_t n);

  std::shared_ptr<const LlamaModel> model_;
  ContextOptions options_;
  ComputeTeam team_;
  std::unique_ptr<PagedKvCache> cache_;
  SequenceId sequence_ = 0;
  std::vector<int> local_layers_;  // sliding-window layers (gemma3)
  std::map<SequenceId, std::unique_ptr<internal::SparseAttention>> sparse_;
  std::unique_ptr<KvRetention> retention_policy_;  // fresh; copied for each sequence
  std::map<SequenceId, std::unique_ptr<KvRetention>> retention_;
  // Per sequence: prefill queries kept for attention-aware key indexes.
  std::map<SequenceId, std::unique_ptr<internal::PrefillQueries>> queries_;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<internal::CudaForward> cuda_;  // set when the forward pass runs on a GPU
  std::unique_ptr<OffloadAdapter> offload_;      // --kv-offload: the CPU's side of a step
  bool offload_stale_ = false;  // the host rows changed since the GPU's resident copy
  std::vector<float> logits_;
  DecodeStats stats_;
  AttentionComparison* comparison_ = nullptr;
  bool index_restored_ = false;
  double index_load_seconds_ = 0.0;
};

}  // namespace engram::inference
