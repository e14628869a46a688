// The language model's question likelihood (inference/lm_reranker.h) with the default model puts
// the passage that answers a question above passages that do not; bad limits are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "inference/engine.h"
#include "inference/lm_reranker.h"

namespace engram::inference {
namespace {

const std::vector<std::string> kPassages = {
    "The train from Lisbon was late again on Monday, and the station was crowded with people "
    "waiting for the evening service.",
    "Marta Quill, the lighthouse keeper, painted the tower blue in the spring of 1911. Ships "
    "from Porto could see it from eleven miles out.",
    "Honey bees collect nectar from flowers and store it in wax combs, where it slowly thickens "
    "into honey over several weeks."};
constexpr const char* kQuestion = "Who painted the lighthouse tower blue?";

size_t Best(const std::vector<double>& scores) {
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

TEST(LmRerankerTest, TheAnsweringPassageIsLikeliest) {
  EngineOptions options;
  options.context.n_threads = 2;
  Result<std::unique_ptr<Engine>> engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Result<std::unique_ptr<LmReranker>> reranker = LmReranker::Create(**engine);
  ASSERT_TRUE(reranker.ok()) << reranker.status().ToString();
  Result<std::vector<double>> scores = (*reranker)->Score(kQuestion, kPassages);
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), kPassages.size());
  for (double s : *scores) EXPECT_TRUE(std::isfinite(s) && s < 0.0) << s;  // mean log p
  EXPECT_EQ(Best(*scores), 1u);
  // Scores do not depend on what else is in the batch (each passage is its own prefill), nor on
  // whether the passage's prompt was cached: a second Score reads the cached prompts, a
  // reranker that caches nothing evaluates every prompt again, and both give the same numbers.
  Result<std::vector<double>> alone = (*reranker)->Score(kQuestion, std::span(&kPassages[1], 1));
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ((*alone)[0], (*scores)[1]);
  Result<std::unique_ptr<LmReranker>> uncached =
      LmReranker::Create(**engine, {.cached_passages = 0});
  ASSERT_TRUE(uncached.ok()) << uncached.status().ToString();
  const std::string other = "Which ships could see the tower?";
  for (int round = 0; round < 2; ++round) {
    for (const std::string& q : {std::string(kQuestion), other}) {
      Result<std::vector<double>> cached = (*reranker)->Score(q, kPassages);
      Result<std::vector<double>> fresh = (*uncached)->Score(q, kPassages);
      ASSERT_TRUE(cached.ok() && fresh.ok());
      EXPECT_EQ(*cached, *fresh) << q;
      if (q == kQuestion) EXPECT_EQ(*cached, *scores);
    }
  }
  // A cache of one passage, cycled through three, still scores each the same.
  Result<std::unique_ptr<LmReranker>> one = LmReranker::Create(**engine, {.cached_passages = 1});
  ASSERT_TRUE(one.ok());
  for (int round = 0; round < 2; ++round) {
    Result<std::vector<double>> cycled = (*one)->Score(kQuestion, kPassages);
    ASSERT_TRUE(cycled.ok());
    EXPECT_EQ(*cycled, *scores);
  }
  // An empty question scores every passage 0; no passages, no scores.
  Result<std::vector<double>> empty = (*reranker)->Score("", kPassages);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, std::vector<double>(kPassages.size(), 0.0));
  EXPECT_TRUE((*reranker)->Score(kQuestion, {})->empty());

  for (int bad : {0, 7, 4097}) {
    Result<std::unique_ptr<LmReranker>> refused =
        LmReranker::Create(**engine, {.max_passage_tokens = bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("max_passage_tokens"), std::string::npos);
  }
  for (int bad : {-1, 4097}) {
    Result<std::unique_ptr<LmReranker>> refused =
        LmReranker::Create(**engine, {.cached_passages = bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("cached_passages"), std::string::npos);
  }
}

}  // namespace
}  // namespace engram::inference
