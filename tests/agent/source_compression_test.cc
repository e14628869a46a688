// Source compression (agent/internal/source_compression.h) with words for tokens: every
// shortened source is its original text's kept spans, exactly, and fits the budget.
#include "agent/internal/source_compression.h"

#include <gtest/gtest.h>

#include <sstream>

namespace engram::agent::internal {
namespace {

int Words(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string w;
  int n = 0;
  while (in >> w) ++n;
  return n;
}

const std::vector<std::string> kTexts = {
    "The lighthouse was built in 1874.\nIts lamp burned whale oil at first. Storms damaged the "
    "tower twice. The keeper lived in the small house by the rocks.",
    "Gulls nest on the cliffs in May. Nothing here is about the keeper.",
    "In 1921 the lamp was electrified.  The keeper left in 1950, when the light became "
    "automatic. Tourists now climb the stairs in summer."};

TEST(SourceCompressionTest, KeptTextIsTheSourcesOwnBytes) {
  Result<ShortenedSources> s =
      ShortenSources("When did the light become automatic?", kTexts, 30, {.count_tokens = Words});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_FALSE(s->sources.empty());
  EXPECT_LE(s->tokens_out, 30);
  EXPECT_GT(s->tokens_in, s->tokens_out);
  size_t last = 0;
  for (const ShortenedSource& src : s->sources) {
    EXPECT_GE(src.index, last) << "sources stay in input order";
    last = src.index;
    const std::string& original = kTexts[src.index];
    std::string joined;
    bool best_inside = false;
    for (const TextRange& r : src.spans) {
      ASSERT_LT(r.begin, r.end);
      ASSERT_LE(r.end, original.size());
      if (!joined.empty()) joined += " ";
      joined += original.substr(r.begin, r.end - r.begin);
      best_inside |= src.best.begin >= r.begin && src.best.end <= r.end;
    }
    EXPECT_EQ(src.text, joined);
    EXPECT_TRUE(best_inside) << "the quote is kept text";
  }
  bool found = false;
  for (const ShortenedSource& src : s->sources) {
    found |= src.text.find("The keeper left in 1950") != std::string::npos;
  }
  EXPECT_TRUE(found) << "the answer's sentence is kept";
}

TEST(SourceCompressionTest, ABudgetBelowTheQuestionIsRefused) {
  Result<ShortenedSources> s =
      ShortenSources("When did the light become automatic?", kTexts, 2, {.count_tokens = Words});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::agent::internal
