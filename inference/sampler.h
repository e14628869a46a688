// Choosing the next token from logits: penalties, top-k, top-p, min-p, temperature, then a draw
// from the remaining distribution (or greedy argmax), in llama.cpp's default order.
//
//   SamplerOptions options;                 // llama.cpp's defaults
//   options.seed = 42;
//   Sampler sampler(options);               // options must pass ValidateSamplerOptions
//   for (int32_t t : prompt) sampler.Accept(t);
//   int32_t next = sampler.Sample(logits);  sampler.Accept(next);
//
// Draws are deterministic for a seed: the engine is std::mt19937_64 and the walk over the
// cumulative distribution is engram's own (standard-library distributions differ between
// implementations). The walk visits the kept tokens in id order, so the token drawn does not
// depend on which internal path (top-k heap, top-p bucket search, none) selected them.
//
// Cost per call: one pass over the logits for greedy and for top-k (a bounded heap that rejects
// most tokens with one comparison), plus a copy when a penalty applies. Without top-k, top-p
// needs the full softmax sum (one exp per token), sums it in buckets by logit on the way, and
// searches only the bucket where the mass crosses top_p, sorting nothing else. Buffers are reused
// between calls, so Sample() does not allocate once warm.
//
// Thread safety: a Sampler is not safe for concurrent use; give each sequence its own.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "common/status.h"

namespace engram::inference {

inline constexpr uint64_t kRandomSeed = std::numeric_limits<uint64_t>::max();

// Defaults are llama.cpp's (`llama-cli`). Filters that are off cost nothing.
struct SamplerOptions {
  float temperature = 0.8f;        // <= 0: greedy (argmax, ties -> lowest id); penalties apply
  int32_t top_k = 40;              // <= 0: off
  float top_p = 0.95f;             // (0, 1]; 1: off. Smallest prefix with mass >= top_p
  float min_p = 0.05f;             // [0, 1); 0: off. Drops p < min_p * p_max
  float repeat_penalty = 1.0f;     // > 0; 1: off. logit > 0 ? logit / r : logit * r
  float frequency_penalty = 0.0f;  // logit -= count * f (any finite value; 0: off)
  float presence_penalty = 0.0f;   // logit -= p if the token occurred (any finite value; 0: off)
  int32_t penalty_last_n = 64;     // recent tokens the penalties look at; 0: off, -1: all
  uint64_t seed = kRandomSeed;     // kRandomSeed: from std::random_device
};

// OK, or kInvalidArgument naming the field, its value and the allowed range, e.g.
// "sampler: top_p 1.5 is out of range; use a value in (0, 1]". NaN and infinities are rejected.
// A negative temperature is valid (greedy, as in llama.cpp).
Status ValidateSamplerOptions(const SamplerOptions& options);

class Sampler {
 public:
  // `options` must pass ValidateSamplerOptions (checked in debug builds).
  explicit Sampler(const SamplerOptions& options);

  // The next token for `logits` (one per vocabulary entry, in id order); `logits` is not
  // modified. Logits may be -inf (masked tokens) but not NaN. When no logit is finite after the
  // penalties, or one is +inf, the pick is greedy. Returns -1 only for empty `logits`.
  int32_t Sample(std::span<const float> logits);
  // Adds a token (prompt or generated) to the history the penalties look at. Ids outside the
  // vocabulary of a later Sample() are ignored there.
  void Accept(int32_t token);
  // Forgets the history and re-seeds (a fresh random seed for kRandomSeed).
  void Reset();

  const SamplerOptions& options() const { return options_; }

  // For tests: the distribution the last Sample() drew from, after every filter and the
  // temperature, as (id, probability) in id order; probabilities sum to 1. A greedy pick leaves
  // one entry with probability 1. Empty before the first Sample().
  struct TokenProbability {
    int32_t id;
    double p;
  };
  std::vector<TokenProbability> TEST_LastDistribution() const;

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float weight;  // exp(logit - max) before the draw; exp((logit - max) / T) after it
  };
  // `logits` after the penalties: `logits` itself when no penalty applies, else penalized_.
  std::span<const float> Penalized(std::span<const float> logits);
  int32_t PickGreedy(std::span<const float> logits);
  // candidates_ = the best k of `logits`, best first.
  void SelectTopK(std::span<const float> logits, size_t k);
  // The worst token of the smallest best-first prefix of candidates_ whose weight reaches
  // `target`, by quickselect (O(size) on average) rather than sorting; reorders candidates_.
  Candidate FindTopPCut(double target);

  SamplerOptions options_;
  std::mt19937_64 rng_;
  // The last penalty_last_n accepted tokens, as a ring when penalty_last_n > 0 (order does not
  // matter to the penalties), or all of them for -1.
  std::vector<int32_t> history_;
  size_t history_next_ = 0;  // where the ring overwrites next once full

  // Reused between calls so that sampling does not allocate once warm.
  std::vector<float> penalized_;       // a copy of the logits, when a penalty applies
  std::vector<Candidate> candidates_;  // after Sample(): the last distribution, id order
  double total_weight_ = 0.0;          // sum of candidates_[].weight
  std::vector<int32_t> counts_;        // per vocabulary id; all zero between calls
  std::vector<int32_t> touched_;       // ids with a non-zero count during Penalized()
};

}  // namespace engram::inference
