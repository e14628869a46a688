// KV retention: the hook through which a policy evicts keys (with their values) from a
// sequence's cache for good. The attention policies (inference/attention_policy.h) only skip
// keys for one step and keep the whole cache; a retention policy decides what the cache keeps.
// The policies themselves (SnapKV, H2O) live in compress/kv_retention.h.
//
//   ctx->SetRetention(*compress::MakeKvRetention({.kind = compress::RetentionKind::kH2O}));
//
// While a retention policy is set, every decode step (an Eval of one token) attends, per layer
// and KV head, the positions [0, ExactRanges(length).first) and [ExactRanges(length).second,
// length) (sinks and recent window) and the middle keys the policy still keeps; the policy's
// calls, per (layer, KV head):
//   Start    once per sequence, before its first decode step under the policy, with the
//            attention the prefill queries named by observation() paid each key;
//   Keep     every decode step, before attending: the middle keys kept (the policy evicts here;
//            an evicted key is never returned again);
//   Observe  every decode step, after attending, when observes_decode(): the attention each
//            attended key got.
// The attention policy is not used meanwhile. Prefill and DecodeBatch attend every position.
//
// Memory: evicted rows stay allocated in the paged cache (a block holds every layer and KV
// head of its positions, and heads evict different positions, so whole blocks rarely empty).
// evicted() says how many rows a compacting cache would free.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace engram::inference {

class KvRetention {
 public:
  // The prefill queries whose attention Start receives, summed: the `last` prefill positions
  // (at most internal::PrefillQueries::kRecent = 64), and/or every sampled one
  // (ContextOptions::attention.query_samples of them, spread evenly) weighted by the sampling
  // stride, an estimate of the sum over every prefill query.
  struct Observation {
    int last = 0;
    bool sampled = false;
  };

  virtual ~KvRetention() = default;

  // "h2o budget 0.05, sinks 4, window 240" and the like.
  virtual std::string Describe() const = 0;
  virtual Observation observation() const = 0;
  virtual bool observes_decode() const = 0;
  // The exact ranges of a decode step over `length` positions (the new token's included):
  // [0, first) and [second, length), first <= second <= length.
  virtual std::pair<int64_t, int64_t> ExactRanges(int64_t length) const = 0;

  // Thread safety: Start runs serially, for every (layer, kv_head) before any Keep; Keep and
  // Observe run concurrently for different KV heads of one layer, never for the same
  // (layer, kv_head) at once.
  //
  // `attention[j]`: the attention key j got from the observation's queries, summed over them
  // and the GQA group's query heads; attention.size() is the sequence's length before its
  // first decode step.
  virtual void Start(int layer, int kv_head, std::span<const float> attention) = 0;
  // Replaces `middle` with the kept keys of [ExactRanges(length).first,
  // ExactRanges(length).second), ascending, for a decode step over `length` positions. Lengths
  // grow by one per call.
  virtual void Keep(int layer, int kv_head, int64_t length, std::vector<int32_t>* middle) = 0;
  // The attention the step's attended keys got (`positions` ascending; each weight summed over
  // the group's query heads). Only when observes_decode().
  virtual void Observe(int layer, int kv_head, std::span<const int32_t> positions,
                       std::span<const float> attention) = 0;

  // Keys of (layer, kv_head) evicted so far.
  virtual int64_t evicted(int layer, int kv_head) const = 0;
  // A deep copy (for a forked sequence; a fresh policy's copy is fresh).
  virtual std::unique_ptr<KvRetention> Clone() const = 0;
};

}  // namespace engram::inference
