// The continuous-batching scheduler with the real default model: requests decoded together give
// the text each gives alone, the queue bound, cancellation, deadlines and cache accounting.
#include "agent/scheduler.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace engram::agent {
namespace {

using inference::Engine;

const Engine& DefaultEngine() {
  static const std::unique_ptr<Engine> engine = [] {
    inference::EngineOptions options;
    options.context.n_ctx = 2048;
    options.context.n_threads = 2;
    options.generation.sampler.temperature = 0.0f;
    Result<std::unique_ptr<Engine>> e = Engine::Load(options);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }();
  return *engine;
}

GenerationRequest Request(const Engine& engine, const std::string& question, int max_tokens) {
  GenerationRequest r;
  const std::vector<inference::ChatMessage> messages = {{"user", question}};
  r.prompt = engine.EncodeChat(messages);
  r.generation.max_tokens = max_tokens;
  r.generation.sampler.temperature = 0.0f;
  return r;
}

std::string Alone(const Engine& engine, const GenerationRequest& r) {
  auto ctx = engine.NewContext();
  EXPECT_TRUE(ctx.ok());
  std::string text;
  auto stats = engine.Generate(**ctx, r.prompt, r.generation, [&](std::string_view t) {
    text.append(t);
    return true;
  });
  EXPECT_TRUE(stats.ok());
  return text;
}

TEST(SchedulerTest, RequestsDecodedTogetherGiveTheTextEachGivesAlone) {
  const Engine& engine = DefaultEngine();
  auto scheduler = Scheduler::Start(engine, {.max_sequences = 8});
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().ToString();
  const std::vector<std::string> questions = {
      "What is the capital of France?", "Name three colours.", "Count from one to five.",
      "Write a haiku about the sea.", "What is 2 + 2?", "Who wrote Hamlet?"};
  std::vector<std::future<Result<Completion>>> futures;
  for (const std::string& q : questions) {
    futures.push_back(std::async(std::launch::async, [&, q] {
      return (*scheduler)->Complete(Request(engine, q, 24));
    }));
  }
  int matched = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    Result<Completion> c = futures[i].get();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_GT(c->stats.generated_tokens, 0);
    EXPECT_EQ(c->stats.prompt_tokens, static_cast<int64_t>(Request(engine, questions[i], 24).prompt.size()));
    const std::string alone = Alone(engine, Request(engine, questions[i], 24));
    matched += c->text == alone;
    EXPECT_EQ(c->text, alone) << "question " << questions[i];
  }
  const SchedulerStats stats = (*scheduler)->stats();
  // Batching: fewer decode steps than generated tokens.
  EXPECT_LT(stats.steps, stats.generated_tokens) << stats.steps;
  EXPECT_EQ(stats.active, 0u);
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

TEST(SchedulerTest, CancelFreesTheSequenceAndDeadlinesEndRequests) {
  const Engine& engine = DefaultEngine();
  auto scheduler = Scheduler::Start(engine, {.max_sequences = 2});
  ASSERT_TRUE(scheduler.ok());
  std::promise<Result<Completion>> done;
  int pieces = 0;
  std::shared_ptr<Ticket> ticket;
  auto submitted = (*scheduler)->Submit(
      Request(engine, "Tell me a very long story about a dragon.", 500),
      [&](std::string_view) { return ++pieces < 5; },  // the client goes away after 5 pieces
      [&](Result<Completion> r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(submitted.ok());
  Result<Completion> c = done.get_future().get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->stats.reason, inference::StopReason::kCancelled);
  EXPECT_LT(c->stats.generated_tokens, 20);

  GenerationRequest late = Request(engine, "Tell me a long story.", 500);
  late.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  Result<Completion> timed_out = (*scheduler)->Complete(std::move(late));
  EXPECT_EQ(timed_out.status().code(), StatusCode::kUnavailable);

  // Ticket::Cancel from another thread.
  std::promise<Result<Completion>> done2;
  auto t2 = (*scheduler)->Submit(Request(engine, "Tell me a long story.", 500), {},
                                 [&](Result<Completion> r) { done2.set_value(std::move(r)); });
  ASSERT_TRUE(t2.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*t2)->Cancel();
  Result<Completion> c2 = done2.get_future().get();
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->stats.reason, inference::StopReason::kCancelled);
  EXPECT_EQ((*scheduler)->stats().kv_blocks_used, 0);
}

TEST(SchedulerTest, BoundedQueueAndBadRequests) {
  const Engine& engine = DefaultEngine();
  auto scheduler = Scheduler::Start(engine, {.max_sequences = 1, .max_queue = 1});
  ASSERT_TRUE(scheduler.ok());
  std::vector<std::shared_ptr<Ticket>> tickets;
  int rejected = 0;
  std::atomic<int> finished{0};
  for (int i = 0; i < 4; ++i) {
    auto t = (*scheduler)->Submit(Request(engine, "Tell me a long story.", 64), {},
                                  [&](Result<Completion>) { ++finished; });
    if (t.ok()) {
      tickets.push_back(*t);
    } else {
      EXPECT_EQ(t.status().code(), StatusCode::kResourceExhausted) << t.status().ToString();
      ++rejected;
    }
  }
  EXPECT_GE(rejected, 2);  // one running, one waiting at most
  for (auto& t : tickets) t->Cancel();

  GenerationRequest empty;
  EXPECT_EQ((*scheduler)->Submit(empty, {}, [](Result<Completion>) {}).status().code(),
            StatusCode::kInvalidArgument);
  GenerationRequest huge = Request(engine, "hi", 8);
  huge.prompt.assign(5000, huge.prompt[0]);
  EXPECT_EQ((*scheduler)->Submit(huge, {}, [](Result<Completion>) {}).status().code(),
            StatusCode::kOutOfRange);
  GenerationRequest bad_token = Request(engine, "hi", 8);
  bad_token.prompt.push_back(1 << 30);
  EXPECT_EQ((*scheduler)->Submit(bad_token, {}, [](Result<Completion>) {}).status().code(),
            StatusCode::kInvalidArgument);
  (*scheduler)->Shutdown(/*drain=*/true);
  EXPECT_EQ(finished.load(), static_cast<int>(tickets.size()));
  EXPECT_EQ((*scheduler)->Submit(Request(engine, "hi", 8), {}, [](Result<Completion>) {})
                .status()
                .code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace engram::agent
