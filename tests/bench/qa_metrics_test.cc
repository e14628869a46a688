// The SQuAD metric against the official evaluate-v1.1.py: every expected value below is what
// that script's normalize_answer / f1_score / exact_match_score return for the same input
// (Python 3.11), including its Unicode behaviour (str.lower, \b, str.split).
#include "bench/qa_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace engram::bench {
namespace {

TEST(SquadNormalize, MatchesTheOfficialScript) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"The Denver Broncos", "denver broncos"},
      {"  the  Denver\tBroncos. ", "denver broncos"},
      {"An apple a day", "apple day"},
      {"Santa Clara, California", "santa clara california"},
      // '_' is punctuation (removed) but a word character for \b: "the_theory" keeps its "the".
      {"Thea and the_theory", "thea and thetheory"},
      // Dashes are not ASCII punctuation (they stay) and not word characters (articles next to
      // them are whole words).
      {"a\u2013b the\u2014end", "\u2013b \u2014end"},
      {"\u00c9COLE Normale the", "\u00e9cole normale"},
      {"theater an anchor", "theater anchor"},
      {"U.S.", "us"},
      {"Saint-\u00c9tienne\u2019s 2nd", "saint\u00e9tienne\u2019s 2nd"},
      {"\u0130stanbul", "i\u0307stanbul"},  // Python's full lower-case mapping of U+0130
      {"a\u00a0b\u2009the c", "b c"},       // Unicode white space splits
      {"(A) the answer!", "answer"},
      {"1,000,000 km\u00b2", "1000000 km\u00b2"},
      {"", ""},
      {"the", ""},
      {"don't", "dont"},
      {"the caf\u00e9-au-lait", "caf\u00e9aulait"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(NormalizeSquadAnswer(in), want) << in;
}

TEST(SquadNormalize, KeepsInvalidUtf8Bytes) {
  EXPECT_EQ(NormalizeSquadAnswer("The caf\xe9!"), "caf\xe9");
}

TEST(SquadMetrics, ExactMatchAndF1AsTheOfficialScript) {
  struct Case {
    std::string prediction, reference;
    double em, f1;
  };
  const std::vector<Case> cases = {
      {"Denver Broncos", "The Denver Broncos", 1.0, 1.0},
      {"the Broncos of Denver", "Denver Broncos", 0.0, 0.8},
      {"Broncos Broncos", "Broncos", 0.0, 2.0 / 3.0},
      {"in 1879 and 1880", "1879", 0.0, 0.4},
      {"the", "a", 1.0, 0.0},  // both normalise to "": equal, but no token to share
      {"Carolina Panthers beat the Denver Broncos", "Denver Broncos", 0.0, 0.5714285714285715},
      {"Denver", "Denver Broncos", 0.0, 2.0 / 3.0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SquadExactMatch(c.prediction, c.reference), c.em) << c.prediction;
    EXPECT_NEAR(SquadF1(c.prediction, c.reference), c.f1, 1e-12) << c.prediction;
  }
}

TEST(SquadMetrics, MaximumOverReferences) {
  const std::vector<std::string> refs = {"Denver Broncos", "The Denver Broncos", "Broncos"};
  EXPECT_EQ(MaxSquadExactMatch("broncos", refs), 1.0);
  EXPECT_NEAR(MaxSquadF1("the Denver team", refs), 0.5, 1e-12);  // "denver team" vs "denver broncos"
  EXPECT_EQ(MaxSquadExactMatch("anything", {}), 0.0);
  EXPECT_EQ(MaxSquadF1("anything", {}), 0.0);
}

TEST(SquadMetrics, ContainsIsWholeTokens) {
  EXPECT_EQ(MaxSquadContains("It was the Denver Broncos, in 2016.", {"Denver Broncos"}), 1.0);
  EXPECT_EQ(MaxSquadContains("Denverites", {"Denver"}), 0.0);
  EXPECT_EQ(MaxSquadContains("Denver", {"Denver Broncos"}), 0.0);
  EXPECT_EQ(MaxSquadContains("the", {"a"}), 0.0);  // an empty reference is never contained
}

TEST(StripCitations, RemovesMarkersAndTheSpaceBefore) {
  EXPECT_EQ(StripCitations("in 1879 [2]."), "in 1879.");
  EXPECT_EQ(StripCitations("Denver Broncos [1][3]"), "Denver Broncos");
  EXPECT_EQ(StripCitations("Denver Broncos [1, 3] won"), "Denver Broncos won");
  EXPECT_EQ(StripCitations("[4] Denver"), " Denver");
  // Not citations: no digit, or letters inside.
  EXPECT_EQ(StripCitations("a [b] c [] d [1a]"), "a [b] c [] d [1a]");
  EXPECT_EQ(StripCitations("unclosed [12"), "unclosed [12");
  // Scoring after stripping: the marker is no token.
  EXPECT_EQ(MaxSquadExactMatch(StripCitations("1879 [2]"), {"1879"}), 1.0);
  EXPECT_LT(MaxSquadExactMatch("1879 [2]", {"1879"}), 1.0);
}

TEST(MultipleChoice, ParsesQualityInstructions) {
  const std::string text =
      "Why did the Tr'en leave Korvin's door unlocked?\n\n (A) They were careless. \n (B) Their "
      "subconscious knew (C) was no option.\n (C) They were tired.  \n (D) After their interview "
      "(A) nothing.";
  Result<MultipleChoice> mc = ParseMultipleChoice(text);
  ASSERT_TRUE(mc.ok()) << mc.status().ToString();
  EXPECT_EQ(mc->question, "Why did the Tr'en leave Korvin's door unlocked?");
  ASSERT_EQ(mc->options.size(), 4u);
  EXPECT_EQ(mc->options[0], "They were careless.");
  // Options start lines: a marker inside an option's text is text.
  EXPECT_EQ(mc->options[1], "Their subconscious knew (C) was no option.");
  EXPECT_EQ(mc->options[2], "They were tired.");
  EXPECT_EQ(mc->options[3], "After their interview (A) nothing.");
}

TEST(MultipleChoice, RejectsTextWithoutOptions) {
  EXPECT_FALSE(ParseMultipleChoice("Who wrote it?").ok());
  EXPECT_FALSE(ParseMultipleChoice("Who wrote it? (A) only one").ok());
  EXPECT_FALSE(ParseMultipleChoice("(A) x (B) y").ok());  // no question
  EXPECT_FALSE(ParseMultipleChoice("Q? (A)  (B) y").ok());  // empty option
  EXPECT_FALSE(ParseMultipleChoice("Q? x(A) a x(B) b").ok());  // markers must follow white space
  Result<MultipleChoice> two = ParseMultipleChoice("Q?\n(A) yes\n(B) no");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->options, (std::vector<std::string>{"yes", "no"}));
  // All on one line: markers after white space.
  Result<MultipleChoice> inline_options = ParseMultipleChoice("Q? (A) yes (B) no (C) maybe");
  ASSERT_TRUE(inline_options.ok());
  EXPECT_EQ(inline_options->options, (std::vector<std::string>{"yes", "no", "maybe"}));
}

TEST(MultipleChoice, ChoiceLetter) {
  EXPECT_EQ(*ParseChoiceLetter("(B) Their subconscious knew", 4), 1);
  EXPECT_EQ(*ParseChoiceLetter("  (D) Chelsea", 4), 3);
  EXPECT_FALSE(ParseChoiceLetter("(E) five", 4).ok());
  EXPECT_FALSE(ParseChoiceLetter("B) no parenthesis", 4).ok());
  EXPECT_FALSE(ParseChoiceLetter("", 4).ok());
}

}  // namespace
}  // namespace engram::bench
