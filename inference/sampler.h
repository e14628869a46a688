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
// implementations).
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "common/status.h"

namespace engram::inference {

inline constexpr uint64_t kRandomSeed = std::numeric_limits<uint64_t>::max();

struct SamplerOptions {
  float temperature = 0.8f;        // <= 0: greedy (argmax, ties -> lowest id); penalties apply
  int32_t top_k = 40;              // <= 0: off
  float top_p = 0.95f;             // (0, 1]; 1: off
  float min_p = 0.05f;             // [0, 1); 0: off
  float repeat_penalty = 1.0f;     // > 0; logit > 0 ? logit / r : logit * r on recent tokens
  float frequency_penalty = 0.0f;  // logit -= count * f
  float presence_penalty = 0.0f;   // logit -= p if the token occurred
  int32_t penalty_last_n = 64;     // recent tokens the penalties look at; 0: off, -1: all
  uint64_t seed = kRandomSeed;     // kRandomSeed: from std::random_device
};

// OK, or kInvalidArgument naming the field, its value and the allowed range.
Status ValidateSamplerOptions(const SamplerOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);

  // The next token for these logits (one per vocabulary entry); `logits` is not modified.
  int32_t Sample(std::span<const float> logits);
  // Adds a token (prompt or generated) to the history the penalties look at.
  void Accept(int32_t token);
  // Forgets the history and re-seeds.
  void Reset();

  const SamplerOptions& options() const { return options_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  void ApplyPenalties();

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;
  std::vector<Candidate> candidates_;  // reused between calls
  std::vector<float> probs_;
};

}  // namespace engram::inference
