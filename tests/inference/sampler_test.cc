#include "inference/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

namespace engram::inference {
namespace {

// Every filter off, plain softmax at temperature 1, fixed seed.
SamplerOptions Plain(uint64_t seed = 1) {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  o.frequency_penalty = 0.0f;
  o.presence_penalty = 0.0f;
  o.penalty_last_n = 64;
  o.seed = seed;
  return o;
}

std::vector<float> RandomLogits(size_t n, float scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(rng);
  return logits;
}

// Logits whose softmax is `probs`.
std::vector<float> LogitsFor(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

int32_t Argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::set<int32_t> KeptIds(const Sampler& s) {
  std::set<int32_t> ids;
  for (const auto& tp : s.TEST_LastDistribution()) ids.insert(tp.id);
  return ids;
}

// Draw frequencies over `draws` samples.
std::vector<double> Frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) freq[s.Sample(logits)] += 1.0 / draws;
  return freq;
}

std::vector<double> Softmax(const std::vector<double>& logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] - max);
  for (double& x : p) x /= sum;
  return p;
}

// The slow, obvious chain, written straight from llama.cpp's description: penalties over the
// last n accepted tokens, sort everything, top-k, softmax, top-p, min-p, temperature, softmax.
// Returns the probability of every id (0 for dropped ones).
std::vector<double> ReferenceDistribution(const std::vector<float>& raw,
                                          const std::vector<int32_t>& history,
                                          const SamplerOptions& o) {
  const size_t n = raw.size();
  std::vector<double> logits(raw.begin(), raw.end());
  std::vector<int32_t> window = history;
  if (o.penalty_last_n == 0) window.clear();
  if (o.penalty_last_n > 0 && window.size() > static_cast<size_t>(o.penalty_last_n)) {
    window.erase(window.begin(), window.end() - o.penalty_last_n);
  }
  std::map<int32_t, int> counts;
  for (int32_t t : window) ++counts[t];
  for (const auto& [t, c] : counts) {
    float l = raw[t];  // float arithmetic, as a float logit would be penalized
    l = l > 0.0f ? l / o.repeat_penalty : l * o.repeat_penalty;
    l -= static_cast<float>(c) * o.frequency_penalty + o.presence_penalty;
    logits[t] = l;
  }
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<double> out(n, 0.0);
  if (o.temperature <= 0.0f) {
    out[order[0]] = 1.0;
    return out;
  }
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < n) order.resize(o.top_k);
  std::vector<double> kept_logits;
  for (int32_t id : order) kept_logits.push_back(logits[id]);
  const std::vector<double> p = Softmax(kept_logits);
  size_t keep = order.size();
  if (o.top_p < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < order.size(); ++i) {
      mass += p[i];
      if (mass >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (o.min_p > 0.0f) {
    size_t i = 1;
    while (i < keep && p[i] >= o.min_p * p[0]) ++i;
    keep = i;
  }
  std::vector<double> scaled;
  for (size_t i = 0; i < keep; ++i) scaled.push_back(kept_logits[i] / o.temperature);
  const std::vector<double> q = Softmax(scaled);
  for (size_t i = 0; i < keep; ++i) out[order[i]] = q[i];
  return out;
}

// ---- validation ----------------------------------------------------------------------------

TEST(SamplerValidationTest, AcceptsDefaultsAndGreedyTemperatures) {
  EXPECT_TRUE(ValidateSamplerOptions(SamplerOptions{}).ok());
  for (float t : {0.0f, -1.0f, 1e-6f, 100.0f}) {
    SamplerOptions o;
    o.temperature = t;
    EXPECT_TRUE(ValidateSamplerOptions(o).ok()) << t;
  }
  SamplerOptions edges;
  edges.top_p = 1.0f;
  edges.min_p = 0.0f;
  edges.penalty_last_n = -1;
  edges.top_k = -5;
  edges.frequency_penalty = -2.0f;
  edges.presence_penalty = -2.0f;
  edges.repeat_penalty = 0.5f;
  EXPECT_TRUE(ValidateSamplerOptions(edges).ok());
}

TEST(SamplerValidationTest, MessageNamesFieldValueAndRange) {
  SamplerOptions o;
  o.top_p = 1.5f;
  Status s = ValidateSamplerOptions(o);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "sampler: top_p 1.5 is out of range; use a value in (0, 1]");
}

TEST(SamplerValidationTest, RejectsOutOfRangeAndNonFinite) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* field;
    void (*set)(SamplerOptions&, float);
    std::vector<float> bad;
  };
  const std::vector<Case> cases = {
      {"temperature", [](SamplerOptions& o, float v) { o.temperature = v; }, {nan, inf, -inf}},
      {"top_p", [](SamplerOptions& o, float v) { o.top_p = v; }, {0.0f, -0.1f, 1.0001f, nan}},
      {"min_p", [](SamplerOptions& o, float v) { o.min_p = v; }, {-0.01f, 1.0f, 2.0f, nan}},
      {"repeat_penalty",
       [](SamplerOptions& o, float v) { o.repeat_penalty = v; },
       {0.0f, -1.0f, nan, inf}},
      {"frequency_penalty",
       [](SamplerOptions& o, float v) { o.frequency_penalty = v; },
       {nan, inf, -inf}},
      {"presence_penalty",
       [](SamplerOptions& o, float v) { o.presence_penalty = v; },
       {nan, inf, -inf}},
      {"penalty_last_n",
       [](SamplerOptions& o, float v) { o.penalty_last_n = static_cast<int32_t>(v); },
       {-2.0f, -100.0f}},
  };
  for (const Case& c : cases) {
    for (float v : c.bad) {
      SamplerOptions o;
      c.set(o, v);
      Status s = ValidateSamplerOptions(o);
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field << " " << v;
      EXPECT_NE(s.message().find(std::string("sampler: ") + c.field + " "), std::string::npos)
          << s.message();
      EXPECT_NE(s.message().find("is out of range; use "), std::string::npos) << s.message();
    }
  }
}

// ---- greedy and determinism ----------------------------------------------------------------

TEST(SamplerTest, GreedyPicksArgmaxAndIsDeterministic) {
  const std::vector<float> logits = RandomLogits(1000, 2.0f, 7);
  for (float t : {0.0f, -1.0f}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      SamplerOptions o = Plain(seed);
      o.temperature = t;
      o.top_k = 40;
      o.top_p = 0.5f;
      o.min_p = 0.1f;
      Sampler s(o);
      for (int i = 0; i < 20; ++i) EXPECT_EQ(s.Sample(logits), Argmax(logits));
    }
  }
}

TEST(SamplerTest, GreedyTiesGoToLowestId) {
  SamplerOptions o = Plain();
  o.temperature = 0.0f;
  Sampler s(o);
  EXPECT_EQ(s.Sample(std::vector<float>{1.0f, 3.0f, 2.0f, 3.0f, 3.0f}), 1);
}

TEST(SamplerTest, SampleDoesNotChangeLogits) {
  std::vector<float> logits = RandomLogits(300, 1.0f, 3);
  const std::vector<float> copy = logits;
  SamplerOptions o = SamplerOptions{};
  o.seed = 5;
  o.repeat_penalty = 1.3f;
  o.frequency_penalty = 0.5f;
  Sampler s(o);
  for (int t : {1, 2, 3, 1}) s.Accept(t);
  for (int i = 0; i < 10; ++i) s.Sample(logits);
  EXPECT_EQ(logits, copy);
}

TEST(SamplerTest, SameSeedSameSequence) {
  const std::vector<float> logits = RandomLogits(5000, 1.0f, 11);
  SamplerOptions o;  // defaults: every filter on
  o.seed = 1234;
  Sampler a(o), b(o);
  for (int i = 0; i < 500; ++i) {
    const int32_t ta = a.Sample(logits), tb = b.Sample(logits);
    ASSERT_EQ(ta, tb) << "draw " << i;
    a.Accept(ta);
    b.Accept(tb);
  }
}

TEST(SamplerTest, DifferentSeedsGiveDifferentSequences) {
  const std::vector<float> logits(64, 0.0f);  // uniform: 1/64 per token
  Sampler a(Plain(1)), b(Plain(2));
  int same = 0;
  for (int i = 0; i < 1000; ++i) same += a.Sample(logits) == b.Sample(logits);
  // Independent uniform draws agree with probability 1/64: about 16 of 1000.
  EXPECT_LT(same, 60);
}

TEST(SamplerTest, ResetForgetsHistoryAndReplaysTheSeed) {
  const std::vector<float> logits = RandomLogits(100, 1.0f, 5);
  SamplerOptions o = Plain(99);
  o.repeat_penalty = 1.5f;
  Sampler s(o);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 50; ++i) {
    first.push_back(s.Sample(logits));
    s.Accept(first.back());
  }
  s.Reset();
  for (int i = 0; i < 50; ++i) {
    second.push_back(s.Sample(logits));
    s.Accept(second.back());
  }
  EXPECT_EQ(first, second);
}

// The draw walks the kept tokens in id order, so options that keep the same tokens through
// different internal paths (no selection, the top-k heap) draw the same tokens.
TEST(SamplerTest, EquivalentOptionsDrawTheSameTokens) {
  const std::vector<float> logits = RandomLogits(2000, 1.0f, 21);
  SamplerOptions unsorted = Plain(77);
  SamplerOptions top_k_all = unsorted;
  top_k_all.top_k = 2000;  // keeps everything, but not through the top-k path (k >= vocab)
  SamplerOptions top_k_sorted = unsorted;
  top_k_sorted.top_k = 1999;
  Sampler a(unsorted), b(top_k_all), c(top_k_sorted), d(unsorted);
  for (int i = 0; i < 300; ++i) {
    const int32_t ta = a.Sample(logits);
    EXPECT_EQ(ta, b.Sample(logits));
    // Dropping the worst token through top-k equals masking it out.
    std::vector<float> without_worst = logits;
    without_worst[std::min_element(logits.begin(), logits.end()) - logits.begin()] =
        -std::numeric_limits<float>::infinity();
    EXPECT_EQ(c.Sample(logits), d.Sample(without_worst));
  }
}

// ---- filters ---------------------------------------------------------------------------------

TEST(SamplerTest, TopK1IsGreedy) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = RandomLogits(500, 1.0f, seed);
    SamplerOptions o = Plain(seed);
    o.top_k = 1;
    o.temperature = 5.0f;
    Sampler s(o);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(s.Sample(logits), Argmax(logits));
  }
}

TEST(SamplerTest, TopKNeverReturnsTokenOutsideTheKBest) {
  const std::vector<float> logits = RandomLogits(1000, 1.0f, 13);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  for (int32_t k : {2, 10, 50}) {
    const std::set<int32_t> best(order.begin(), order.begin() + k);
    SamplerOptions o = Plain(k);
    o.top_k = k;
    o.temperature = 10.0f;  // flat, so the worst of the k still get drawn
    Sampler s(o);
    std::set<int32_t> drawn;
    for (int i = 0; i < 20 * k; ++i) drawn.insert(s.Sample(logits));
    for (int32_t t : drawn) EXPECT_TRUE(best.count(t)) << "k=" << k << " drew " << t;
    EXPECT_EQ(drawn.size(), static_cast<size_t>(k));
    EXPECT_EQ(KeptIds(s), best);
  }
}

TEST(SamplerTest, TopKTiesAtTheCutGoToLowerIds) {
  SamplerOptions o = Plain();
  o.top_k = 2;
  Sampler s(o);
  s.Sample(std::vector<float>{1.0f, 2.0f, 1.0f, 2.0f, 2.0f});
  EXPECT_EQ(KeptIds(s), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  // Probabilities 0.1, 0.5, 0.15, 0.25 (ids deliberately not in probability order).
  const std::vector<float> logits = LogitsFor({0.1, 0.5, 0.15, 0.25});
  struct Case {
    float p;
    std::set<int32_t> kept;
  };
  for (const Case& c :
       {Case{0.3f, {1}}, Case{0.7f, {1, 3}}, Case{0.8f, {1, 2, 3}}, Case{0.95f, {0, 1, 2, 3}}}) {
    SamplerOptions o = Plain(3);
    o.top_p = c.p;
    Sampler s(o);
    std::set<int32_t> drawn;
    for (int i = 0; i < 2000; ++i) drawn.insert(s.Sample(logits));
    EXPECT_EQ(drawn, c.kept) << "top_p " << c.p;
    EXPECT_EQ(KeptIds(s), c.kept) << "top_p " << c.p;
  }
  // Renormalized over the kept tokens: 0.5 / 0.75 and 0.25 / 0.75.
  SamplerOptions o = Plain();
  o.top_p = 0.7f;
  Sampler s(o);
  s.Sample(logits);
  const auto dist = s.TEST_LastDistribution();
  ASSERT_EQ(dist.size(), 2u);
  EXPECT_NEAR(dist[0].p, 2.0 / 3.0, 1e-6);
  EXPECT_NEAR(dist[1].p, 1.0 / 3.0, 1e-6);
}

TEST(SamplerTest, TopPTiesGoToLowerIds) {
  // 1000 equal probabilities: mass 0.2505 needs 251 tokens, and equal tokens rank by id.
  const std::vector<float> logits(1000, 0.5f);
  std::set<int32_t> want;
  for (int32_t i = 0; i <= 250; ++i) want.insert(i);
  for (int32_t top_k : {0, 999}) {  // the bucketed quickselect and the top-k walk
    SamplerOptions o = Plain();
    o.top_k = top_k;
    o.top_p = 0.2505f;
    Sampler s(o);
    s.Sample(logits);
    EXPECT_EQ(KeptIds(s), want) << "top_k " << top_k;
  }
}

TEST(SamplerTest, TopPAppliesToTheTopKSurvivors) {
  // After top-k = 2 the survivors are 0.5 and 0.25, i.e. 2/3 and 1/3: top_p 0.6 keeps one.
  const std::vector<float> logits = LogitsFor({0.1, 0.5, 0.15, 0.25});
  SamplerOptions o = Plain();
  o.top_k = 2;
  o.top_p = 0.6f;
  Sampler s(o);
  s.Sample(logits);
  EXPECT_EQ(KeptIds(s), (std::set<int32_t>{1}));
  o.top_p = 0.7f;
  Sampler t(o);
  t.Sample(logits);
  EXPECT_EQ(KeptIds(t), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfTheBest) {
  const std::vector<float> logits = LogitsFor({0.02, 0.4, 0.08, 0.3, 0.2});
  struct Case {
    float min_p;
    std::set<int32_t> kept;
  };
  // Bars: 0.1 * 0.4 = 0.04 drops 0.02; 0.3 * 0.4 = 0.12 keeps 0.4, 0.3, 0.2; 0.6 -> 0.24.
  for (const Case& c :
       {Case{0.1f, {1, 2, 3, 4}}, Case{0.3f, {1, 3, 4}}, Case{0.6f, {1, 3}}, Case{0.99f, {1}}}) {
    SamplerOptions o = Plain(4);
    o.min_p = c.min_p;
    Sampler s(o);
    std::set<int32_t> drawn;
    for (int i = 0; i < 3000; ++i) drawn.insert(s.Sample(logits));
    EXPECT_EQ(drawn, c.kept) << "min_p " << c.min_p;
    EXPECT_EQ(KeptIds(s), c.kept) << "min_p " << c.min_p;
  }
}

TEST(SamplerTest, MaskedTokensAreNeverDrawn) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {minus_inf, 0.0f, minus_inf, 0.0f, minus_inf};
  for (int32_t top_k : {0, 2, 4}) {
    SamplerOptions o = Plain(8);
    o.top_k = top_k;
    o.top_p = 0.99f;
    Sampler s(o);
    for (int i = 0; i < 500; ++i) {
      const int32_t t = s.Sample(logits);
      EXPECT_TRUE(t == 1 || t == 3) << t;
    }
  }
  // Nothing finite: the pick falls back to greedy (lowest id among equals).
  Sampler s(Plain());
  EXPECT_EQ(s.Sample(std::vector<float>(4, minus_inf)), 0);
}

// ---- temperature -----------------------------------------------------------------------------

// 20000 draws: a frequency's standard deviation is at most sqrt(0.25 / 20000) = 0.0035, so 0.015
// is over 4 sigma; the seed is fixed, so the test is deterministic anyway.
TEST(SamplerTest, FrequenciesMatchSoftmaxAtTemperature) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f};
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplerOptions o = Plain(42);
    o.temperature = t;
    Sampler s(o);
    const std::vector<double> freq = Frequencies(s, logits, 20000);
    std::vector<double> scaled;
    for (float l : logits) scaled.push_back(l / t);
    const std::vector<double> p = Softmax(scaled);
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_NEAR(freq[i], p[i], 0.015) << "temperature " << t << " token " << i;
    }
  }
}

TEST(SamplerTest, LowTemperatureConcentratesHighTemperatureFlattens) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f};
  SamplerOptions cold = Plain(1);
  cold.temperature = 0.01f;  // others at exp(-100) or less
  Sampler c(cold);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(c.Sample(logits), 1);

  SamplerOptions hot = Plain(2);
  hot.temperature = 1000.0f;  // probabilities within 0.1% of uniform
  Sampler h(hot);
  for (double f : Frequencies(h, logits, 20000)) EXPECT_NEAR(f, 0.25, 0.015);

  // Tiny positive temperatures still keep the best token (no 0 * inf).
  SamplerOptions tiny = Plain(3);
  tiny.temperature = std::numeric_limits<float>::denorm_min();
  Sampler z(tiny);
  EXPECT_EQ(z.Sample(logits), 1);
}

// ---- penalties -------------------------------------------------------------------------------

// The logits the last draw saw, recovered from its probabilities (temperature 1, no filters)
// up to the constant fixed by an unpenalized token `anchor`.
std::vector<double> RecoveredLogits(const Sampler& s, const std::vector<float>& raw, int anchor) {
  const auto dist = s.TEST_LastDistribution();
  std::vector<double> out(raw.size());
  double log_anchor = 0.0;
  for (const auto& tp : dist) {
    if (tp.id == anchor) log_anchor = std::log(tp.p);
  }
  for (const auto& tp : dist) out[tp.id] = std::log(tp.p) - log_anchor + raw[anchor];
  return out;
}

TEST(SamplerTest, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 1.0f, -0.5f, 0.0f};
  SamplerOptions o = Plain();
  o.repeat_penalty = 2.0f;
  Sampler s(o);
  for (int t : {0, 1, 1, 5}) s.Accept(t);
  s.Sample(logits);
  const std::vector<double> got = RecoveredLogits(s, logits, 3);
  const std::vector<double> want = {1.0, -2.0, 0.5, 1.0, -0.5, 0.0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesSubtractByCount) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  SamplerOptions o = Plain();
  o.frequency_penalty = 0.25f;
  o.presence_penalty = 0.5f;
  Sampler s(o);
  for (int t : {0, 0, 0, 2}) s.Accept(t);
  s.Sample(logits);
  const std::vector<double> got = RecoveredLogits(s, logits, 1);
  // Token 0: 3 * 0.25 + 0.5; token 2: 0.25 + 0.5; tokens 1 and 3 untouched.
  const std::vector<double> want = {1.0 - 1.25, 1.0, 1.0 - 0.75, 1.0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

TEST(SamplerTest, PenaltiesChangeGreedyChoice) {
  const std::vector<float> logits = {3.0f, 2.9f, 0.0f};
  SamplerOptions o = Plain();
  o.temperature = 0.0f;
  o.repeat_penalty = 1.1f;
  Sampler s(o);
  EXPECT_EQ(s.Sample(logits), 0);
  s.Accept(0);
  EXPECT_EQ(s.Sample(logits), 1);  // 3.0 / 1.1 = 2.73 < 2.9
}

TEST(SamplerTest, PenaltiesLookOnlyAtTheLastNTokens) {
  const std::vector<float> logits(8, 1.0f);
  const std::vector<int32_t> history = {5, 5, 6, 1, 2, 3, 1, 2, 3, 4};  // wraps a ring of 3
  for (int32_t last_n : {-1, 0, 1, 3, 7, 10, 64}) {
    SamplerOptions o = Plain();
    o.frequency_penalty = 1.0f;
    o.penalty_last_n = last_n;
    Sampler s(o);
    for (int32_t t : history) s.Accept(t);
    s.Sample(logits);
    const std::vector<double> got = RecoveredLogits(s, logits, 0);  // token 0 never occurs
    std::vector<double> want(8, 1.0);
    const size_t n = last_n < 0 ? history.size() : std::min<size_t>(last_n, history.size());
    for (size_t i = history.size() - n; i < history.size(); ++i) want[history[i]] -= 1.0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5) << "penalty_last_n " << last_n << " token " << i;
    }
  }
}

TEST(SamplerTest, HistoryIdsOutsideTheVocabularyAreIgnored) {
  SamplerOptions o = Plain();
  o.presence_penalty = 1.0f;
  Sampler s(o);
  for (int32_t t : {-3, 4, 1000}) s.Accept(t);
  s.Sample(std::vector<float>{0.0f, 0.0f});
  const auto dist = s.TEST_LastDistribution();
  ASSERT_EQ(dist.size(), 2u);
  EXPECT_NEAR(dist[0].p, 0.5, 1e-9);
}

// ---- against the obvious implementation ------------------------------------------------------

// Every path against ReferenceDistribution: no selection, the top-k heap and its top-p walk,
// top-p's buckets and its quickselect over more than 64 tokens (vocab 1000 and 5000 with flat
// logits), min-p in both. 1e-5 covers float exp against double exp.
TEST(SamplerTest, MatchesReferenceChain) {
  int checked = 0;
  for (size_t vocab : {1u, 7u, 1000u, 5000u}) {
    for (float scale : {0.3f, 3.0f}) {
      const std::vector<float> logits = RandomLogits(vocab, scale, vocab * 10 + (scale > 1));
      std::vector<int32_t> history;
      std::mt19937 rng(static_cast<uint32_t>(vocab));
      for (int i = 0; i < 40; ++i) history.push_back(static_cast<int32_t>(rng() % vocab));
      for (int32_t top_k : {0, 1, 5, 300, static_cast<int32_t>(vocab)}) {
        for (float top_p : {1.0f, 0.5f, 0.9f}) {
          for (float min_p : {0.0f, 0.05f, 0.3f}) {
            for (float temperature : {0.0f, 0.7f, 1.5f}) {
              SamplerOptions o = Plain(checked);
              o.top_k = top_k;
              o.top_p = top_p;
              o.min_p = min_p;
              o.temperature = temperature;
              o.repeat_penalty = 1.3f;
              o.frequency_penalty = 0.1f;
              o.presence_penalty = 0.2f;
              o.penalty_last_n = 16;
              Sampler s(o);
              for (int32_t t : history) s.Accept(t);
              const int32_t drawn = s.Sample(logits);
              const std::vector<double> want = ReferenceDistribution(logits, history, o);
              std::vector<double> got(vocab, 0.0);
              for (const auto& tp : s.TEST_LastDistribution()) got[tp.id] = tp.p;
              SCOPED_TRACE(testing::Message()
                           << "vocab " << vocab << " scale " << scale << " top_k " << top_k
                           << " top_p " << top_p << " min_p " << min_p << " temp " << temperature);
              EXPECT_GT(want[drawn], 0.0);
              for (size_t i = 0; i < vocab; ++i) {
                ASSERT_EQ(got[i] > 0.0, want[i] > 0.0) << "token " << i;
                ASSERT_NEAR(got[i], want[i], 1e-5) << "token " << i;
              }
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 4 * 2 * 5 * 3 * 3 * 3);
}

}  // namespace
}  // namespace engram::inference
