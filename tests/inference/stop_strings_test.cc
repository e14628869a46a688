#include "inference/stop_strings.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace engram::inference {
namespace {

struct Outcome {
  std::vector<std::string> outputs;  // what each Feed returned
  std::string text;                  // everything emitted, Flush included
  bool stopped = false;
  std::string matched;
};

Outcome FeedAll(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopStringMatcher m(std::move(stops));
  Outcome run;
  for (const std::string& piece : pieces) {
    run.outputs.push_back(m.Feed(piece));
    run.text += run.outputs.back();
  }
  run.text += m.Flush();
  run.stopped = m.stopped();
  run.matched = m.matched();
  return run;
}

TEST(StopStringTest, WithoutStopsTextPassesStraightThrough) {
  for (const auto& stops : {std::vector<std::string>{}, std::vector<std::string>{"", ""}}) {
    const Outcome run = FeedAll(stops, {"Hello", ", ", "world"});
    EXPECT_EQ(run.outputs, (std::vector<std::string>{"Hello", ", ", "world"}));
    EXPECT_FALSE(run.stopped);
    EXPECT_EQ(run.matched, "");
  }
}

TEST(StopStringTest, StopSplitAcrossPieces) {
  const Outcome run = FeedAll({"</s>"}, {"Hello <", "/", "s> world"});
  EXPECT_EQ(run.outputs, (std::vector<std::string>{"Hello ", "", ""}));
  EXPECT_EQ(run.text, "Hello ");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.matched, "</s>");
}

TEST(StopStringTest, PartialPrefixIsReleasedWhenItStopsMatching) {
  const Outcome run = FeedAll({"\nUser:"}, {"a\nUs", "e", "d it", "\n"});
  EXPECT_EQ(run.outputs, (std::vector<std::string>{"a", "", "\nUsed it", ""}));
  EXPECT_EQ(run.text, "a\nUsed it\n");  // the trailing "\n" comes from Flush
  EXPECT_FALSE(run.stopped);
}

TEST(StopStringTest, HoldsBackOnlyTheLongestPossiblePrefix) {
  StopStringMatcher m({"abc"});
  EXPECT_EQ(m.Feed("xaab"), "xa");  // "ab" could start "abc"; "aab" cannot
  EXPECT_EQ(m.Feed("x"), "abx");
  // A stop that overlaps itself: "aab" inside "aaab" starts at the second 'a'.
  StopStringMatcher self({"aab"});
  std::string out;
  for (char c : std::string("aaab")) out += self.Feed(std::string(1, c));
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(self.stopped());
}

TEST(StopStringTest, FirstOfMultipleStopsWins) {
  const Outcome run = FeedAll({"STOP", "END"}, {"foo EN", "D bar STOP"});
  EXPECT_EQ(run.text, "foo ");
  EXPECT_EQ(run.matched, "END");
}

TEST(StopStringTest, OverlappingPrefixesStopAtTheShorterOne) {
  // "ab" completes before "abc" could, however the text is split.
  for (const auto& pieces : {std::vector<std::string>{"xab"}, std::vector<std::string>{"xa", "bc"},
                             std::vector<std::string>{"x", "a", "b", "c"}}) {
    const Outcome run = FeedAll({"abc", "ab"}, pieces);
    EXPECT_EQ(run.text, "x");
    EXPECT_EQ(run.matched, "ab");
  }
  // "ab" held as a prefix of "abc", then "bd" completes inside it.
  const Outcome run = FeedAll({"abc", "bd"}, {"ab", "d"});
  EXPECT_EQ(run.text, "a");
  EXPECT_EQ(run.matched, "bd");
}

TEST(StopStringTest, EarliestCompletionWinsWhateverThePieces) {
  // "bc" completes at byte 3, before "abcd" at byte 4, so the output is "a" even though "abcd"
  // starts earlier.
  for (const auto& pieces : {std::vector<std::string>{"abcd"}, std::vector<std::string>{"a", "bcd"},
                             std::vector<std::string>{"a", "b", "c", "d"}}) {
    const Outcome run = FeedAll({"abcd", "bc"}, pieces);
    EXPECT_EQ(run.text, "a");
    EXPECT_EQ(run.matched, "bc");
  }
  // Ending at the same byte: the longer one (it starts earlier) wins.
  const Outcome run = FeedAll({"b", "ab"}, {"xab"});
  EXPECT_EQ(run.text, "x");
  EXPECT_EQ(run.matched, "ab");
}

TEST(StopStringTest, StopAtVeryStart) {
  const Outcome run = FeedAll({"<|end|>"}, {"<|end|>and more"});
  EXPECT_EQ(run.text, "");
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.matched, "<|end|>");
}

TEST(StopStringTest, FlushReleasesHeldText) {
  StopStringMatcher m({"abc"});
  EXPECT_EQ(m.Feed("hello ab"), "hello ");
  EXPECT_EQ(m.Flush(), "ab");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopStringTest, TextAfterTheStopIsNeverEmitted) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.Feed("a STOP b"), "a ");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Feed("more text"), "");
  EXPECT_EQ(m.Feed("STOP"), "");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_EQ(m.matched(), "STOP");
}

TEST(StopStringTest, MultiByteCharactersSplitAcrossPieces) {
  // "é" is C3 A9; pieces split it, as byte-fallback tokens do.
  const Outcome hit = FeedAll({"\xC3\xA9!"}, {"caf\xC3", "\xA9", "! yes"});
  EXPECT_EQ(hit.text, "caf");
  EXPECT_TRUE(hit.stopped);
  // "日本" is E6 97 A5 E6 9C AC; a different second character releases all bytes intact.
  const Outcome miss = FeedAll({"日本"}, {"\xE6\x97", "\xA5\xE6", "\x9C", "\xAD"});
  EXPECT_EQ(miss.text, "\xE6\x97\xA5\xE6\x9C\xAD");
  EXPECT_FALSE(miss.stopped);
}

// Reference: the input byte by byte; stop at the first byte where some stop string ends (the
// longest if several end there); emit everything before it.
Outcome Reference(const std::vector<std::string>& stops, const std::string& text) {
  Outcome run;
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best = 0;
    for (const std::string& s : stops) {
      if (!s.empty() && s.size() <= end && s.size() > best &&
          text.compare(end - s.size(), s.size(), s) == 0) {
        best = s.size();
        run.matched = s;
      }
    }
    if (best > 0) {
      run.text = text.substr(0, end - best);
      run.stopped = true;
      return run;
    }
  }
  run.text = text;
  return run;
}

// How much of `text` must be held back: its longest suffix that is a proper prefix of a stop.
size_t ReferenceHold(const std::vector<std::string>& stops, const std::string& text) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    for (size_t len = 1; len < s.size() && len <= text.size(); ++len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) hold = std::max(hold, len);
    }
  }
  return hold;
}

TEST(StopStringTest, RandomTextAndPiecesMatchTheByteByByteModel) {
  std::mt19937 rng(2024);
  auto random_string = [&](size_t min_len, size_t max_len) {
    std::string s(min_len + rng() % (max_len - min_len + 1), 'a');
    for (char& c : s) c = static_cast<char>('a' + rng() % 3);
    return s;
  };
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::string> stops;
    const int n_stops = static_cast<int>(rng() % 4);
    for (int i = 0; i < n_stops; ++i) stops.push_back(random_string(0, 5));
    const std::string text = random_string(0, 30);
    StopStringMatcher m(stops);
    std::string fed, emitted;
    size_t pos = 0;
    while (pos < text.size() && !m.stopped()) {
      const size_t len = std::min<size_t>(text.size() - pos, rng() % 6);
      fed += text.substr(pos, len);
      emitted += m.Feed(std::string_view(text).substr(pos, len));
      pos += len;
      if (!m.stopped()) {
        // Everything but the longest possible stop prefix has been emitted, in order.
        ASSERT_EQ(emitted.size(), fed.size() - ReferenceHold(stops, fed)) << fed;
        ASSERT_EQ(emitted, fed.substr(0, emitted.size()));
      }
    }
    emitted += m.Flush();
    const Outcome want = Reference(stops, text);
    SCOPED_TRACE(testing::Message() << "text '" << text << "' iteration " << iter);
    EXPECT_EQ(emitted, want.text);
    EXPECT_EQ(m.stopped(), want.stopped);
    EXPECT_EQ(m.matched(), want.matched);
  }
}

}  // namespace
}  // namespace engram::inference
