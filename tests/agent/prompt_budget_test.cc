// Prompt budgeting (agent/internal/prompt_budget.h) with a word counter standing in for the
// tokenizer: oldest history goes first, then the lowest-ranked memories and sources, and the
// user message is never cut.
#include "agent/internal/prompt_budget.h"

#include <gtest/gtest.h>

#include <sstream>

#include "agent/internal/source_compression.h"

namespace engram::agent::internal {
namespace {

// Words of every message, plus 2 per message (the template's markers).
int64_t Words(std::span<const inference::ChatMessage> messages) {
  int64_t n = 0;
  for (const inference::ChatMessage& m : messages) {
    std::istringstream in(m.content);
    std::string w;
    while (in >> w) ++n;
    n += 2;
  }
  return n;
}

PromptParts Parts() {
  PromptParts p;
  p.instruction = "Be brief.";  // 2 words
  p.memories = {"m0 best memory", "m1 second memory", "m2 third memory"};
  p.sources = {"s0 best source", "s1 second source"};
  for (int i = 0; i < 6; ++i) {
    p.history.push_back({i % 2 == 0 ? "user" : "assistant", "h" + std::to_string(i) + " x x x"});
  }
  p.user = "where does Ana live";
  return p;
}

TEST(PromptBudgetTest, EverythingFitsInALargeBudget) {
  Result<FittedPrompt> p = FitPrompt(Parts(), 1000, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->messages.size(), 8u);  // system + 6 history + user
  EXPECT_EQ(p->memories.size(), 3u);
  EXPECT_EQ(p->sources.size(), 2u);
  EXPECT_EQ(p->history_dropped, 0u);
  EXPECT_EQ(p->tokens, Words(p->messages));
  EXPECT_NE(p->messages[0].content.find("Things you remember from earlier:\n- m0 best memory"),
            std::string::npos);
  EXPECT_NE(p->messages[0].content.find("[2] s1 second source"), std::string::npos);
  EXPECT_EQ(p->messages.back().content, "where does Ana live");
}

TEST(PromptBudgetTest, DropsOldestHistoryFirst) {
  const int64_t full = FitPrompt(Parts(), 1000, Words)->tokens;
  // Each history message is 4 words + 2: room for all but two of them.
  Result<FittedPrompt> p = FitPrompt(Parts(), full - 7, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->history_dropped, 2u);
  EXPECT_LE(p->tokens, full - 7);
  EXPECT_EQ(p->messages[1].content, "h2 x x x") << "the oldest kept message is the third";
  EXPECT_EQ(p->memories.size(), 3u) << "memories stay while history can go";
  EXPECT_EQ(p->sources.size(), 2u);
}

TEST(PromptBudgetTest, ThenDropsLowestRankedMemoriesAndSources) {
  PromptParts parts = Parts();
  const int64_t no_history = [&] {
    PromptParts q = parts;
    q.history.clear();
    return FitPrompt(q, 1000, Words)->tokens;
  }();
  Result<FittedPrompt> p = FitPrompt(parts, no_history - 1, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->history_dropped, 6u);
  EXPECT_EQ(p->memories, (std::vector<size_t>{0, 1})) << "the lowest-ranked memory went first";
  EXPECT_EQ(p->sources.size(), 2u);
  p = FitPrompt(parts, no_history - 5, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->memories, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(p->sources, (std::vector<size_t>{0})) << "then the lowest-ranked source";
}

TEST(PromptBudgetTest, NeverCutsTheUserMessage) {
  PromptParts parts = Parts();
  const int64_t minimal = Words(
      std::vector<inference::ChatMessage>{{"system", parts.instruction}, {"user", parts.user}});
  Result<FittedPrompt> p = FitPrompt(parts, minimal, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->memories.empty());
  EXPECT_TRUE(p->sources.empty());
  ASSERT_EQ(p->messages.size(), 2u);
  EXPECT_EQ(p->messages[1].content, parts.user);

  Result<FittedPrompt> too_small = FitPrompt(parts, minimal - 1, Words);
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_small.status().message().find("shorten the message"), std::string::npos);
}

TEST(PromptBudgetTest, EmptyPartsStillFit) {
  PromptParts parts;
  parts.user = "hi";
  Result<FittedPrompt> p = FitPrompt(parts, 100, Words);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->messages.size(), 2u);
}

int WordCount(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string w;
  int n = 0;
  while (in >> w) ++n;
  return n;
}

// The real compressor (coarse stage) with words for tokens, the user's message as the question.
SourceShortener WordShortener(const std::string& question) {
  return [question](std::span<const std::string> sources, int64_t budget)
             -> Result<std::vector<std::pair<size_t, std::string>>> {
    ENGRAM_TRY_ASSIGN(ShortenedSources s,
                      ShortenSources(question, {sources.begin(), sources.end()}, budget,
                                     {.count_tokens = WordCount}));
    std::vector<std::pair<size_t, std::string>> out;
    for (ShortenedSource& k : s.sources) out.emplace_back(k.index, std::move(k.text));
    return out;
  };
}

PromptParts LongSources() {
  PromptParts p = Parts();
  p.history.clear();
  p.sources = {
      "Ana moved to Porto in 2019. The weather there is mild in winter. Trams climb the hills "
      "near the river. The bridges were built in the nineteenth century.",
      "The bakery on the corner sells bread at dawn. Ana lives near the bakery in Porto. The "
      "owner opens at six every day. Cakes are sold out by noon most days."};
  return p;
}

TEST(PromptBudgetTest, CompressesSourcesInsteadOfDroppingThem) {
  const PromptParts parts = LongSources();
  PromptParts bare = parts;
  bare.sources.clear();
  const int64_t without_sources = FitPrompt(bare, 1000, Words)->tokens;
  const int64_t budget = without_sources + 40;  // room for half of the sources' words or so
  Result<FittedPrompt> dropped = FitPrompt(parts, budget, Words);
  ASSERT_TRUE(dropped.ok());
  EXPECT_LT(dropped->sources.size(), 2u) << "without compression a source must go";

  Result<FittedPrompt> p = FitPrompt(parts, budget, Words, WordShortener(parts.user));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->sources_compressed);
  EXPECT_EQ(p->sources, (std::vector<size_t>{0, 1})) << "both sources stay, shortened";
  EXPECT_EQ(p->memories.size(), 3u) << "memories are not dropped while sources can shrink";
  EXPECT_LE(p->tokens, budget);
  const std::string& system = p->messages.front().content;
  EXPECT_TRUE(system.starts_with(parts.instruction)) << "the instruction is never compressed";
  EXPECT_NE(system.find("Ana lives near the bakery in Porto."), std::string::npos) << system;
  EXPECT_EQ(system.find("Cakes are sold out"), std::string::npos) << "irrelevant text goes";
  EXPECT_EQ(p->messages.back().content, parts.user) << "the user's message is never cut";
}

TEST(PromptBudgetTest, CompressionChangesNothingWhenEverythingFits) {
  const PromptParts parts = LongSources();
  Result<FittedPrompt> plain = FitPrompt(parts, 1000, Words);
  Result<FittedPrompt> with = FitPrompt(parts, 1000, Words, WordShortener(parts.user));
  ASSERT_TRUE(plain.ok() && with.ok());
  EXPECT_FALSE(with->sources_compressed);
  ASSERT_EQ(plain->messages.size(), with->messages.size());
  for (size_t i = 0; i < plain->messages.size(); ++i) {
    EXPECT_EQ(plain->messages[i].content, with->messages[i].content);
  }
}

TEST(PromptBudgetTest, AFailingShortenerDropsSourcesAsBefore) {
  const PromptParts parts = LongSources();
  PromptParts bare = parts;
  bare.sources.clear();
  const int64_t budget = FitPrompt(bare, 1000, Words)->tokens + 40;
  SourceShortener failing = [](std::span<const std::string>, int64_t)
      -> Result<std::vector<std::pair<size_t, std::string>>> {
    return Status::InvalidArgument("compress: no");
  };
  Result<FittedPrompt> plain = FitPrompt(parts, budget, Words);
  Result<FittedPrompt> p = FitPrompt(parts, budget, Words, failing);
  ASSERT_TRUE(plain.ok() && p.ok());
  EXPECT_FALSE(p->sources_compressed);
  EXPECT_EQ(p->sources, plain->sources);
  EXPECT_EQ(p->memories, plain->memories);
}

}  // namespace
}  // namespace engram::agent::internal
