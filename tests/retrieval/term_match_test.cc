// MatchTerms: idf shares of a query's terms in a passage, in its best sentence, and of its
// adjacent term pairs, on hand-computed cases.
#include "retrieval/term_match.h"

#include <gtest/gtest.h>

#include "retrieval/bm25.h"

namespace engram::retrieval {
namespace {

QueryTerms Query(std::string_view text, std::unordered_map<std::string, double> idf) {
  return {.terms = Bm25Terms(text), .idf = std::move(idf)};
}

TEST(TermMatchTest, SharesOfTheQuerysIdf) {
  // Terms: broncos (idf 3), won (1), super (2), bowl (2); "the" is a stop word.
  const QueryTerms q = Query("The Broncos won the Super Bowl",
                             {{"broncos", 3}, {"won", 1}, {"super", 2}, {"bowl", 2}});
  ASSERT_EQ(q.terms, (std::vector<std::string>{"broncos", "won", "super", "bowl"}));
  // The passage holds broncos, super, bowl (7 of 8), spread over two sentences: the best one
  // holds super and bowl (4 of 8); of the pairs (broncos won), (won super), (super bowl), one
  // is adjacent in the passage.
  const TermMatch m = MatchTerms(q, "The Broncos lost in Denver. Then came Super Bowl week!");
  EXPECT_DOUBLE_EQ(m.coverage, 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(m.sentence, 4.0 / 8.0);
  EXPECT_DOUBLE_EQ(m.bigrams, 1.0 / 3.0);
  // All of it in one sentence, in the query's order: every share is 1.
  const TermMatch all = MatchTerms(q, "Fans cheered. The Broncos won Super Bowl 50 in 2016.");
  EXPECT_DOUBLE_EQ(all.coverage, 1.0);
  EXPECT_DOUBLE_EQ(all.sentence, 1.0);
  EXPECT_DOUBLE_EQ(all.bigrams, 1.0);
}

// With stemmed query terms the passage is stemmed too: inflections match, and a pair stays a
// pair across them; words starting like no query term are skipped unstemmed (still not pairs).
TEST(TermMatchTest, StemmedQueriesMatchInflections) {
  QueryTerms q{.terms = Bm25Terms("painted horses", Stemming::kEnglish),
               .idf = {{"paint", 2}, {"hors", 1}},
               .stemming = Stemming::kEnglish};
  ASSERT_EQ(q.terms, (std::vector<std::string>{"paint", "hors"}));
  const TermMatch m = MatchTerms(q, "She sold it. Her painting horse stood.");
  EXPECT_DOUBLE_EQ(m.coverage, 1.0);
  EXPECT_DOUBLE_EQ(m.sentence, 1.0);
  EXPECT_DOUBLE_EQ(m.bigrams, 1.0);
  const TermMatch apart = MatchTerms(q, "Her paintings show a brown horse.");
  EXPECT_DOUBLE_EQ(apart.coverage, 1.0);
  EXPECT_DOUBLE_EQ(apart.bigrams, 0.0);  // "brown" sits between them
  q.stemming = Stemming::kNone;  // unstemmed passages: only the stems themselves would match
  EXPECT_DOUBLE_EQ(MatchTerms(q, "Her painting horse stood.").coverage, 0.0);
}

TEST(TermMatchTest, RepeatsCountOnceAndCaseIsFolded) {
  const QueryTerms q = Query("bowl BOWL bowl", {{"bowl", 2}});
  const TermMatch m = MatchTerms(q, "A Bowl.");
  EXPECT_DOUBLE_EQ(m.coverage, 1.0);
  EXPECT_DOUBLE_EQ(m.sentence, 1.0);
  EXPECT_DOUBLE_EQ(m.bigrams, 0.0);  // the pair (bowl, bowl) is not in "a bowl"
}

TEST(TermMatchTest, UnweighedQueriesAndEmptyPassagesScoreZero) {
  for (const QueryTerms& q : {Query("", {}), Query("the of and", {}),
                              Query("rivers lakes", {{"rivers", 0.0}, {"lakes", -1.0}})}) {
    const TermMatch m = MatchTerms(q, "Rivers and lakes.");
    EXPECT_EQ(m.coverage, 0.0);
    EXPECT_EQ(m.sentence, 0.0);
  }
  const TermMatch empty = MatchTerms(Query("rivers lakes", {{"rivers", 1}, {"lakes", 1}}), "");
  EXPECT_EQ(empty.coverage, 0.0);
  EXPECT_EQ(empty.sentence, 0.0);
  EXPECT_EQ(empty.bigrams, 0.0);
}

}  // namespace
}  // namespace engram::retrieval
