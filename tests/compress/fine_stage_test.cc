// The fine stage without a model: synthetic token scores decide which words go; the budget, the
// separators and the source map's promise are checked on what is left.
#include "compress/fine_stage.h"

#include <gtest/gtest.h>

#include "compress/compressor.h"
#include "tests/compress/compress_test_util.h"

namespace engram::compress {
namespace {

using testing::CountWords;
using testing::ExpectExactMap;

// One token per word (with the space before it, as byte-level BPE has), scored by `score`.
std::vector<ScoredToken> WordTokens(std::string_view text,
                                    const std::function<double(std::string_view)>& score) {
  std::vector<ScoredToken> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const size_t begin = i;
    while (i < text.size() && text[i] == ' ') ++i;
    size_t word = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    while (i < text.size() && text[i] == '\n') ++i;
    tokens.push_back({begin, i, score(text.substr(word, i - word)), 0.0});
  }
  return tokens;
}

const std::vector<std::string> kDocuments = {
    "Lisbon is the capital of Portugal. It lies on the Tagus river.",
    "The Eiffel Tower is in Paris. It was finished in 1889."};

Compressed CoarseAll() {
  Result<Compressed> c =
      CompressCoarse("capital", kDocuments, {.budget_tokens = 1000}, CountWords);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

TEST(FineStageTest, DropsTheLowestScoringWordsToTheBudget) {
  const Compressed coarse = CoarseAll();
  ASSERT_EQ(coarse.tokens_out, 23);
  // Short words are "uninformative": they go first.
  const auto tokens = WordTokens(coarse.text, [](std::string_view w) { return double(w.size()); });
  const Compressed fine = DropWords(coarse, kDocuments, tokens, 14, 1.0, CountWords);
  EXPECT_LE(fine.tokens_out, 14);
  EXPECT_EQ(fine.tokens_out, CountWords(fine.text));
  EXPECT_EQ(fine.words_scored, 23u);
  EXPECT_EQ(fine.words_dropped, 9u);
  EXPECT_NE(fine.text.find("Portugal."), std::string::npos);
  EXPECT_EQ(fine.text.find(" is "), std::string::npos);
  EXPECT_NE(fine.text.find("\n\n"), std::string::npos);  // the documents stay apart
  ExpectExactMap(fine, kDocuments);
}

TEST(FineStageTest, WordsKeptTogetherStayOneSpanWithTheirSpacing) {
  const Compressed coarse = CoarseAll();
  // Everything scores high but "It": one word dropped per sentence that has it.
  const auto tokens = WordTokens(coarse.text, [](std::string_view w) { return w == "It" ? 0.0 : 9.0; });
  const Compressed fine = DropWords(coarse, kDocuments, tokens, 21, 1.0, CountWords);
  EXPECT_EQ(fine.text,
            "Lisbon is the capital of Portugal. lies on the Tagus river.\n\n"
            "The Eiffel Tower is in Paris. was finished in 1889.");
  ASSERT_EQ(fine.map.spans().size(), 4u);
  EXPECT_EQ(fine.map.spans()[0].begin, 0u);
  EXPECT_EQ(fine.map.spans()[0].end, 34u);  // "Lisbon … Portugal." in one span
  ExpectExactMap(fine, kDocuments);
}

TEST(FineStageTest, UnderTheBudgetNothingIsDropped) {
  const Compressed coarse = CoarseAll();
  const auto tokens = WordTokens(coarse.text, [](std::string_view) { return 1.0; });
  const Compressed fine = DropWords(coarse, kDocuments, tokens, 100, 1.0, CountWords);
  EXPECT_EQ(fine.text, coarse.text);
  EXPECT_EQ(fine.words_dropped, 0u);
}

TEST(FineStageTest, ContrastWeightDecides) {
  const Compressed coarse = CoarseAll();
  // Self-information prefers "Paris", the contrast prefers "Lisbon".
  std::vector<ScoredToken> tokens = WordTokens(coarse.text, [](std::string_view) { return 5.0; });
  for (ScoredToken& t : tokens) {
    const std::string_view w = std::string_view(coarse.text).substr(t.begin, t.end - t.begin);
    if (w.find("Lisbon") != std::string_view::npos) t = {t.begin, t.end, 0.0, 2.0};
    if (w.find("Paris") != std::string_view::npos) t = {t.begin, t.end, 1.0, 0.0};
  }
  auto kept = [&](double weight) {
    return DropWords(coarse, kDocuments, tokens, 22, weight, CountWords).text;
  };
  EXPECT_EQ(kept(0.0).find("Lisbon"), std::string::npos);
  EXPECT_NE(kept(0.0).find("Paris"), std::string::npos);
  EXPECT_NE(kept(1.0).find("Lisbon"), std::string::npos);
  EXPECT_EQ(kept(1.0).find("Paris"), std::string::npos);
}

TEST(CompressOptionsTest, RefusesOutOfRangeOptions) {
  CompressOptions o;
  o.ratio = 4;
  EXPECT_TRUE(ValidateCompressOptions(o).ok());
  for (double bad_ratio : {0.5, 1.0, 1e9}) {
    CompressOptions b = o;
    b.ratio = bad_ratio;
    EXPECT_EQ(ValidateCompressOptions(b).code(), StatusCode::kInvalidArgument) << bad_ratio;
  }
  CompressOptions both = o;
  both.budget_tokens = 10;
  EXPECT_EQ(ValidateCompressOptions(both).code(), StatusCode::kInvalidArgument);
  CompressOptions share = o;
  share.fine_share = -1;
  EXPECT_NE(ValidateCompressOptions(share).message().find("fine_share"), std::string::npos);
  CompressOptions scope = o;
  scope.fine_scope = 0.5;
  EXPECT_NE(ValidateCompressOptions(scope).message().find("fine_scope"), std::string::npos);
  CompressOptions segment = o;
  segment.segment_tokens = 3;
  EXPECT_NE(ValidateCompressOptions(segment).message().find("segment_tokens"), std::string::npos);
}

TEST(CompressTest, ABudgetSmallerThanTheQuestionIsRefused) {
  CompressModels models{CountWords, nullptr, nullptr};
  CompressOptions o;
  o.budget_tokens = 3;
  Result<Compressed> c = Compress("where is the Eiffel Tower", kDocuments, o, models);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("smaller than the question"), std::string::npos);
}

TEST(CompressTest, WithoutAScorerOnlyTheCoarseStageRuns) {
  CompressModels models{CountWords, nullptr, nullptr};
  CompressOptions o;
  o.budget_tokens = 8;
  Result<Compressed> c = Compress("capital of Portugal", kDocuments, o, models);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->text, "Lisbon is the capital of Portugal.");
  EXPECT_EQ(c->words_scored, 0u);
  ExpectExactMap(*c, kDocuments);
}

}  // namespace
}  // namespace engram::compress
