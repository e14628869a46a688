// How the LoCoMo reader turns the dataset into turns and questions: speaker-prefixed text with
// a shared image's caption, sessions in numeric order dated by their session, evidence lists
// split, and one clear error for a bad date.
#include "bench/locomo.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace engram::bench {
namespace {

namespace fs = std::filesystem;

class LocomoTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& json) {
    const fs::path p = fs::path(::testing::TempDir()) / "locomo_test.json";
    std::ofstream(p) << json;
    return p.string();
  }
};

constexpr const char* kConversation = R"([{
  "sample_id": "conv-1",
  "session_10_date_time": "9:00 am on 2 June, 2023",
  "session_10": [{"speaker": "Ana", "dia_id": "D10:1", "text": "I moved to Porto."}],
  "session_2_date_time": "1:56 pm on 8 May, 2023",
  "session_2": [
    {"speaker": "Ana", "dia_id": "D2:1", "text": "Look what I made!",
     "blip_caption": "a photo of a painting of a sunset over a lake", "query": "painting sunset"},
    {"speaker": "Ben", "dia_id": "D2:2", "text": "Wow, lovely."}],
  "qa": [
    {"question": "What did Ana paint?", "answer": "a sunset", "evidence": ["D2:1"], "category": 4},
    {"question": "Where and what?", "evidence": ["D2:1; D10:1"], "category": 1},
    {"question": "No evidence", "evidence": [], "category": 5}]
}])";

TEST_F(LocomoTest, TurnsCarryTheirSpeakerTheirSessionDateAndTheirImageCaption) {
  auto read = ReadLocomo(Write(kConversation));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  const LocomoConversation& c = (*read)[0];
  EXPECT_EQ(c.id, "conv-1");
  ASSERT_EQ(c.turns.size(), 3u);
  // session_2 before session_10; the caption (never the image search query) follows the text.
  EXPECT_EQ(c.turns[0].text,
            "Ana: Look what I made! [shared a photo of a painting of a sunset over a lake]");
  EXPECT_EQ(c.turns[0].speaker, "Ana");
  EXPECT_EQ(c.turns[0].session, "session_2");
  EXPECT_EQ(c.turns[1].text, "Ben: Wow, lovely.");
  EXPECT_EQ(c.turns[2].dia_id, "D10:1");
  EXPECT_EQ(c.turns[0].time_ms, 1683554160000);  // 2023-05-08 13:56 UTC
  EXPECT_GT(c.turns[2].time_ms, c.turns[0].time_ms);
  EXPECT_EQ(c.last_session_ms, c.turns[2].time_ms);
  // Questions without evidence are left out; "D2:1; D10:1" is two evidence turns.
  ASSERT_EQ(c.questions.size(), 2u);
  EXPECT_EQ(c.questions[0].category, "4");
  EXPECT_EQ(c.questions[1].evidence, (std::vector<std::string>{"D2:1", "D10:1"}));
}

TEST_F(LocomoTest, CaptionsCanBeLeftOut) {
  auto read = ReadLocomo(Write(kConversation), {.captions = false});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ((*read)[0].turns[0].text, "Ana: Look what I made!");
}

TEST_F(LocomoTest, ABadSessionDateIsOneClearError) {
  std::string bad = kConversation;
  bad.replace(bad.find("9:00 am on 2 June, 2023"), 23, "next Tuesday");
  auto read = ReadLocomo(Write(bad));
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("cannot read the date 'next Tuesday'"), std::string::npos)
      << read.status().ToString();
}

}  // namespace
}  // namespace engram::bench
