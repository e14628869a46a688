// The coarse stage of prompt compression: budgets, question awareness, bad input, and the
// source-map promise (every mapped span's original text equals the kept text) on random
// documents and on the L-Eval documents.
#include "compress/coarse_compressor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "tests/compress/compress_test_util.h"

namespace engram::compress {
namespace {

using testing::CountWords;
using testing::ExpectExactMap;

const std::vector<std::string> kDocuments = {
    "Lisbon is the capital of Portugal. It lies on the Tagus river. Trams climb its hills.",
    "The Eiffel Tower is in Paris. It was finished in 1889. Gustave Eiffel's company built it.",
    "Sourdough rises slowly. A starter is fed with flour and water every day. Bakers love it."};

TEST(CoarseCompressorTest, KeepsTheRelevantSentencesWithinTheBudget) {
  CoarseOptions options;
  options.budget_tokens = 12;
  Result<Compressed> c =
      CompressCoarse("When was the Eiffel Tower finished?", kDocuments, options, CountWords);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(c->text.find("It was finished in 1889."), std::string::npos) << c->text;
  EXPECT_LE(c->tokens_out, 12 + 2);  // separators may add a token or two to the crude count
  EXPECT_LT(c->sentences_kept, c->sentences_in);
  EXPECT_EQ(c->tokens_in, CountWords(kDocuments[0]) + CountWords(kDocuments[1]) +
                              CountWords(kDocuments[2]));
  ExpectExactMap(*c, kDocuments);
  // A ratio instead of a budget: about a quarter of the tokens.
  options.budget_tokens = 0;
  options.ratio = 4;
  Result<Compressed> r =
      CompressCoarse("What does a sourdough starter need?", kDocuments, options, CountWords);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->tokens_out, r->tokens_in / 4 + 2);
  EXPECT_NE(r->text.find("Sourdough"), std::string::npos) << r->text;
  ExpectExactMap(*r, kDocuments);
}

TEST(CoarseCompressorTest, RefusesBadInput) {
  CoarseOptions ratio;
  ratio.ratio = 2;
  auto code = [&](const std::vector<std::string>& docs, const CoarseOptions& o) {
    return CompressCoarse("q", docs, o, CountWords).status().code();
  };
  EXPECT_EQ(code({}, ratio), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({"  \n "}, ratio), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({"caf\xe9 au lait."}, ratio), StatusCode::kInvalidArgument);
  CoarseOptions none;
  EXPECT_EQ(code(kDocuments, none), StatusCode::kInvalidArgument);
  CoarseOptions both = ratio;
  both.budget_tokens = 10;
  EXPECT_EQ(code(kDocuments, both), StatusCode::kInvalidArgument);
  for (double bad : {1.0, 0.5, -3.0, 1e9, std::nan("")}) {
    CoarseOptions o;
    o.ratio = bad;
    EXPECT_EQ(code(kDocuments, o), StatusCode::kInvalidArgument) << bad;
  }
  CoarseOptions negative;
  negative.budget_tokens = -5;
  EXPECT_EQ(code(kDocuments, negative), StatusCode::kInvalidArgument);
  Result<Compressed> msg = CompressCoarse("q", {"x", "caf\xe9"}, ratio, CountWords);
  EXPECT_NE(msg.status().message().find("document 1 is not valid UTF-8"), std::string::npos)
      << msg.status().ToString();
}

TEST(CoarseCompressorTest, SourceMapIsExactOnRandomDocuments) {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"alpha", "beta", "Gamma", "delta.", "e.g.", "Dr.",
                                          "x?", "yes!", "\n\n", "end.", "ação", "日本。"};
  for (int round = 0; round < 40; ++round) {
    std::vector<std::string> documents(1 + rng() % 4);
    for (std::string& d : documents) {
      const int n = static_cast<int>(rng() % 120);
      for (int i = 0; i < n; ++i) d += words[rng() % words.size()] + (rng() % 5 ? " " : "  ");
      if (d.empty()) d = "solo.";
    }
    CoarseOptions options;
    options.ratio = 1.5 + static_cast<double>(rng() % 60) / 10.0;
    Result<Compressed> c = CompressCoarse("beta gamma", documents, options, CountWords);
    if (!c.ok()) {  // only an all-white-space draw may fail
      EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ExpectExactMap(*c, documents);
  }
}

// The L-Eval documents (real text, long): the map stays exact at every ratio, for a question
// of each file's first document (several documents at once, as a prompt holds them).
TEST(CoarseCompressorTest, SourceMapIsExactOnLEvalDocuments) {
  const std::filesystem::path dir = ResolveSharedDataDir() / "leval";
  ASSERT_TRUE(std::filesystem::is_directory(dir))
      << "no L-Eval data in '" << dir.string()
      << "'; set ENGRAM_SHARED_DATA to the folder that holds leval/";
  std::vector<std::string> documents;
  std::string question;
  for (const char* name :
       {"quality.shared.jsonl", "natural_question.shared.jsonl", "coursera.shared.jsonl"}) {
    std::ifstream in(dir / name);
    std::string line;
    ASSERT_TRUE(std::getline(in, line)) << name;
    const nlohmann::json record = nlohmann::json::parse(line);
    documents.push_back(record.at("input").get<std::string>());
    if (question.empty() && record.contains("instructions") &&
        record["instructions"].is_array() && !record["instructions"].empty()) {
      question = record["instructions"][0].get<std::string>();
    }
  }
  for (double ratio : {2.0, 4.0, 8.0}) {
    CoarseOptions options;
    options.ratio = ratio;
    Result<Compressed> c = CompressCoarse(question, documents, options, CountWords);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_LE(c->tokens_out, c->tokens_in / ratio + 2 * static_cast<int64_t>(c->sentences_kept))
        << ratio;
    EXPECT_GT(c->sentences_kept, 0u);
    ExpectExactMap(*c, documents);
  }
}

}  // namespace
}  // namespace engram::compress
