#include "inference/sampler.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

namespace engram::inference {
namespace {

// Below this many candidates top-p's quickselect sorts and walks instead.
constexpr size_t kTopPSortBelow = 64;

// Without top-k, top-p first sums the weights in buckets of (best logit - logit), 1/8 nat wide,
// the last one open-ended; only the bucket where the mass crosses top_p is then searched.
constexpr int kTopPBucketsPerNat = 8;
constexpr size_t kTopPBuckets = 20 * kTopPBucketsPerNat;

size_t TopPBucket(float best, float logit) {
  const float scaled = (best - logit) * kTopPBucketsPerNat;  // monotone in logit
  return scaled < static_cast<float>(kTopPBuckets - 1) ? static_cast<size_t>(scaled)
                                                       : kTopPBuckets - 1;
}

std::string FormatValue(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

Status Rejected(std::string_view field, double value, std::string_view use) {
  return Status::InvalidArgument("sampler: " + std::string(field) + " " + FormatValue(value) +
                                 " is out of range; use " + std::string(use));
}

// Best first; ties go to the lower id so that every ordering here is a strict total order and
// the result does not depend on the standard library's sort.
bool Better(float logit_a, int32_t id_a, float logit_b, int32_t id_b) {
  return logit_a > logit_b || (logit_a == logit_b && id_a < id_b);
}

// Greedy and top-k pass over the whole vocabulary once per token. Scalar loops there are bound
// by a chain of dependent compares (several times slower over 128k logits), so these helpers use
// the GCC/Clang vector extension: 4 floats, the SSE2 / NEON baseline, no build flags needed.
#if defined(__GNUC__)  // GCC and Clang
#define ENGRAM_SAMPLER_VECTORS 1
typedef float Float4 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));

Float4 Load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

bool AnyLane(Int4 mask) {
  uint64_t halves[2];
  std::memcpy(halves, &mask, sizeof(halves));
  return (halves[0] | halves[1]) != 0;
}
#endif

// The largest value of `x` (not empty); NaNs are skipped unless x[0] is one.
float MaxOf(std::span<const float> x) {
  const float* p = x.data();
  const size_t n = x.size();
  float max = p[0];
  size_t i = 0;
#ifdef ENGRAM_SAMPLER_VECTORS
  // Four independent accumulators, so that the compares do not wait on each other.
  Float4 m0 = Float4{} + max, m1 = m0, m2 = m0, m3 = m0;
  for (; i + 16 <= n; i += 16) {
    const Float4 a = Load4(p + i), b = Load4(p + i + 4);
    const Float4 c = Load4(p + i + 8), d = Load4(p + i + 12);
    m0 = a > m0 ? a : m0;
    m1 = b > m1 ? b : m1;
    m2 = c > m2 ? c : m2;
    m3 = d > m3 ? d : m3;
  }
  m0 = m1 > m0 ? m1 : m0;
  m2 = m3 > m2 ? m3 : m2;
  m0 = m2 > m0 ? m2 : m0;
  for (int j = 0; j < 4; ++j) max = std::max(max, m0[j]);
#endif
  for (; i < n; ++i) max = std::max(max, p[i]);
  return max;
}

// The first i with x[i] == value, or x.size().
size_t FindFirst(std::span<const float> x, float value) {
  const float* p = x.data();
  const size_t n = x.size();
  size_t i = 0;
#ifdef ENGRAM_SAMPLER_VECTORS
  for (; i + 8 <= n; i += 8) {
    if (AnyLane((Load4(p + i) == value) | (Load4(p + i + 4) == value))) break;
  }
#endif
  for (; i < n; ++i) {
    if (p[i] == value) return i;
  }
  return n;
}

// Whether any of p[0, 16) is greater than `bar`.
bool AnyAbove16(const float* p, float bar) {
#ifdef ENGRAM_SAMPLER_VECTORS
  return AnyLane((Load4(p) > bar) | (Load4(p + 4) > bar) | (Load4(p + 8) > bar) |
                 (Load4(p + 12) > bar));
#else
  bool any = false;
  for (int j = 0; j < 16; ++j) any |= p[j] > bar;
  return any;
#endif
}

uint64_t SeedFrom(uint64_t seed) {
  if (seed != kRandomSeed) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

Status ValidateSamplerOptions(const SamplerOptions& o) {
  if (!std::isfinite(o.temperature)) {
    return Rejected("temperature", o.temperature, "a finite value (<= 0: greedy)");
  }
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) {
    return Rejected("top_p", o.top_p, "a value in (0, 1]");
  }
  if (!(o.min_p >= 0.0f && o.min_p < 1.0f)) {
    return Rejected("min_p", o.min_p, "a value in [0, 1)");
  }
  if (!(o.repeat_penalty > 0.0f) || !std::isfinite(o.repeat_penalty)) {
    return Rejected("repeat_penalty", o.repeat_penalty, "a finite value > 0 (1: off)");
  }
  if (!std::isfinite(o.frequency_penalty)) {
    return Rejected("frequency_penalty", o.frequency_penalty, "a finite value (0: off)");
  }
  if (!std::isfinite(o.presence_penalty)) {
    return Rejected("presence_penalty", o.presence_penalty, "a finite value (0: off)");
  }
  if (o.penalty_last_n < -1) {
    return Rejected("penalty_last_n", o.penalty_last_n,
                    "a value >= -1 (-1: whole history, 0: off)");
  }
  return Status::OK();
}

Sampler::Sampler(const SamplerOptions& options) : options_(options) {
  assert(ValidateSamplerOptions(options).ok());
  Reset();
}

void Sampler::Reset() {
  history_.clear();
  history_next_ = 0;
  if (options_.penalty_last_n > 0) history_.reserve(static_cast<size_t>(options_.penalty_last_n));
  candidates_.clear();
  total_weight_ = 0.0;
  rng_.seed(SeedFrom(options_.seed));
}

void Sampler::Accept(int32_t token) {
  const int32_t n = options_.penalty_last_n;
  if (n == 0) return;
  if (n < 0 || history_.size() < static_cast<size_t>(n)) {
    history_.push_back(token);
    return;
  }
  history_[history_next_] = token;
  history_next_ = (history_next_ + 1) % static_cast<size_t>(n);
}

std::span<const float> Sampler::Penalized(std::span<const float> logits) {
  const float repeat = options_.repeat_penalty;
  const float frequency = options_.frequency_penalty;
  const float presence = options_.presence_penalty;
  if (history_.empty() || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) {
    return logits;
  }
  const size_t n = logits.size();
  penalized_.assign(logits.begin(), logits.end());
  if (counts_.size() < n) counts_.resize(n, 0);
  for (int32_t t : history_) {
    if (t < 0 || static_cast<size_t>(t) >= n) continue;
    if (counts_[t]++ == 0) touched_.push_back(t);
  }
  for (int32_t t : touched_) {
    float& logit = penalized_[t];
    logit = logit > 0.0f ? logit / repeat : logit * repeat;
    logit -= static_cast<float>(counts_[t]) * frequency + presence;
    counts_[t] = 0;  // keeps counts_ all zero between calls
  }
  touched_.clear();
  return penalized_;
}

int32_t Sampler::PickGreedy(std::span<const float> logits) {
  // The first occurrence of the maximum: ties go to the lowest id.
  size_t best = FindFirst(logits, MaxOf(logits));
  if (best == logits.size()) best = 0;  // NaN logits, which the contract excludes
  candidates_.assign(1, {static_cast<int32_t>(best), logits[best], 1.0f});
  total_weight_ = 1.0;
  return static_cast<int32_t>(best);
}

void Sampler::SelectTopK(std::span<const float> logits, size_t k) {
  // A heap of the best k seen so far with the worst on top. Ids arrive in increasing order, so
  // a logit equal to the worst one ranks below it; blocks of 16 where no logit beats the worst
  // (almost all of them, once the heap has filled) are passed over with one vector test.
  auto better = [](const Candidate& a, const Candidate& b) {
    return Better(a.logit, a.id, b.logit, b.id);
  };
  candidates_.resize(k);
  for (size_t i = 0; i < k; ++i) candidates_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  std::make_heap(candidates_.begin(), candidates_.end(), better);
  float worst = candidates_.front().logit;
  auto offer = [&](size_t i) {
    if (!(logits[i] > worst)) return;
    std::pop_heap(candidates_.begin(), candidates_.end(), better);
    candidates_.back() = {static_cast<int32_t>(i), logits[i], 0.0f};
    std::push_heap(candidates_.begin(), candidates_.end(), better);
    worst = candidates_.front().logit;
  };
  const size_t n = logits.size();
  size_t i = k;
  for (; i + 16 <= n; i += 16) {
    if (!AnyAbove16(logits.data() + i, worst)) continue;
    for (size_t j = 0; j < 16; ++j) offer(i + j);
  }
  for (; i < n; ++i) offer(i);
  std::sort_heap(candidates_.begin(), candidates_.end(), better);
}

Sampler::Candidate Sampler::FindTopPCut(double target) {
  // Quickselect on weight: split the undecided range at its median; if the better half holds
  // the missing weight the cut is in it, else keep that half and look in the other.
  auto better = [](const Candidate& a, const Candidate& b) {
    return Better(a.logit, a.id, b.logit, b.id);
  };
  const auto begin = candidates_.begin();
  size_t lo = 0, hi = candidates_.size();  // [0, lo): the best lo, kept; the cut is in [lo, hi)
  double need = target;                    // weight still missing after [0, lo)
  while (hi - lo > kTopPSortBelow) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(begin + lo, begin + mid, begin + hi, better);
    double mass = 0.0;
    for (size_t i = lo; i <= mid; ++i) mass += candidates_[i].weight;
    if (mass >= need) {
      hi = mid + 1;
    } else {
      need -= mass;
      lo = mid + 1;
    }
  }
  std::sort(begin + lo, begin + hi, better);
  double mass = 0.0;
  for (size_t i = lo; i < hi; ++i) {
    mass += candidates_[i].weight;
    if (mass >= need) return candidates_[i];
  }
  return candidates_[hi - 1];  // rounding left the target unreached: keep everything
}

int32_t Sampler::Sample(std::span<const float> raw_logits) {
  candidates_.clear();
  total_weight_ = 0.0;
  const size_t n = raw_logits.size();
  assert(n > 0);
  if (n == 0) return -1;
  const std::span<const float> logits = Penalized(raw_logits);
  // Top-k, top-p and min-p always keep the best token, so greedy is the argmax after penalties.
  if (options_.temperature <= 0.0f) return PickGreedy(logits);

  const bool top_p = options_.top_p < 1.0f;
  const bool min_p = options_.min_p > 0.0f;
  const bool top_k = options_.top_k > 0 && static_cast<size_t>(options_.top_k) < n;
  float best;  // the best logit
  if (top_k) {
    SelectTopK(logits, static_cast<size_t>(options_.top_k));  // best first
    best = candidates_.front().logit;
  } else {
    best = MaxOf(logits);
  }
  // All masked (-inf) or a +inf logit: no softmax exists; the argmax is the only sensible pick.
  if (!std::isfinite(best)) return PickGreedy(logits);

  // Min-p before top-p: both keep a best-first prefix and min-p's bar depends only on the best
  // token, so the order does not change the result, and min-p first leaves top-p less to do.
  // p >= min_p * p_max is compared in logits: no exp needed. Masked (-inf) tokens go too.
  const float bar = min_p ? best + std::log(options_.min_p) : std::numeric_limits<float>::lowest();
  // Top-p normalizes over everything top-k kept (softmax of the penalized logits, before
  // temperature), as llama.cpp's does: `sum` covers tokens min-p drops too.
  double sum = 0.0;
  if (top_k) {
    if (top_p) {
      for (Candidate& c : candidates_) sum += c.weight = std::exp(c.logit - best);
    }
    while (candidates_.back().logit < bar) candidates_.pop_back();  // the best stays
    if (top_p) {
      const double target = static_cast<double>(options_.top_p) * sum;
      double mass = 0.0;
      size_t keep = 0;
      while (keep < candidates_.size() && mass < target) mass += candidates_[keep++].weight;
      candidates_.resize(keep);
    }
    // Back to id order, so that which path chose the tokens does not change the draw.
    std::sort(candidates_.begin(), candidates_.end(),
              [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  } else {
    candidates_.reserve(n);
    std::array<double, kTopPBuckets> bucket_mass{};
    for (size_t i = 0; i < n; ++i) {
      const float l = logits[i];
      float weight = 0.0f;
      if (top_p) sum += weight = std::exp(l - best);
      if (l >= bar) {
        candidates_.push_back({static_cast<int32_t>(i), l, weight});
        if (top_p) bucket_mass[TopPBucket(best, l)] += weight;
      }
    }
    if (top_p) {
      // Buckets before the crossing one rank above it and are kept whole; the cut is found among
      // the crossing bucket's tokens alone.
      double need = static_cast<double>(options_.top_p) * sum;
      size_t crossing = 0;
      while (crossing < kTopPBuckets && bucket_mass[crossing] < need) {
        need -= bucket_mass[crossing++];
      }
      if (crossing < kTopPBuckets) {  // else rounding left the target unreached: keep all
        const auto in_crossing = std::partition(
            candidates_.begin(), candidates_.end(),
            [&](const Candidate& c) { return TopPBucket(best, c.logit) == crossing; });
        candidates_.erase(in_crossing, candidates_.end());
        const Candidate cut = FindTopPCut(need);
        // Gather the kept tokens (those ranking no lower than the cut) again, in id order.
        candidates_.clear();
        for (size_t i = 0; i < n; ++i) {
          const float l = logits[i];
          if (l > cut.logit || (l == cut.logit && static_cast<int32_t>(i) <= cut.id)) {
            candidates_.push_back({static_cast<int32_t>(i), l, 0.0f});
          }
        }
      }
    }
  }
  // Temperature, then the draw. Dividing (not multiplying by 1/T) keeps the best token's weight
  // at exp(0) = 1 even for a temperature so small that 1/T overflows.
  const float temperature = options_.temperature;
  double total = 0.0;
  for (Candidate& c : candidates_) total += c.weight = std::exp((c.logit - best) / temperature);
  total_weight_ = total;
  // 53 random bits -> a uniform double in [0, 1).
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (candidates_[i].weight <= 0.0f) continue;  // never draw a token of probability 0
    cumulative += candidates_[i].weight;
    last_positive = i;
    if (u < cumulative) return candidates_[i].id;
  }
  return candidates_[last_positive].id;  // u rounded up to the total
}

std::vector<Sampler::TokenProbability> Sampler::TEST_LastDistribution() const {
  std::vector<TokenProbability> out;
  out.reserve(candidates_.size());
  for (const Candidate& c : candidates_) out.push_back({c.id, c.weight / total_weight_});
  return out;
}

}  // namespace engram::inference
