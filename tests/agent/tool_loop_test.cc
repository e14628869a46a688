// The tool loop (agent/internal/tool_loop.h) with scripted model outputs in place of the
// scheduler: built-in calls run and their results go back to the model, client calls come back
// with finish_reason "tool_calls", a malformed call is reported once and a second one ends the
// turn, the number of rounds is bounded, and cancellation stops everything.
#include "agent/internal/tool_loop.h"

#include <gtest/gtest.h>

namespace engram::agent::internal {
namespace {

// Answers each generation with the next scripted output and records the conversations.
struct Script {
  std::vector<std::string> outputs;
  std::vector<std::vector<inference::ChatMessage>> seen;

  GenerateFn Fn() {
    return [this](const GenerationInput& input,
                  const Scheduler::OnText& on_text) -> Result<Completion> {
      seen.push_back(input.messages);
      Completion c;
      c.text = seen.size() <= outputs.size() ? outputs[seen.size() - 1] : "(script ended)";
      c.stats.generated_tokens = 3;
      c.stats.prompt_tokens = 10;
      c.stats.reason = inference::StopReason::kEndOfGeneration;
      if (on_text && !on_text(c.text)) c.stats.reason = inference::StopReason::kCancelled;
      return c;
    };
  }
};

GenerationInput Input(bool with_tools) {
  GenerationInput input;
  input.messages = {{"system", "sys"}, {"user", "question"}};
  if (with_tools) {
    input.tools = BuiltinTools();
    Result<std::vector<ToolSpec>> client = ToolsFromOpenAi(nlohmann::json::parse(
        R"([{"type": "function", "function": {"name": "get_weather",
             "parameters": {"type": "object", "required": ["city"]}}}])"));
    EXPECT_TRUE(client.ok());
    input.tools.insert(input.tools.end(), client->begin(), client->end());
  }
  return input;
}

ToolEnv Env(std::vector<std::string>* queries) {
  ToolEnv env;
  env.search = [queries](std::string_view q) {
    queries->push_back(std::string(q));
    retrieval::SearchHit hit;
    hit.text = "The office opens at nine.";
    return std::vector<retrieval::SearchHit>{hit};
  };
  return env;
}

constexpr char kSearch[] =
    "<tool_call>{\"name\": \"search_documents\", \"arguments\": {\"query\": "
    "\"office\"}}</tool_call>";

TEST(ToolLoopTest, WithoutToolsTheTextStreams) {
  Script script{{"Hello there."}};
  std::string streamed;
  Result<GenerationOutput> out =
      GenerateWithTools(script.Fn(), Input(false), {}, [&](std::string_view t) {
        streamed += t;
        return true;
      });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "Hello there.");
  EXPECT_EQ(streamed, "Hello there.");
  EXPECT_EQ(out->finish_reason, "stop");
}

TEST(ToolLoopTest, RunsBuiltinCallsAndFeedsTheResultsBack) {
  Script script{{kSearch, "It opens at nine."}};
  std::vector<std::string> queries;
  std::string streamed;
  Result<GenerationOutput> out =
      GenerateWithTools(script.Fn(), Input(true), Env(&queries), [&](std::string_view t) {
        streamed += t;
        return true;
      });
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->text, "It opens at nine.");
  EXPECT_EQ(streamed, "It opens at nine.") << "tool markup is never streamed";
  EXPECT_EQ(out->finish_reason, "stop");
  EXPECT_EQ(out->tool_rounds, 1);
  EXPECT_EQ(queries, std::vector<std::string>{"office"});
  ASSERT_EQ(script.seen.size(), 2u);
  const auto& second = script.seen[1];
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[2].role, "assistant");
  EXPECT_EQ(second[2].content, kSearch);
  EXPECT_NE(second[3].content.find("<tool_response>"), std::string::npos);
  EXPECT_NE(second[3].content.find("The office opens at nine."), std::string::npos);
  EXPECT_EQ(out->completion_tokens, 6);
  EXPECT_EQ(out->prompt_tokens, 20);
}

TEST(ToolLoopTest, ClientCallsComeBackToTheClient) {
  Script script{
      {"Checking. <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": "
       "\"Porto\"}}</tool_call>"}};
  std::vector<std::string> queries;
  Result<GenerationOutput> out = GenerateWithTools(script.Fn(), Input(true), Env(&queries), {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->finish_reason, "tool_calls");
  ASSERT_EQ(out->client_calls.size(), 1u);
  EXPECT_EQ(out->client_calls[0].name, "get_weather");
  EXPECT_EQ(out->client_calls[0].arguments["city"], "Porto");
  EXPECT_EQ(out->client_calls[0].id.rfind("call_", 0), 0u);
  EXPECT_EQ(out->text, "Checking.");
  EXPECT_EQ(script.seen.size(), 1u);
}

TEST(ToolLoopTest, AMalformedCallIsReportedOnceThenTheTurnEnds) {
  Script script{{"<tool_call>{\"name\": \"nope\"}</tool_call>",
                 "Well <tool_call>{not json</tool_call>", "never asked"}};
  std::vector<std::string> queries;
  Result<GenerationOutput> out = GenerateWithTools(script.Fn(), Input(true), Env(&queries), {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(script.seen.size(), 2u) << "one report, then the end";
  EXPECT_NE(script.seen[1].back().content.find("unknown tool 'nope'"), std::string::npos)
      << script.seen[1].back().content;
  EXPECT_EQ(out->finish_reason, "stop");
  EXPECT_EQ(out->text, "Well");
}

TEST(ToolLoopTest, AMalformedCallThenAnAnswerFinishesNormally) {
  Script script{{"<tool_call>{\"name\": \"search_documents\", \"arguments\": {}}</tool_call>",
                 "Sorry, here it is."}};
  std::vector<std::string> queries;
  Result<GenerationOutput> out = GenerateWithTools(script.Fn(), Input(true), Env(&queries), {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "Sorry, here it is.");
  EXPECT_NE(script.seen[1].back().content.find("'query' is required"), std::string::npos);
  EXPECT_TRUE(queries.empty()) << "a malformed call never runs";
}

TEST(ToolLoopTest, RoundsAreBounded) {
  Script script{{kSearch, kSearch, kSearch, kSearch, kSearch, kSearch}};
  std::vector<std::string> queries;
  Result<GenerationOutput> out = GenerateWithTools(script.Fn(), Input(true), Env(&queries), {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->tool_rounds, kMaxToolRounds);
  EXPECT_EQ(script.seen.size(), static_cast<size_t>(kMaxToolRounds + 1));
  EXPECT_EQ(queries.size(), static_cast<size_t>(kMaxToolRounds));
  EXPECT_EQ(out->finish_reason, "stop");
}

TEST(ToolLoopTest, CancellationStopsTheTurn) {
  Script script{{"Hello"}};
  Result<GenerationOutput> out =
      GenerateWithTools(script.Fn(), Input(false), {}, [](std::string_view) { return false; });
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  Script with_tools{{"Hello"}};
  std::vector<std::string> queries;
  out = GenerateWithTools(with_tools.Fn(), Input(true), Env(&queries),
                          [](std::string_view) { return false; });
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
}

TEST(ToolLoopTest, GenerationErrorsPassThrough) {
  GenerateFn failing = [](const GenerationInput&, const Scheduler::OnText&) -> Result<Completion> {
    return Status::ResourceExhausted("scheduler: the queue is full");
  };
  Result<GenerationOutput> out = GenerateWithTools(failing, Input(true), {}, {});
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace engram::agent::internal

namespace engram::agent::internal {
namespace {

TEST(ToolLoopTest, ToolResultsThatOverflowTheContextEndTheTurn) {
  int calls = 0;
  GenerateFn generate = [&](const GenerationInput&, const Scheduler::OnText&) -> Result<Completion> {
    if (++calls > 1) return Status::OutOfRange("scheduler: the prompt is 5000 tokens");
    Completion c;
    c.text = std::string("Looking. ") + kSearch;
    return c;
  };
  std::vector<std::string> queries;
  Result<GenerationOutput> out = GenerateWithTools(generate, Input(true), Env(&queries), {});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->text, "Looking.");
  EXPECT_EQ(out->finish_reason, "length");
  // The first generation's own overflow is the caller's error.
  calls = 1;
  EXPECT_EQ(GenerateWithTools(generate, Input(true), Env(&queries), {}).status().code(),
            StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace engram::agent::internal
