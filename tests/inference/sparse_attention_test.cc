// Sparse decode attention (inference/attention_policy.h) through LlamaContext on tiny random
// GQA models with head_dim 64: every policy at budget 1.0 is full attention; small budgets attend
// about sinks + window + budget * length keys and say so; forks, saved caches, rewinds and a full
// cache pool behave; bad options are refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "inference/llama_context.h"
#include "tests/inference/tiny_llama_model.h"

namespace engram::inference {
namespace {

using retrieval::KeyIndexKind;
using testing::TinyLlama;
using testing::TinyLlamaSpec;

using Loaded = testing::LoadedTinyLlama;

Loaded Load(const TinyLlamaSpec& spec) { return testing::LoadTinyLlama(spec); }

// head_dim 64 with GQA: 6 query heads over 2 KV heads (groups of 3).
TinyLlamaSpec Gqa(int n_vocab = 64, uint32_t seed = 11) {
  TinyLlamaSpec spec;
  spec.n_layer = 2;
  spec.n_embd = 384;
  spec.n_head = 6;
  spec.n_kv_head = 2;
  spec.n_ff = 256;
  spec.n_vocab = n_vocab;
  spec.seed = seed;
  return spec;
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = pick(rng);
  return t;
}

std::unique_ptr<LlamaContext> NewContext(const Loaded& l, ContextOptions options) {
  auto ctx = LlamaContext::Create(l.model, options);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? std::move(*ctx) : nullptr;
}

using Logits = std::vector<float>;

// Feeds `tokens` one decode step at a time; the logits of every step.
std::vector<Logits> Decode(LlamaContext& ctx, const std::vector<int32_t>& tokens) {
  std::vector<Logits> out;
  for (const int32_t& t : tokens) {
    const Status s = ctx.Eval({&t, 1});
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) break;
    out.emplace_back(ctx.logits().begin(), ctx.logits().end());
  }
  return out;
}

double MaxAbs(const Logits& a) {
  double m = 0.0;
  for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

double MaxAbsDiff(const Logits& a, const Logits& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  return m;
}

AttentionOptions Policy(AttentionKind kind, double budget, KeyIndexKind index =
                                                               KeyIndexKind::kExact) {
  AttentionOptions a;
  a.kind = kind;
  a.budget = budget;
  a.sinks = 4;
  a.window = 16;
  a.index = index;
  return a;
}

// The sparse policies, each with a name for messages.
std::vector<std::pair<std::string, AttentionOptions>> SparsePolicies(double budget) {
  return {{"window", Policy(AttentionKind::kWindow, budget)},
          {"quest", Policy(AttentionKind::kQuest, budget)},
          {"retrieval:exact", Policy(AttentionKind::kRetrieval, budget, KeyIndexKind::kExact)},
          {"retrieval:ivf", Policy(AttentionKind::kRetrieval, budget, KeyIndexKind::kIvf)},
          {"retrieval:aware",
           Policy(AttentionKind::kRetrieval, budget, KeyIndexKind::kAttentionAware)}};
}

// Decodes `tokens` on a fork of the current sequence, then switches back and frees the fork.
// `inspect` runs on the fork after decoding (decode_stats are per current sequence).
template <typename Inspect>
std::vector<Logits> DecodeOnFork(LlamaContext& ctx, const std::vector<int32_t>& tokens,
                                 Inspect inspect) {
  const SequenceId base = ctx.sequence();
  Result<SequenceId> fork = ctx.Fork();
  EXPECT_TRUE(fork.ok()) << fork.status().ToString();
  if (!fork.ok()) return {};
  EXPECT_TRUE(ctx.Switch(*fork).ok());
  ctx.ResetDecodeStats();
  std::vector<Logits> out = Decode(ctx, tokens);
  inspect();
  EXPECT_TRUE(ctx.Switch(base).ok());
  EXPECT_TRUE(ctx.Free(*fork).ok());
  return out;
}
std::vector<Logits> DecodeOnFork(LlamaContext& ctx, const std::vector<int32_t>& tokens) {
  return DecodeOnFork(ctx, tokens, [] {});
}

// Two threads, blocks of 16 positions, the given decode policy (full by default).
ContextOptions Options(int64_t n_ctx, const AttentionOptions& attention = {}) {
  ContextOptions o;
  o.n_ctx = n_ctx;
  o.n_threads = 2;
  o.kv_block_size = 16;
  o.attention = attention;
  return o;
}

// The prefill keeps queries for attention-aware indexes only while an aware policy is set, so
// contexts are created with one (prefill itself is full attention whatever the policy).
ContextOptions AwareContext(int64_t n_ctx, double budget) {
  return Options(n_ctx, Policy(AttentionKind::kRetrieval, budget, KeyIndexKind::kAttentionAware));
}

// Logits agree up to float rounding: the sparse path sums the same keys in another order.
// Measured noise is ~1.5e-5 of the largest logit (~320 on these models).
constexpr double kLogitTolerance = 5e-5;

TEST(SparseAttention, EveryPolicyAtFullBudgetMatchesFullAttention) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(300, c.n_vocab, 1);
  const std::vector<int32_t> next = RandomTokens(20, c.n_vocab, 2);
  auto ctx = NewContext(l, AwareContext(1024, 1.0));
  ASSERT_TRUE(ctx->Eval(prompt).ok());

  // Reference: full attention on a fork of the same prefill.
  ASSERT_TRUE(ctx->SetAttention({.kind = AttentionKind::kFull}).ok());
  const std::vector<Logits> reference = DecodeOnFork(*ctx, next);
  ASSERT_EQ(reference.size(), next.size());
  double scale = 0.0;
  for (const Logits& r : reference) scale = std::max(scale, MaxAbs(r));
  ASSERT_GT(scale, 1.0);

  // Every key of every step: sum over steps of the step's cache length, per layer and KV head.
  double all_keys = 0.0;
  for (size_t i = 0; i < next.size(); ++i) all_keys += static_cast<double>(prompt.size() + i + 1);
  all_keys *= c.n_layer * c.n_kv_head;

  for (const auto& [name, policy] : SparsePolicies(1.0)) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(ctx->SetAttention(policy).ok());
    AttentionComparison cmp;
    ctx->CompareAttention(&cmp);
    DecodeStats stats;
    const std::vector<Logits> got =
        DecodeOnFork(*ctx, next, [&] { stats = ctx->decode_stats(); });
    ctx->CompareAttention(nullptr);
    ASSERT_EQ(got.size(), reference.size());
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, MaxAbsDiff(got[i], reference[i]));
    EXPECT_LT(worst / scale, kLogitTolerance)
        << "max |logit diff| " << worst << " at logit scale " << scale;
    // Budget 1.0 attends every key of the cache at every step.
    EXPECT_EQ(stats.steps, static_cast<int64_t>(next.size()));
    EXPECT_EQ(stats.keys_attended, all_keys);
    ASSERT_EQ(cmp.count, static_cast<int64_t>(next.size()) * c.n_layer * c.n_head);
    EXPECT_GT(cmp.mass_recall_sum / cmp.count, 0.9999);
    EXPECT_LE(cmp.mass_recall_sum / cmp.count, 1.0 + 1e-9);
    EXPECT_LT(cmp.output_rel_err_sum / cmp.count, 1e-3);
    ASSERT_EQ(cmp.layer_mass_recall_sum.size(), static_cast<size_t>(c.n_layer));
  }
}

TEST(SparseAttention, SmallBudgetAttendsFewerKeysAndReportsIt) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const double budget = 0.05;
  const int sinks = 4, window = 16, block = 16, index_batch = 16;
  const std::vector<int32_t> prompt = RandomTokens(600, c.n_vocab, 3);
  const std::vector<int32_t> next = RandomTokens(20, c.n_vocab, 4);
  auto ctx = NewContext(l, AwareContext(1024, budget));
  ASSERT_TRUE(ctx->Eval(prompt).ok());
  const double head_steps = static_cast<double>(next.size()) * c.n_layer * c.n_kv_head;

  // Keys per (step, layer, KV head) the policies promise: sinks + window + budget * length.
  double promised = 0.0;
  for (size_t i = 0; i < next.size(); ++i) {
    const double length = static_cast<double>(prompt.size() + i + 1);
    promised += sinks + window + std::max<double>(1, std::llround(budget * length));
  }
  promised /= static_cast<double>(next.size());

  ASSERT_TRUE(ctx->SetAttention({.kind = AttentionKind::kFull}).ok());
  DecodeStats full;
  DecodeOnFork(*ctx, next, [&] { full = ctx->decode_stats(); });
  const double full_keys = full.keys_attended / head_steps;
  EXPECT_NEAR(full_keys, prompt.size() + (next.size() + 1) / 2.0, 1e-9);

  std::map<std::string, double> recall;
  for (const auto& [name, policy] : SparsePolicies(budget)) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(ctx->SetAttention(policy).ok());
    AttentionComparison cmp;
    ctx->CompareAttention(&cmp);
    DecodeStats stats;
    DecodeOnFork(*ctx, next, [&] { stats = ctx->decode_stats(); });
    ctx->CompareAttention(nullptr);
    EXPECT_EQ(stats.steps, static_cast<int64_t>(next.size()));
    const double keys = stats.keys_attended / head_steps;
    // Slack above the promise: quest attends whole pages (the sinks' page, a window starting on
    // a page, whole budget pages); retrieval attends keys that left the window but are not yet
    // indexed (fewer than index_batch) with the window.
    double slack = 0.0;
    if (policy.kind == AttentionKind::kQuest) slack = (block - sinks) + 2 * (block - 1);
    if (policy.kind == AttentionKind::kRetrieval) slack = index_batch - 1;
    EXPECT_GE(keys, promised - 1e-9) << "keys per head-step";
    EXPECT_LE(keys, promised + slack + 1e-9) << "keys per head-step";
    EXPECT_LT(keys, 0.2 * full_keys);
    ASSERT_GT(cmp.count, 0);
    const double mass = cmp.mass_recall_sum / cmp.count;
    EXPECT_GT(mass, 0.0);
    EXPECT_LE(mass, 1.0 + 1e-9);
    // (No bound on the error: on a random model attention is flat, so a few dozen of ~600
    // values average to something far from the full average.)
    EXPECT_TRUE(std::isfinite(cmp.output_rel_err_sum));
    EXPECT_GT(cmp.output_rel_err_sum / cmp.count, 0.0);
    std::printf("%-16s keys per head-step %.1f (promised %.1f, full %.1f), mass recall %.3f\n",
                name.c_str(), keys, promised, full_keys, mass);
    recall[name] = mass;
    if (policy.kind == AttentionKind::kRetrieval) {
      EXPECT_GT(stats.index_bytes, 0u);
    } else {
      EXPECT_EQ(stats.index_bytes, 0u);
    }
  }
  // Exact top keys hold more of the softmax mass than the same number of recent keys.
  EXPECT_GT(recall["retrieval:exact"], recall["window"]);
}

TEST(SparseAttention, ForksDoNotDisturbEachOther) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> base_tokens = RandomTokens(200, c.n_vocab, 5);
  const std::vector<int32_t> fork_tokens = RandomTokens(30, c.n_vocab, 6);
  const int32_t next = 7;
  for (AttentionOptions policy :
       {AttentionOptions{.kind = AttentionKind::kFull}, Policy(AttentionKind::kQuest, 0.1),
        Policy(AttentionKind::kRetrieval, 0.1, KeyIndexKind::kAttentionAware)}) {
    SCOPED_TRACE(DescribeAttention(policy));
    const ContextOptions options = Options(512, policy);
    auto ctx = NewContext(l, options);
    ASSERT_TRUE(ctx->Eval(base_tokens).ok());
    const SequenceId base = ctx->sequence();
    Result<SequenceId> fork = ctx->Fork();
    ASSERT_TRUE(fork.ok()) << fork.status().ToString();
    EXPECT_EQ(ctx->sequence(), base);  // Fork keeps the current sequence
    ASSERT_TRUE(ctx->Switch(*fork).ok());
    EXPECT_EQ(ctx->position(), static_cast<int64_t>(base_tokens.size()));
    const std::vector<Logits> on_fork = Decode(*ctx, fork_tokens);
    ASSERT_TRUE(ctx->Switch(base).ok());
    EXPECT_EQ(ctx->position(), static_cast<int64_t>(base_tokens.size()));
    const std::vector<Logits> on_base = Decode(*ctx, {next});

    // A fresh context that only saw the base tokens, and one that saw the fork's history.
    auto fresh = NewContext(l, options);
    ASSERT_TRUE(fresh->Eval(base_tokens).ok());
    const std::vector<Logits> fresh_base = Decode(*fresh, {next});
    ASSERT_EQ(on_base.size(), 1u);
    ASSERT_EQ(fresh_base.size(), 1u);
    EXPECT_EQ(on_base[0], fresh_base[0]);  // bitwise
    auto fresh_fork = NewContext(l, options);
    ASSERT_TRUE(fresh_fork->Eval(base_tokens).ok());
    const std::vector<Logits> fresh_on_fork = Decode(*fresh_fork, fork_tokens);
    ASSERT_EQ(on_fork.size(), fresh_on_fork.size());
    for (size_t i = 0; i < on_fork.size(); ++i) {
      EXPECT_EQ(on_fork[i], fresh_on_fork[i]) << "fork step " << i;
    }

    // Freeing the current sequence, or naming an unknown one, is refused.
    EXPECT_EQ(ctx->Free(ctx->sequence()).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx->Switch(12345).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx->Switch(-1).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx->Free(12345).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(ctx->Free(*fork).ok());
    EXPECT_EQ(ctx->Switch(*fork).code(), StatusCode::kInvalidArgument);  // freed
    EXPECT_EQ(ctx->Free(*fork).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(ctx->sequence(), base);
  }
}

// A temporary file path, removed at the end of the scope.
struct TempPath {
  std::string path;
  explicit TempPath(const std::string& name)
      : path(::testing::TempDir() + "sparse_attention_test_" + std::to_string(::getpid()) + "_" +
             name) {}
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

std::vector<char> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(SparseAttention, SavedCacheReloadsToTheSameLogits) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(300, c.n_vocab, 8);
  const int32_t next = 5;
  const ContextOptions options = Options(512);
  auto saver = NewContext(l, options);
  ASSERT_TRUE(saver->Eval(prompt).ok());
  TempPath file("cache.kv");
  ASSERT_TRUE(saver->SaveCache(file.path).ok());

  auto loader = NewContext(l, options);
  const Status loaded = loader->LoadCache(file.path);
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  EXPECT_EQ(loader->position(), static_cast<int64_t>(prompt.size()));
  const std::vector<Logits> a = Decode(*saver, {next});
  const std::vector<Logits> b = Decode(*loader, {next});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0], b[0]);  // bitwise

  // Another model: a different vocabulary, and a different shape (3 KV heads of 64).
  TinyLlamaSpec other_shape = Gqa();
  other_shape.n_kv_head = 3;
  for (const TinyLlamaSpec& spec : {Gqa(/*n_vocab=*/65), other_shape}) {
    const Loaded other = Load(spec);
    auto ctx = NewContext(other, options);
    ASSERT_NE(ctx->ModelFingerprint(), saver->ModelFingerprint());
    const Status s = ctx->LoadCache(file.path);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("model"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(saver->ModelFingerprint()), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(ctx->ModelFingerprint()), std::string::npos) << s.message();
    EXPECT_EQ(ctx->position(), 0);
  }

  // A truncated copy, a damaged copy, a missing file.
  const std::vector<char> bytes = ReadBytes(file.path);
  ASSERT_GT(bytes.size(), 1000u);
  TempPath truncated("truncated.kv");
  WriteBytes(truncated.path, std::vector<char>(bytes.begin(), bytes.end() - 100));
  auto ctx = NewContext(l, options);
  Status s = ctx->LoadCache(truncated.path);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  TempPath damaged("damaged.kv");
  std::vector<char> flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  WriteBytes(damaged.path, flipped);
  s = ctx->LoadCache(damaged.path);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  TempPath missing("missing.kv");
  s = ctx->LoadCache(missing.path);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  // After the failures the context is untouched and still evaluates.
  EXPECT_EQ(ctx->position(), 0);
  ASSERT_TRUE(ctx->Eval(prompt).ok());
  // A cache longer than the context's n_ctx is refused.
  ContextOptions small_options = Options(128);
  small_options.kv_pool_positions = 1024;
  auto small = NewContext(l, small_options);
  s = small->LoadCache(file.path);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(small->position(), 0);
}

// SaveCache under the retrieval policy writes the key indexes beside the cache; a context that
// loads both decodes exactly as the saving one (bitwise: the same indexes propose the same
// candidates), forks of the loaded sequence included, without building an index. 24 steps: the
// indexes are extended (index_batch 16) after the load too.
TEST(SparseAttention, SavedKeyIndexesDecodeLikeTheOriginal) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(300, c.n_vocab, 31);
  const std::vector<int32_t> tokens = RandomTokens(24, c.n_vocab, 32);
  for (KeyIndexKind kind : {KeyIndexKind::kAttentionAware, KeyIndexKind::kIvf, KeyIndexKind::kExact}) {
    SCOPED_TRACE(std::string(retrieval::KeyIndexKindName(kind)));
    ContextOptions options = AwareContext(512, 0.05);
    options.attention.index = kind;
    TempPath file("indexed.kv");
    TempPath sidecar("indexed.kv.index");
    auto saver = NewContext(l, options);
    ASSERT_TRUE(saver->Eval(prompt).ok());
    const Status saved = saver->SaveCache(file.path);
    ASSERT_TRUE(saved.ok()) << saved.ToString();
    ASSERT_TRUE(std::filesystem::exists(sidecar.path));
    const std::vector<Logits> want = Decode(*saver, tokens);
    ASSERT_EQ(want.size(), tokens.size());

    // SaveCache built the indexes the first decode step would have built.
    auto unsaved = NewContext(l, options);
    ASSERT_TRUE(unsaved->Eval(prompt).ok());
    EXPECT_TRUE(Decode(*unsaved, tokens) == want);

    auto loader = NewContext(l, options);
    const Status loaded = loader->LoadCache(file.path);
    ASSERT_TRUE(loaded.ok()) << loaded.ToString();
    EXPECT_TRUE(loader->attention_index_restored());
    EXPECT_GT(loader->attention_index_load_seconds(), 0.0);
    std::vector<Logits> on_fork = DecodeOnFork(*loader, tokens, [&] {
      EXPECT_EQ(loader->decode_stats().index_build_seconds, 0.0);  // nothing was rebuilt
      EXPECT_LT(loader->decode_stats().keys_attended,
                static_cast<double>(tokens.size()) * c.n_layer * c.n_kv_head * 100.0);
    });
    EXPECT_TRUE(on_fork == want);
    EXPECT_TRUE(Decode(*loader, tokens) == want);
    EXPECT_EQ(loader->decode_stats().index_build_seconds, 0.0);
  }
}

// A sidecar that is damaged, truncated, empty, stale (saved with another cache) or made for other
// index parameters is detected: the load succeeds without it, and the indexes are built again
// exactly as after a load with no sidecar at all.
TEST(SparseAttention, DamagedOrMismatchedKeyIndexSidecarIsRebuilt) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(300, c.n_vocab, 33);
  const std::vector<int32_t> other_prompt = RandomTokens(300, c.n_vocab, 34);
  const std::vector<int32_t> tokens = RandomTokens(6, c.n_vocab, 35);
  const ContextOptions options = AwareContext(512, 0.05);
  TempPath file("damaged_index.kv");
  TempPath sidecar("damaged_index.kv.index");
  TempPath other("other_index.kv");
  TempPath other_sidecar("other_index.kv.index");
  auto saver = NewContext(l, options);
  ASSERT_TRUE(saver->Eval(prompt).ok());
  ASSERT_TRUE(saver->SaveCache(file.path).ok());
  auto other_saver = NewContext(l, options);
  ASSERT_TRUE(other_saver->Eval(other_prompt).ok());
  ASSERT_TRUE(other_saver->SaveCache(other.path).ok());
  const std::vector<char> good = ReadBytes(sidecar.path);
  ASSERT_GT(good.size(), 1000u);

  // The reference: a load with no sidecar builds the indexes at the first step.
  auto load_and_decode = [&](const ContextOptions& o, bool* restored) {
    auto ctx = NewContext(l, o);
    const Status s = ctx->LoadCache(file.path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    *restored = ctx->attention_index_restored();
    return Decode(*ctx, tokens);
  };
  std::filesystem::remove(sidecar.path);
  bool restored = true;
  const std::vector<Logits> want = load_and_decode(options, &restored);
  EXPECT_FALSE(restored);
  ASSERT_EQ(want.size(), tokens.size());

  std::vector<char> flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  std::vector<char> bad_magic = good;
  bad_magic[0] = 'X';
  const std::vector<std::pair<std::string, std::vector<char>>> cases = {
      {"truncated", std::vector<char>(good.begin(), good.end() - 100)},
      {"cut to 12 bytes", std::vector<char>(good.begin(), good.begin() + 12)},
      {"empty", {}},
      {"one flipped bit", flipped},
      {"bad magic", bad_magic},
      {"trailing bytes", [&] { std::vector<char> v = good; v.push_back(0); return v; }()},
      {"stale: another cache's", ReadBytes(other_sidecar.path)},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    WriteBytes(sidecar.path, bytes);
    EXPECT_TRUE(load_and_decode(options, &restored) == want);
    EXPECT_FALSE(restored);
  }
  // The good sidecar is restored; under other index parameters it is not (and the indexes are
  // built for those parameters, as without a sidecar).
  WriteBytes(sidecar.path, good);
  load_and_decode(options, &restored);
  EXPECT_TRUE(restored);
  ContextOptions other_params = options;
  other_params.attention.candidate_factor = 4.0;
  std::filesystem::remove(sidecar.path);
  const std::vector<Logits> want_other = load_and_decode(other_params, &restored);
  WriteBytes(sidecar.path, good);
  EXPECT_TRUE(load_and_decode(other_params, &restored) == want_other);
  EXPECT_FALSE(restored);

  // Saving under another policy removes the sidecar of an earlier save.
  auto full = NewContext(l, Options(512));
  ASSERT_TRUE(full->Eval(prompt).ok());
  ASSERT_TRUE(full->SaveCache(file.path).ok());
  EXPECT_FALSE(std::filesystem::exists(sidecar.path));
}

TEST(SparseAttention, RejectsBadOptions) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(200, c.n_vocab, 9);
  const std::vector<int32_t> next = RandomTokens(3, c.n_vocab, 10);
  const AttentionOptions good = Policy(AttentionKind::kQuest, 0.1);
  const ContextOptions options = Options(512, good);
  auto ctx = NewContext(l, options);
  auto twin = NewContext(l, options);  // never sees a bad option
  ASSERT_TRUE(ctx->Eval(prompt).ok());
  ASSERT_TRUE(twin->Eval(prompt).ok());

  std::vector<std::pair<std::string, AttentionOptions>> bad;
  for (double budget : {0.0, 1.5, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    AttentionOptions a = Policy(AttentionKind::kRetrieval, 0.05);
    a.budget = budget;
    bad.emplace_back("budget " + std::to_string(budget), a);
  }
  AttentionOptions a = Policy(AttentionKind::kWindow, 0.05);
  a.window = 0;
  bad.emplace_back("window 0", a);
  a = Policy(AttentionKind::kWindow, 0.05);
  a.sinks = -1;
  bad.emplace_back("sinks -1", a);

  for (const auto& [name, options_bad] : bad) {
    SCOPED_TRACE(name);
    const Status s = ctx->SetAttention(options_bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("attention:"), std::string::npos) << s.message();
    // The old policy stays.
    EXPECT_EQ(ctx->attention().kind, good.kind);
    EXPECT_EQ(ctx->attention().budget, good.budget);
    EXPECT_EQ(ctx->attention().sinks, good.sinks);
    EXPECT_EQ(ctx->attention().window, good.window);
    // Creating a context with it fails too.
    ContextOptions o = options;
    o.attention = options_bad;
    Result<std::unique_ptr<LlamaContext>> created = LlamaContext::Create(l.model, o);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(created.status().message().find("attention:"), std::string::npos);
  }
  // The context decodes exactly as its twin under the old policy.
  const std::vector<Logits> got = Decode(*ctx, next);
  const std::vector<Logits> want = Decode(*twin, next);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "step " << i;

  // Unknown policy names list the valid ones.
  Result<AttentionKind> kind = ParseAttentionKind("dense");
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(kind.status().code(), StatusCode::kInvalidArgument);
  for (const char* valid : {"dense", "full", "window", "quest", "retrieval"}) {
    EXPECT_NE(kind.status().message().find(valid), std::string::npos) << kind.status().message();
  }
  EXPECT_FALSE(ParseAttentionPolicy("retrieval:bogus").ok());
  EXPECT_FALSE(ParseAttentionPolicy("window:exact").ok());
  Result<AttentionOptions> parsed = ParseAttentionPolicy("retrieval:ivf");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->kind, AttentionKind::kRetrieval);
  EXPECT_EQ(parsed->index, KeyIndexKind::kIvf);
}

TEST(SparseAttention, RewindRebuildsIndexes) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const std::vector<int32_t> prompt = RandomTokens(300, c.n_vocab, 11);
  const std::vector<int32_t> first = RandomTokens(10, c.n_vocab, 12);
  const std::vector<int32_t> other = RandomTokens(8, c.n_vocab, 13);

  // The aware index (as asked), and the exact one, which separates rewinding from the index's
  // own coverage. Rewind by 5 (inside the recent window), and deep into the prefill (past keys
  // already indexed and past kept prefill queries).
  for (KeyIndexKind index : {KeyIndexKind::kAttentionAware, KeyIndexKind::kExact}) {
    for (int64_t rewind_to : {int64_t{305}, int64_t{200}}) {
      SCOPED_TRACE(std::string(retrieval::KeyIndexKindName(index)) + ", rewind to " +
                   std::to_string(rewind_to));
      ContextOptions options = AwareContext(1024, 1.0);
      options.attention.index = index;
      auto ctx = NewContext(l, options);
      ASSERT_TRUE(ctx->Eval(prompt).ok());
      ASSERT_EQ(Decode(*ctx, first).size(), first.size());
      ctx->Rewind(rewind_to);
      ASSERT_EQ(ctx->position(), rewind_to);
      const std::vector<Logits> got = Decode(*ctx, other);

      // Full attention over the same history: prompt and first tokens up to rewind_to.
      std::vector<int32_t> history = prompt;
      history.insert(history.end(), first.begin(), first.end());
      history.resize(static_cast<size_t>(rewind_to));
      auto reference = NewContext(l, Options(1024));
      const size_t prefill = std::min(prompt.size(), history.size());
      ASSERT_TRUE(reference->Eval(std::span(history).first(prefill)).ok());
      Decode(*reference, std::vector<int32_t>(history.begin() + prefill, history.end()));
      const std::vector<Logits> want = Decode(*reference, other);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_LT(MaxAbsDiff(got[i], want[i]) / MaxAbs(want[i]), kLogitTolerance) << "step " << i;
      }
    }
  }
}

TEST(SparseAttention, PoolExhaustionIsAnError) {
  const Loaded l = Load(Gqa());
  const LlamaConfig& c = l.model->config();
  const int64_t n_ctx = 256;
  ContextOptions options = Options(n_ctx);
  options.kv_pool_positions = n_ctx;
  const std::vector<int32_t> prompt = RandomTokens(static_cast<int>(n_ctx - 10), c.n_vocab, 14);
  const int32_t next = 3;
  auto ctx = NewContext(l, options);
  ASSERT_TRUE(ctx->Eval(prompt).ok());
  const SequenceId base = ctx->sequence();
  Result<SequenceId> fork = ctx->Fork();
  ASSERT_TRUE(fork.ok()) << fork.status().ToString();
  ASSERT_TRUE(ctx->Switch(*fork).ok());
  // The fork must copy the shared last block (or take new ones) to write: the pool runs out.
  Status s;
  int steps = 0;
  while (ctx->position() < n_ctx) {
    s = ctx->Eval({&next, 1});
    if (!s.ok()) break;
    ++steps;
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString() << " after " << steps;
  EXPECT_LT(ctx->position(), n_ctx);
  const int64_t stuck = ctx->position();
  EXPECT_EQ(ctx->Eval({&next, 1}).code(), StatusCode::kResourceExhausted);  // still, no change
  EXPECT_EQ(ctx->position(), stuck);

  ASSERT_TRUE(ctx->Switch(base).ok());
  ASSERT_TRUE(ctx->Free(*fork).ok());
  EXPECT_EQ(ctx->position(), static_cast<int64_t>(prompt.size()));
  const std::vector<Logits> got = Decode(*ctx, {next});
  auto fresh = NewContext(l, Options(n_ctx));
  ASSERT_TRUE(fresh->Eval(prompt).ok());
  const std::vector<Logits> want = Decode(*fresh, {next});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(got[0], want[0]);
  // With the fork gone the base can fill the whole context.
  while (ctx->position() < n_ctx) ASSERT_TRUE(ctx->Eval({&next, 1}).ok());
  EXPECT_EQ(ctx->Eval({&next, 1}).code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace engram::inference
