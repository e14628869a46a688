// CitationFilter: an answer never carries a citation to a source that was not in the prompt,
// whether it is streamed in pieces or filtered whole; and the source packing of rag prompts.
#include "agent/citations.h"

#include <gtest/gtest.h>

#include <memory>

#include "agent/internal/qa_prompt.h"

namespace engram::agent {
namespace {

// The filter of the last FilterWhole call, to look at what it cited and dropped.
std::unique_ptr<CitationFilter> last;

std::string FilterWhole(std::string_view text, std::set<int> valid, CitationFilter** out = nullptr) {
  last = std::make_unique<CitationFilter>(std::move(valid));
  if (out != nullptr) *out = last.get();
  std::string result = last->Feed(text);
  return result + last->Flush();
}

// The same text fed one byte at a time gives the same output.
std::string FilterBytes(std::string_view text, std::set<int> valid) {
  CitationFilter f(std::move(valid));
  std::string out;
  for (char c : text) out += f.Feed(std::string_view(&c, 1));
  out += f.Flush();
  return out;
}

TEST(CitationFilterTest, KeepsValidDropsInvalid) {
  CitationFilter* f = nullptr;
  EXPECT_EQ(FilterWhole("Paris [1] is big [7].", {1, 2}, &f), "Paris [1] is big .");
  EXPECT_EQ(f->cited(), std::vector<int>({1}));
  EXPECT_EQ(f->dropped(), std::vector<int>({7}));
  EXPECT_EQ(FilterWhole("Both [2, 9] and [1][3].", {1, 2}, &f), "Both [2] and [1].");
  EXPECT_EQ(f->cited(), std::vector<int>({2, 1}));
  EXPECT_EQ(f->dropped(), std::vector<int>({9, 3}));
}

TEST(CitationFilterTest, TextThatIsNotAMarkerPassesUnchanged) {
  for (std::string_view text :
       {"an array a[i] and [x]", "[] and [,] and [1 2]", "unfinished [12", "[[1]]", "a [ b ] c",
        "[1234567890123456789012345678901234567890]"}) {
    SCOPED_TRACE(text);
    const std::string whole = FilterWhole(text, {1});
    EXPECT_EQ(whole, FilterBytes(text, {1}));
    EXPECT_EQ(whole.find("[12]"), std::string::npos);
  }
  EXPECT_EQ(FilterWhole("a[i] and [x]", {1}), "a[i] and [x]");
  EXPECT_EQ(FilterWhole("unfinished [12", {12}), "unfinished [12");
  EXPECT_EQ(FilterWhole("[[1]]", {1}), "[[1]]");
}

TEST(CitationFilterTest, StreamedEqualsWhole) {
  const std::string text = "One [1], two [2,3], none [44] and [1, 44, 2] end.";
  EXPECT_EQ(FilterWhole(text, {1, 2}), FilterBytes(text, {1, 2}));
  EXPECT_EQ(FilterWhole(text, {1, 2}), "One [1], two [2], none  and [1, 2] end.");
}

TEST(CitationsTest, SnippetAndStrip) {
  EXPECT_EQ(Snippet("  a\n\n b  c "), "a b c");
  const std::string long_text(500, 'x');
  EXPECT_LE(Snippet(long_text, 200).size(), 200 + std::string("…").size());
  // Never cuts inside a UTF-8 character.
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "é";
  const std::string s = Snippet(accents, 201);
  EXPECT_EQ((s.size() - std::string("…").size()) % 2, 0u);
  EXPECT_EQ(StripCitations("Paris [1]. It is big [2, 3]."), "Paris. It is big.");
}

retrieval::SearchHit Hit(uint64_t doc, size_t begin, std::string text, double score) {
  retrieval::SearchHit h;
  h.document_id = doc;
  h.begin = begin;
  h.end = begin + text.size();
  h.text = std::move(text);
  h.score = score;
  h.source = "doc" + std::to_string(doc);
  return h;
}

TEST(PackSourcesTest, BestFirstWithinBudgetInDocumentOrderMergingOverlaps) {
  const std::vector<retrieval::SearchHit> hits = {
      Hit(2, 100, "beta gamma delta", 0.9),      // best
      Hit(1, 0, "alpha one two three", 0.8),
      Hit(2, 90, "zeta eta beta gamma", 0.7),    // overlaps the best: merged
      Hit(3, 0, std::string(400, 'w'), 0.6),     // too long for the budget: skipped
      Hit(1, 500, "far away", 0.5),
  };
  auto words = [](std::string_view t) {
    return static_cast<int64_t>(std::count(t.begin(), t.end(), ' ') + 1 + (t.size() > 100 ? 200 : 0));
  };
  const std::vector<internal::Source> s = internal::PackSources(hits, 40, words);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].document, 1u);
  EXPECT_EQ(s[0].begin, 0u);
  EXPECT_EQ(s[1].document, 1u);
  EXPECT_EQ(s[1].begin, 500u);
  EXPECT_EQ(s[2].document, 2u);
  EXPECT_EQ(s[2].begin, 90u);
  EXPECT_EQ(s[2].end, 116u);
  EXPECT_EQ(s[2].text.size(), s[2].end - s[2].begin);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i].number, static_cast<int>(i + 1));
}

}  // namespace
}  // namespace engram::agent
