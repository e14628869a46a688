#include "inference/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace engram::inference {
namespace {

Status OutOfRange(const char* field, double value, const char* range) {
  return Status::InvalidArgument(std::string("sampler: ") + field + " " + std::to_string(value) +
                                 " is out of range; use a value in " + range);
}

uint64_t SeedFrom(uint64_t seed) {
  if (seed != kRandomSeed) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

Status ValidateSamplerOptions(const SamplerOptions& o) {
  if (!std::isfinite(o.temperature)) return OutOfRange("temperature", o.temperature, "(-inf, inf)");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) return OutOfRange("top_p", o.top_p, "(0, 1]");
  if (!(o.min_p >= 0.0f && o.min_p < 1.0f)) return OutOfRange("min_p", o.min_p, "[0, 1)");
  if (!(o.repeat_penalty > 0.0f) || !std::isfinite(o.repeat_penalty)) {
    return OutOfRange("repeat_penalty", o.repeat_penalty, "(0, inf); 1 = off");
  }
  if (!std::isfinite(o.frequency_penalty)) {
    return OutOfRange("frequency_penalty", o.frequency_penalty, "(-inf, inf)");
  }
  if (!std::isfinite(o.presence_penalty)) {
    return OutOfRange("presence_penalty", o.presence_penalty, "(-inf, inf)");
  }
  if (o.penalty_last_n < -1) {
    return OutOfRange("penalty_last_n", o.penalty_last_n, "[-1, inf); -1 = whole history");
  }
  return Status::OK();
}

Sampler::Sampler(const SamplerOptions& options) : options_(options) { Reset(); }

void Sampler::Reset() {
  history_.clear();
  rng_.seed(SeedFrom(options_.seed));
}

void Sampler::Accept(int32_t token) {
  history_.push_back(token);
  // Keep only what the penalties can look at (all of it for -1).
  const int32_t n = options_.penalty_last_n;
  if (n >= 0) {
    while (history_.size() > static_cast<size_t>(n)) history_.pop_front();
  }
}

void Sampler::ApplyPenalties() {
  if (history_.empty() || options_.penalty_last_n == 0) return;
  if (options_.repeat_penalty == 1.0f && options_.frequency_penalty == 0.0f &&
      options_.presence_penalty == 0.0f) {
    return;
  }
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : history_) ++counts[t];
  for (const auto& [token, count] : counts) {
    if (token < 0 || static_cast<size_t>(token) >= candidates_.size()) continue;
    float& logit = candidates_[token].logit;  // candidates are still in id order here
    logit = logit > 0.0f ? logit / options_.repeat_penalty : logit * options_.repeat_penalty;
    logit -= static_cast<float>(count) * options_.frequency_penalty +
             static_cast<float>(count > 0) * options_.presence_penalty;
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  const size_t n = logits.size();
  candidates_.resize(n);
  for (size_t i = 0; i < n; ++i) candidates_[i] = {static_cast<int32_t>(i), logits[i]};
  ApplyPenalties();
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (options_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->id;
  }
  // Top-k: the k best, sorted. Without top-k the whole vocabulary is sorted (top-p needs order).
  size_t kept = n;
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < n) {
    kept = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + kept, candidates_.end(),
                      by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  // Probabilities of the kept candidates (softmax of the raw logits, as llama.cpp's top-p and
  // min-p see them before temperature).
  probs_.resize(kept);
  const float max = candidates_[0].logit;
  double sum = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    probs_[i] = std::exp(candidates_[i].logit - max);
    sum += probs_[i];
  }
  // Top-p: the smallest prefix whose mass reaches p.
  if (options_.top_p < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < kept; ++i) {
      mass += probs_[i] / sum;
      if (mass >= options_.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  // Min-p: drop tokens whose probability is below min_p times the best one's.
  if (options_.min_p > 0.0f) {
    size_t i = 1;
    while (i < kept && probs_[i] >= options_.min_p * probs_[0]) ++i;
    kept = i;
  }
  // Temperature, then a draw.
  double total = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    probs_[i] = std::exp((candidates_[i].logit - max) / options_.temperature);
    total += probs_[i];
  }
  // 53 random bits -> a uniform double in [0, 1).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    cumulative += probs_[i];
    if (u < cumulative) return candidates_[i].id;
  }
  return candidates_[kept - 1].id;
}

}  // namespace engram::inference
