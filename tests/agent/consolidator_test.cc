// The extractive summary of background consolidation (agent/internal/consolidator.h).
#include "agent/internal/consolidator.h"

#include <gtest/gtest.h>

namespace engram::agent::internal {
namespace {

memory::Episode E(std::string role, std::string text) {
  memory::Episode e;
  e.role = std::move(role);
  e.text = std::move(text);
  return e;
}

TEST(ConsolidatorTest, ExtractiveSummaryKeepsUserTurnsAndSummaries) {
  const std::vector<memory::Episode> episodes = {
      E("summary", "- Lives in Lisbon"),
      E("user", "My sister Ana lives in Porto. She is a doctor."),
      E("assistant", "Nice to know!"),
      E("user", "  I like green tea\nand biscuits"),
      E("user", "What?"),
      E("note", "a note"),
  };
  EXPECT_EQ(ExtractiveSummary(episodes),
            "- Lives in Lisbon\n- My sister Ana lives in Porto. She is a doctor.\n"
            "- I like green tea and biscuits\n- What?\n");
  const std::vector<memory::Episode> long_turn = {E("user", std::string(1000, 'x'))};
  EXPECT_EQ(ExtractiveSummary(long_turn), "- " + std::string(400, 'x') + "\n");
  EXPECT_EQ(ExtractiveSummary({}), "- (earlier conversation)");
}

TEST(ConsolidatorTest, ModelSummarizerWithoutAModelIsExtractive) {
  const std::vector<memory::Episode> episodes = {E("user", "I was born in Lisbon. Long ago.")};
  Result<std::string> s = ModelSummarizer(nullptr, nullptr)(episodes);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "- I was born in Lisbon. Long ago.\n");
}

TEST(ConsolidatorTest, DrainWithNothingQueuedReturns) {
  Consolidator c(nullptr, nullptr, nullptr);
  c.Drain();
  c.Drain();
}

}  // namespace
}  // namespace engram::agent::internal
