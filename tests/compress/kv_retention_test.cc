// KV retention policies (compress/kv_retention.h): the policies alone on hand-made attention
// (H2O evicts the least accumulated, SnapKV pools and keeps the best), and through
// LlamaContext on tiny random GQA models (head_dim 64): budget 1.0 is full attention, evicted
// keys are never attended again, sinks and window stay, memory kept adds up; bad names and
// options are refused.
#include "compress/kv_retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "inference/key_selection.h"
#include "inference/llama_context.h"
#include "kernels/quant.h"
#include "tests/inference/tiny_llama_model.h"

namespace engram::compress {
namespace {

using inference::AttentionKind;
using inference::AttentionOptions;
using inference::ContextOptions;
using inference::KvRetention;
using inference::LlamaContext;
using Logits = std::vector<float>;

std::unique_ptr<KvRetention> Make(const KvRetentionOptions& o) {
  Result<std::unique_ptr<KvRetention>> p = MakeKvRetention(o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

std::vector<int32_t> Middle(KvRetention& p, int64_t length) {
  std::vector<int32_t> middle;
  p.Keep(0, 0, length, &middle);
  return middle;
}

TEST(KvRetention, ParsesNamesAndRefusesBadOptions) {
  EXPECT_EQ(*ParseRetentionKind("snapkv"), RetentionKind::kSnapKv);
  EXPECT_EQ(*ParseRetentionKind("h2o"), RetentionKind::kH2O);
  for (const char* bad : {"", "H2O", "quest", "snapkv:max"}) {
    EXPECT_EQ(ParseRetentionKind(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  const std::vector<KvRetentionOptions> bad = {
      {.budget = 0.0},       {.budget = 1.5},          {.budget = std::nan("")},
      {.sinks = -1},         {.window = 0},            {.observation = 0},
      {.observation = 65},   {.pool_kernel = 4},       {.pool_kernel = 0},
      {.pool_kernel = 65}};
  for (const KvRetentionOptions& o : bad) {
    EXPECT_EQ(MakeKvRetention(o).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(Make({.kind = RetentionKind::kH2O})->Describe(), "h2o budget 0.05, sinks 4, window 240");
  EXPECT_EQ(Make({})->Describe(),
            "snapkv budget 0.05, sinks 4, window 240, observation 32, max pool 7");
}

TEST(KvRetention, H2OEvictsTheLeastAccumulated) {
  // sinks [0, 2), window of 2, budget 0.2: at length 20, 4 of the middle [2, 18) stay.
  auto p = Make({.kind = RetentionKind::kH2O, .budget = 0.2, .sinks = 2, .window = 2});
  std::vector<float> prefill(19, 0.0f);
  for (int j = 0; j < 19; ++j) prefill[j] = static_cast<float>((j * 7) % 19);  // distinct
  p->Start(0, 0, prefill);
  EXPECT_EQ(p->ExactRanges(20), (std::pair<int64_t, int64_t>{2, 18}));
  std::vector<int32_t> want;
  for (int32_t j = 2; j < 18; ++j) want.push_back(j);
  std::vector<float> scores;
  for (int32_t j : want) scores.push_back(prefill[j]);
  inference::KeepBest(&want, scores, 4);
  EXPECT_EQ(Middle(*p, 20), want);
  EXPECT_EQ(p->evicted(0, 0), 12);
  // A decode step pays key `light` (the weakest kept) enough attention to outlive the rest,
  // and key 18 joins the middle with what it got: the least accumulated key goes.
  const int32_t light = *std::min_element(want.begin(), want.end(), [&](int32_t a, int32_t b) {
    return prefill[a] < prefill[b];
  });
  std::vector<int32_t> attended = want;
  attended.push_back(18);
  std::vector<float> got(attended.size(), 0.0f);
  got[std::find(attended.begin(), attended.end(), light) - attended.begin()] = 100.0f;
  p->Observe(0, 0, attended, got);
  // Length 21: the middle is [2, 19), budget round(4.2) = 4 of 5 kept.
  std::vector<int32_t> middle = Middle(*p, 21);
  EXPECT_EQ(middle.size(), 4u);
  EXPECT_TRUE(std::find(middle.begin(), middle.end(), light) != middle.end());
  std::vector<int32_t> candidates = want;
  candidates.push_back(18);
  auto accumulated = [&](int32_t j) { return prefill[j] + (j == light ? 100.0f : 0.0f); };
  const int32_t lowest = *std::min_element(
      candidates.begin(), candidates.end(),
      [&](int32_t a, int32_t b) { return accumulated(a) < accumulated(b); });
  EXPECT_TRUE(std::find(middle.begin(), middle.end(), lowest) == middle.end());
  EXPECT_EQ(p->evicted(0, 0), 13);
  // An evicted key never comes back, however much later steps would pay it.
  const std::vector<int32_t> again = {lowest};
  const std::vector<float> lots = {1e6f};
  p->Observe(0, 0, again, lots);
  middle = Middle(*p, 22);
  EXPECT_TRUE(std::find(middle.begin(), middle.end(), lowest) == middle.end());
}

TEST(KvRetention, SnapKvPoolsCompressesThePromptOnceAndKeepsWhatFollows) {
  // One strong key at 20: max pooling of width 7 lifts 17..23, which a budget of 7 keeps.
  auto p = Make({.budget = 0.07, .sinks = 1, .window = 4, .pool_kernel = 7});
  std::vector<float> prefill(99, 0.01f);
  prefill[20] = 1.0f;
  for (int j = 0; j < 99; ++j) prefill[j] += 1e-4f * static_cast<float>(j % 3);  // no ties
  p->Start(0, 0, prefill);
  const std::vector<int32_t> expected = {17, 18, 19, 20, 21, 22, 23};
  EXPECT_EQ(Middle(*p, 100), expected);  // budget round(0.07 * 100) = 7
  EXPECT_EQ(p->evicted(0, 0), (96 - 1) - 7);
  // Tokens decoded afterwards leave the window into the middle and are all kept.
  std::vector<int32_t> later = expected;
  for (int32_t j = 96; j < 106; ++j) later.push_back(j);
  EXPECT_EQ(Middle(*p, 110), later);
  EXPECT_EQ(p->evicted(0, 0), (96 - 1) - 7);
  // Average pooling works too; a copy carries the state.
  auto avg = Make({.budget = 0.07, .sinks = 1, .window = 4, .pool = RetentionPool::kAvg});
  avg->Start(0, 0, prefill);
  std::unique_ptr<KvRetention> copy = avg->Clone();
  EXPECT_EQ(Middle(*copy, 100), expected);
}

// A context on a tiny GQA model (6 query heads over 2 KV heads), sinks 4, window 16. Prefill
// keeps its queries: the retention policy is set first.
struct Fixture {
  inference::testing::LoadedTinyLlama l;
  std::vector<int32_t> prompt, next;

  Fixture() {
    inference::testing::TinyLlamaSpec spec;
    spec.n_layer = 2;
    spec.n_embd = 384;
    spec.n_head = 6;
    spec.n_kv_head = 2;
    spec.n_ff = 256;
    spec.n_vocab = 64;
    spec.seed = 11;
    l = inference::testing::LoadTinyLlama(spec);
    std::mt19937 rng(5);
    std::uniform_int_distribution<int32_t> pick(0, 63);
    for (int i = 0; i < 400; ++i) prompt.push_back(pick(rng));
    for (int i = 0; i < 16; ++i) next.push_back(pick(rng));
  }

  std::unique_ptr<LlamaContext> Prefilled(const KvRetentionOptions* retention) const {
    ContextOptions options;
    options.n_ctx = 1024;
    options.n_threads = 2;
    options.kv_block_size = 16;
    Result<std::unique_ptr<LlamaContext>> ctx = LlamaContext::Create(l.model, options);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    if (retention != nullptr) (*ctx)->SetRetention(Make(*retention));
    EXPECT_TRUE((*ctx)->Eval(prompt).ok());
    return std::move(*ctx);
  }

  // Decodes next[from, to), the logits of each step.
  static std::vector<Logits> Decode(LlamaContext& ctx, const std::vector<int32_t>& tokens,
                                    size_t from, size_t to) {
    std::vector<Logits> out;
    for (size_t i = from; i < to; ++i) {
      EXPECT_TRUE(ctx.Eval({&tokens[i], 1}).ok());
      out.emplace_back(ctx.logits().begin(), ctx.logits().end());
    }
    return out;
  }
};

KvRetentionOptions Policy(RetentionKind kind, double budget) {
  return {.kind = kind, .budget = budget, .sinks = 4, .window = 16};
}

TEST(KvRetention, FullBudgetIsFullAttention) {
  const Fixture f;
  auto reference_ctx = f.Prefilled(nullptr);
  const std::vector<Logits> reference = Fixture::Decode(*reference_ctx, f.next, 0, f.next.size());
  double scale = 0.0;
  for (const Logits& r : reference) {
    for (float x : r) scale = std::max(scale, static_cast<double>(std::fabs(x)));
  }
  for (RetentionKind kind : {RetentionKind::kSnapKv, RetentionKind::kH2O}) {
    SCOPED_TRACE(std::string(RetentionKindName(kind)));
    const KvRetentionOptions o = Policy(kind, 1.0);
    auto ctx = f.Prefilled(&o);
    const std::vector<Logits> got = Fixture::Decode(*ctx, f.next, 0, f.next.size());
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
      for (size_t j = 0; j < got[i].size(); ++j) {
        worst = std::max(worst, static_cast<double>(std::fabs(got[i][j] - reference[i][j])));
      }
    }
    // The kept keys are attended in three pieces merged with log-sum-exp, the same keys as full
    // attention summed in another order: float rounding only (as the sparse policies at budget
    // 1.0, tests/inference/sparse_attention_test.cc).
    EXPECT_LT(worst / scale, 5e-5) << "max |logit diff| " << worst;
    const inference::DecodeStats stats = ctx->decode_stats();
    EXPECT_EQ(stats.kv_bytes_kept, stats.kv_bytes);
    EXPECT_EQ(stats.kv_bytes, ctx->kv_cache().bytes_per_position() * ctx->position());
  }
}

// Overwrites K and V of (layer, kv_head, pos) in the current sequence with large noise.
void Spoil(LlamaContext& ctx, int layer, int kv_head, int64_t pos, std::mt19937& rng) {
  inference::PagedKvCache& cache = ctx.TEST_kv_cache();
  const int dim = cache.shape().head_dim, heads = cache.shape().n_kv_head;
  std::vector<float> k(static_cast<size_t>(heads) * dim), v(k.size());
  for (int h = 0; h < heads; ++h) {
    kernels::DequantizeRow(cache.type(), cache.Keys(ctx.sequence(), layer, h).Row(pos),
                           k.data() + h * dim, dim);
    kernels::DequantizeRow(cache.type(), cache.Values(ctx.sequence(), layer, h).Row(pos),
                           v.data() + h * dim, dim);
  }
  std::normal_distribution<float> noise(0.0f, 30.0f);
  for (int d = 0; d < dim; ++d) {
    k[kv_head * dim + d] = noise(rng);
    v[kv_head * dim + d] = noise(rng);
  }
  cache.Store(ctx.sequence(), layer, pos, k.data(), v.data());
}

// The middle the next decode step will attend for (layer, kv_head), from a copy of the state.
std::vector<int32_t> NextMiddle(const LlamaContext& ctx, int layer, int kv_head) {
  std::unique_ptr<KvRetention> copy = ctx.retention_state()->Clone();
  std::vector<int32_t> middle;
  copy->Keep(layer, kv_head, ctx.position() + 1, &middle);
  return middle;
}

TEST(KvRetention, EvictedKeysAreNeverAttendedAgain) {
  const Fixture f;
  for (RetentionKind kind : {RetentionKind::kSnapKv, RetentionKind::kH2O}) {
    SCOPED_TRACE(std::string(RetentionKindName(kind)));
    const KvRetentionOptions o = Policy(kind, 0.05);
    auto clean = f.Prefilled(&o);
    auto spoiled = f.Prefilled(&o);
    auto control = f.Prefilled(&o);
    const size_t half = f.next.size() / 2;
    Fixture::Decode(*clean, f.next, 0, half);
    Fixture::Decode(*spoiled, f.next, 0, half);
    Fixture::Decode(*control, f.next, 0, half);
    // Spoil every middle key the next step will not attend (evicted by then, for good); the
    // control spoils one it will.
    std::mt19937 rng(3);
    const auto [sink_end, recent_begin] =
        spoiled->retention_state()->ExactRanges(spoiled->position() + 1);
    int64_t spoilt = 0;
    for (int layer = 0; layer < 2; ++layer) {
      for (int h = 0; h < 2; ++h) {
        const std::vector<int32_t> middle = NextMiddle(*spoiled, layer, h);
        ASSERT_FALSE(middle.empty());
        for (int64_t p = sink_end; p < recent_begin; ++p) {
          if (!std::binary_search(middle.begin(), middle.end(), static_cast<int32_t>(p))) {
            Spoil(*spoiled, layer, h, p, rng);
            ++spoilt;
          }
        }
        Spoil(*control, layer, h, middle.front(), rng);
      }
    }
    ASSERT_GT(spoilt, 1000);
    const std::vector<Logits> a = Fixture::Decode(*clean, f.next, half, f.next.size());
    const std::vector<Logits> b = Fixture::Decode(*spoiled, f.next, half, f.next.size());
    const std::vector<Logits> c = Fixture::Decode(*control, f.next, half, f.next.size());
    EXPECT_EQ(a, b);  // bit for bit: the spoilt rows are never read
    EXPECT_NE(a, c);
  }
}

TEST(KvRetention, SinksAndWindowStayAndMemoryKeptAddsUp) {
  const Fixture f;
  for (RetentionKind kind : {RetentionKind::kSnapKv, RetentionKind::kH2O}) {
    SCOPED_TRACE(std::string(RetentionKindName(kind)));
    const KvRetentionOptions o = Policy(kind, 0.05);
    auto ctx = f.Prefilled(&o);
    Fixture::Decode(*ctx, f.next, 0, f.next.size());
    const int64_t length = ctx->position();
    const KvRetention& state = *ctx->retention_state();
    EXPECT_EQ(state.ExactRanges(length + 1),
              (std::pair<int64_t, int64_t>{o.sinks, length + 1 - o.window}));
    // What the last step attended, per (layer, KV head): sinks + window + the kept middle.
    const inference::DecodeStats stats = ctx->decode_stats();
    const size_t head_position_bytes = ctx->kv_cache().bytes_per_position() / (2 * 2);
    size_t kept_bytes = 0;
    for (int layer = 0; layer < 2; ++layer) {
      for (int h = 0; h < 2; ++h) {
        const int64_t middle = static_cast<int64_t>(NextMiddle(*ctx, layer, h).size());
        // The middle at the last step: [sinks, length - window); what it kept plus the key
        // that joins at the next step (kept until that step decides).
        int64_t kept_middle = middle;
        if (kind == RetentionKind::kSnapKv) {
          // The prompt's middle compressed to round(0.05 * 401) = 20, then every later key.
          EXPECT_EQ(middle, 20 + (length + 1 - o.window) - (401 - o.window));
          kept_middle -= 1;  // the key joining at the next step is not in the middle yet
        } else {
          EXPECT_EQ(middle, inference::MiddleBudget(0.05, length + 1));
          kept_middle = inference::MiddleBudget(0.05, length);
        }
        kept_bytes += head_position_bytes * static_cast<size_t>(o.sinks + o.window + kept_middle);
        EXPECT_EQ(state.evicted(layer, h), length - (o.sinks + o.window + kept_middle));
      }
    }
    EXPECT_EQ(stats.kv_bytes, head_position_bytes * 4 * static_cast<size_t>(length));
    EXPECT_EQ(stats.kv_bytes_kept, kept_bytes);
    EXPECT_LT(stats.kv_bytes_kept, stats.kv_bytes / 5);
  }
}

}  // namespace
}  // namespace engram::compress
