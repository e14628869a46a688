// The forward pass against a plain double-precision reference on tiny random models (llama and
// qwen2 flavours), and the properties of the cache users rely on: batched prefill, token-by-token
// decode, several micro-batches and rewinding all give the same logits.
#include "inference/llama_context.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tests/inference/tiny_llama_model.h"

namespace engram::inference {
namespace {

using testing::TinyLlama;
using testing::TinyLlamaSpec;

using Loaded = testing::LoadedTinyLlama;

Loaded Load(const TinyLlamaSpec& spec) { return testing::LoadTinyLlama(spec); }

std::vector<int32_t> Tokens(int n, int vocab) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7 + 3) % vocab;
  return t;
}

double MaxAbsDiff(std::span<const float> a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::unique_ptr<LlamaContext> NewContext(const Loaded& l, ContextOptions options) {
  auto ctx = LlamaContext::Create(l.model, options);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return std::move(*ctx);
}

class TinyModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModelTest, AllLogitsMatchTheReference) {
  for (int head_dim : {16, 64}) {  // 64: the SIMD block attention of prefill
  TinyLlamaSpec spec;
  spec.arch = GetParam();
  spec.tied_output = spec.arch == "llama";
  if (head_dim == 64) {
    spec.n_embd = 192;
    spec.n_head = 3;
    spec.n_kv_head = 1;
  }
  const Loaded l = Load(spec);
  const std::vector<int32_t> tokens = Tokens(37, spec.n_vocab);
  const auto expected = l.tiny.ReferenceLogits(tokens);
  for (TensorType kv : {TensorType::kF32, TensorType::kF16}) {
    auto ctx = NewContext(l, {.n_ctx = 64, .n_threads = 2, .kv_type = kv});
    ASSERT_TRUE(ctx->Eval(tokens, LogitsMode::kAll).ok());
    ASSERT_EQ(ctx->logits().size(), tokens.size() * spec.n_vocab);
    const double tolerance = kv == TensorType::kF32 ? 2e-4 : 2e-2;
    for (size_t t = 0; t < tokens.size(); ++t) {
      EXPECT_LT(MaxAbsDiff(ctx->logits().subspan(t * spec.n_vocab, spec.n_vocab), expected[t]),
                tolerance)
          << "position " << t << " kv " << TensorTypeName(kv) << " head_dim " << head_dim;
    }
    EXPECT_EQ(ctx->position(), 37);
  }
  }
}

TEST_P(TinyModelTest, PrefillDecodeMicroBatchesAndRewindAgree) {
  TinyLlamaSpec spec;
  spec.arch = GetParam();
  const Loaded l = Load(spec);
  const std::vector<int32_t> tokens = Tokens(40, spec.n_vocab);
  const auto expected = l.tiny.ReferenceLogits(tokens);

  // Token by token: each step's logits are the reference's at that position.
  auto step = NewContext(l, {.n_ctx = 64, .n_threads = 2, .kv_type = TensorType::kF32});
  for (size_t t = 0; t < tokens.size(); ++t) {
    ASSERT_TRUE(step->Eval({&tokens[t], 1}).ok());
    EXPECT_LT(MaxAbsDiff(step->logits(), expected[t]), 2e-4) << "step " << t;
  }
  // Micro-batches of 7 tokens, last logits only.
  auto batched = NewContext(l, {.n_ctx = 64, .n_threads = 3, .n_ubatch = 7,
                                .kv_type = TensorType::kF32});
  ASSERT_TRUE(batched->Eval(tokens).ok());
  EXPECT_LT(MaxAbsDiff(batched->logits(), expected.back()), 2e-4);
  // Rewind to 25 and evaluate the rest again: same logits as before.
  batched->Rewind(25);
  EXPECT_EQ(batched->position(), 25);
  ASSERT_TRUE(batched->Eval(std::span(tokens).subspan(25)).ok());
  EXPECT_LT(MaxAbsDiff(batched->logits(), expected.back()), 2e-4);
}

// Continuous batching: sequences at different positions decoded in one forward pass give each
// sequence's own reference logits, step after step, and leave every other sequence alone.
TEST_P(TinyModelTest, DecodeBatchMatchesEachSequenceAlone) {
  for (int head_dim : {16, 64}) {
  TinyLlamaSpec spec;
  spec.arch = GetParam();
  if (head_dim == 64) {  // the default model's head shape: 64-wide heads, groups of 3
    spec.n_embd = 192;
    spec.n_head = 3;
    spec.n_kv_head = 1;
  }
  const Loaded l = Load(spec);
  auto ctx = NewContext(l, {.n_ctx = 64, .n_threads = 2, .kv_type = TensorType::kF16});
  // Three sequences: prompts of 5, 17 and 1 tokens (different offsets into the token pattern).
  std::vector<std::vector<int32_t>> streams;
  for (int offset : {0, 3, 11}) {
    std::vector<int32_t> t = Tokens(30, spec.n_vocab);
    std::rotate(t.begin(), t.begin() + offset, t.end());
    streams.push_back(t);
  }
  const int prompt_len[3] = {5, 17, 1};
  std::vector<SequenceId> seqs;
  const SequenceId base = ctx->sequence();
  for (int i = 0; i < 3; ++i) {
    auto seq = ctx->NewSequence();
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(ctx->Switch(*seq).ok());
    ASSERT_TRUE(ctx->Eval(std::span(streams[i]).first(prompt_len[i])).ok());
    seqs.push_back(*seq);
  }
  ASSERT_TRUE(ctx->Switch(base).ok());
  std::vector<std::vector<std::vector<double>>> expected;
  for (int i = 0; i < 3; ++i) expected.push_back(l.tiny.ReferenceLogits(streams[i]));
  for (int step = 0; step < 8; ++step) {
    std::vector<BatchEntry> batch;
    for (int i = 0; i < 3; ++i) {
      if (step == 0 && i == 1) continue;  // a sequence may sit a step out
      const int64_t pos = ctx->length(seqs[i]);
      batch.push_back({seqs[i], streams[i][pos]});
    }
    ASSERT_TRUE(ctx->DecodeBatch(batch).ok());
    ASSERT_EQ(ctx->logits().size(), batch.size() * spec.n_vocab);
    for (size_t r = 0; r < batch.size(); ++r) {
      const int i = static_cast<int>(std::find(seqs.begin(), seqs.end(), batch[r].seq) -
                                     seqs.begin());
      const int64_t pos = ctx->length(seqs[i]) - 1;
      EXPECT_LT(MaxAbsDiff(ctx->logits().subspan(r * spec.n_vocab, spec.n_vocab),
                           expected[i][pos]),
                2e-2)
          << "sequence " << i << " position " << pos << " head_dim " << head_dim;
    }
  }
  EXPECT_EQ(ctx->position(), 0);  // the current sequence was not touched
  const std::vector<BatchEntry> twice = {{seqs[0], 1}, {seqs[0], 2}};
  EXPECT_EQ(ctx->DecodeBatch(twice).code(), StatusCode::kInvalidArgument);
  const std::vector<BatchEntry> unknown = {{999, 1}};
  EXPECT_EQ(ctx->DecodeBatch(unknown).code(), StatusCode::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, TinyModelTest, ::testing::Values("llama", "qwen2"));

TEST(LlamaContextTest, RejectsTokensOutsideTheVocabularyAndOverflow) {
  const Loaded l = Load({});
  auto ctx = NewContext(l, {.n_ctx = 8, .n_threads = 1});
  const std::vector<int32_t> bad = {1, 2, 40};
  Status s = ctx->Eval(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("token 40 at index 2"), std::string::npos) << s.message();
  EXPECT_EQ(ctx->position(), 0);  // nothing evaluated
  const std::vector<int32_t> nine = Tokens(9, 40);
  s = ctx->Eval(nine);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("do not fit in the context of 8"), std::string::npos);
  ASSERT_TRUE(ctx->Eval(std::span(nine).first(8)).ok());
  EXPECT_EQ(ctx->Eval(std::span(nine).first(1)).code(), StatusCode::kOutOfRange);
}

TEST(LlamaModelTest, ReportsMissingAndMisshapenTensors) {
  TinyLlama tiny = TinyLlama::Make({});
  // Rename a tensor in the bytes: the loader must name what is missing.
  std::vector<uint8_t> bytes = tiny.gguf;
  const std::string from = "blk.1.ffn_up.weight", to = "blk.1.ffn_xx.weight";
  auto it = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  ASSERT_NE(it, bytes.end());
  std::copy(to.begin(), to.end(), it);
  auto gguf = GgufFile::Parse(bytes, "broken.gguf");
  ASSERT_TRUE(gguf.ok());
  auto model = LlamaModel::FromGguf(std::shared_ptr<const GgufFile>(std::move(*gguf)));
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("'blk.1.ffn_up.weight' is missing"), std::string::npos)
      << model.status().message();

  // A head count that does not divide the embedding gives a wrong q shape.
  TinyLlamaSpec spec;
  TinyLlama other = TinyLlama::Make(spec);
  std::vector<uint8_t> b2 = other.gguf;
  const std::string key = "llama.attention.head_count_kv";
  auto k = std::search(b2.begin(), b2.end(), key.begin(), key.end());
  ASSERT_NE(k, b2.end());
  const size_t value_at = (k - b2.begin()) + key.size() + 4;  // after the type id
  b2[value_at] = 3;  // 4 heads / 3 kv heads
  auto g2 = GgufFile::Parse(b2, "heads.gguf");
  ASSERT_TRUE(g2.ok());
  auto m2 = LlamaModel::FromGguf(std::shared_ptr<const GgufFile>(std::move(*g2)));
  ASSERT_FALSE(m2.ok());
  EXPECT_NE(m2.status().message().find("inconsistent attention shape"), std::string::npos)
      << m2.status().message();
}

TEST(LlamaModelTest, ReadsTheConfiguration) {
  TinyLlamaSpec spec;
  spec.arch = "qwen2";
  const Loaded l = Load(spec);
  const LlamaConfig& c = l.model->config();
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_kv_head, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.n_vocab, 40);
  EXPECT_EQ(c.rope_style, RopeStyle::kNeox);
  EXPECT_EQ(l.model->layers()[0].bq.size(), 64u);
}

}  // namespace
}  // namespace engram::inference
