// all-MiniLM-L6-v2 embeddings against sentence-transformers' on 500 varied texts (goldens by
// scripts/goldens/embed_minilm.py): cosine similarity >= 0.999999 for every text in f32 and
// >= 0.9999 in bf16 (where the CPU runs it fast), and the behaviour users rely on around it
// (truncation reported, empty and invalid UTF-8 input).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "inference/bert_embedder.h"
#include "kernels/gemm.h"
#include "kernels/half.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(ENGRAM_TEST_DATA_DIR) / "embed";

std::unique_ptr<BertEmbedder> OpenDefault(EmbedPrecision precision = EmbedPrecision::kAuto) {
  auto e = BertEmbedder::OpenOrDefault("", {.n_threads = 2, .precision = precision});
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(*e) : nullptr;
}

double Cosine(std::span<const float> a, std::span<const float> b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

class BertEmbedderGoldenTest : public ::testing::TestWithParam<EmbedPrecision> {};

TEST_P(BertEmbedderGoldenTest, MatchesSentenceTransformers) {
  const EmbedPrecision precision = GetParam();
  if (precision == EmbedPrecision::kBf16 && !kernels::FastBf16Gemm()) {
    GTEST_SKIP() << "bf16 runs on the scalar reference on this CPU (no AMX): too slow for 500 texts";
  }
  std::vector<std::string> texts;
  std::ifstream in(kDir / "minilm_texts.jsonl");
  for (std::string line; std::getline(in, line);) {
    texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  }
  ASSERT_EQ(texts.size(), 500u);
  std::ifstream bin(kDir / "minilm_st.f16", std::ios::binary);
  std::vector<uint16_t> half(500 * 384);
  bin.read(reinterpret_cast<char*>(half.data()), static_cast<std::streamsize>(half.size() * 2));
  ASSERT_TRUE(bin.good());
  auto e = OpenDefault(precision);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->precision(), precision);
  EXPECT_EQ(e->Dim(), 384);
  EXPECT_EQ(e->MaxTokens(), 256);
  double worst = 1.0, sum = 0.0;
  size_t worst_at = 0, truncated = 0;
  for (size_t start = 0; start < texts.size(); start += 32) {
    const size_t count = std::min<size_t>(32, texts.size() - start);
    auto batch = e->Embed(std::span(texts).subspan(start, count));
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    ASSERT_EQ(batch->rows(), count);
    for (size_t i = 0; i < count; ++i) {
      std::vector<float> expected(384);
      for (int d = 0; d < 384; ++d) expected[d] = kernels::Fp16ToFp32(half[(start + i) * 384 + d]);
      const double c = Cosine(batch->Row(i), expected);
      sum += c;
      if (c < worst) worst = c, worst_at = start + i;
      truncated += batch->truncated[i];
    }
  }
  std::printf("%s: cosine vs sentence-transformers over 500 texts: min %.7f (text %zu), mean "
              "%.7f; %zu texts truncated at 256 tokens\n",
              std::string(EmbedPrecisionName(precision)).c_str(), worst, worst_at,
              sum / texts.size(), truncated);
  EXPECT_GE(worst, precision == EmbedPrecision::kF32 ? 0.999999 : 0.9999)
      << "text " << worst_at << ": " << texts[worst_at].substr(0, 80);
  EXPECT_GE(truncated, 2u);  // the two long edge cases
}

INSTANTIATE_TEST_SUITE_P(Precisions, BertEmbedderGoldenTest,
                         ::testing::Values(EmbedPrecision::kF32, EmbedPrecision::kBf16),
                         [](const auto& info) { return std::string(EmbedPrecisionName(info.param)); });

TEST(BertEmbedderTest, AutoPicksBf16OnlyWhereItIsFast) {
  auto e = OpenDefault();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->precision(), kernels::FastBf16Gemm() ? EmbedPrecision::kBf16 : EmbedPrecision::kF32);
  EXPECT_FALSE(ParseEmbedPrecision("fp8").ok());
}

TEST(BertEmbedderTest, BatchingTruncationAndOddInput) {
  auto e = OpenDefault();
  ASSERT_NE(e, nullptr);
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "word ";
  std::vector<std::string> texts = {"The cat sat on the mat.", "", long_text,
                                    "caf\xC3\xA9 \xFF\xFE broken", "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD broken"};
  auto together = e->Embed(texts);
  ASSERT_TRUE(together.ok());
  EXPECT_EQ(together->truncated, (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  EXPECT_EQ(together->tokens[1], 2);    // [CLS] [SEP]
  EXPECT_EQ(together->tokens[2], 256);  // cut, [SEP] kept
  // Each text alone gives the same vector as in a batch (no padding effects).
  for (size_t i = 0; i < texts.size(); ++i) {
    auto alone = e->Embed(std::span(texts).subspan(i, 1));
    ASSERT_TRUE(alone.ok());
    EXPECT_GT(Cosine(alone->Row(0), together->Row(i)), 0.999999) << i;
  }
  // Invalid UTF-8 is replaced by U+FFFD, as Python's decode(errors="replace") would.
  EXPECT_GT(Cosine(together->Row(3), together->Row(4)), 0.999999);
  EXPECT_TRUE(e->Embed({}).ok());
}

TEST(BertEmbedderTest, MissingDirectoryNamesFetchModels) {
  auto e = BertEmbedder::Open("/nonexistent/minilm", {});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("scripts/fetch_models.sh"), std::string::npos);
}

}  // namespace
}  // namespace engram::inference
