// The generation part of an agent turn: generate through the scheduler, and with tools, parse
// the output's tool calls, run the built-in ones and generate again with their results (at most
// kMaxToolRounds rounds), or hand the client's calls back. A malformed call is reported to the
// model once; a second malformed output ends the turn with the text so far ("stop").
//
// Streaming: without tools the text streams as generated; with tools each round's text (tool
// markup removed) is passed on once the round is parsed.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_runtime.h"
#include "agent/internal/builtin_tools.h"
#include "agent/internal/tool_calls.h"
#include "agent/scheduler.h"

namespace engram::agent::internal {

inline constexpr int kMaxToolRounds = 3;

struct GenerationInput {
  std::vector<inference::ChatMessage> messages;
  inference::GenerateOptions generation;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::vector<ToolSpec> tools;  // built-in and client tools; empty: no tool calling
};

struct GenerationOutput {
  std::string text;
  std::vector<ToolCall> client_calls;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string finish_reason = "stop";
  int tool_rounds = 0;  // built-in rounds run
  double decode_ms = 0, first_token_ms = 0;
};

// One generation of the conversation so far (input.messages with input.generation), streaming
// through `on_text` when it is set (false cancels: a completion with StopReason::kCancelled).
using GenerateFn = std::function<Result<Completion>(const GenerationInput& input,
                                                    const Scheduler::OnText& on_text)>;
// The scheduler's: the chat template (EncodeChat), then Scheduler::Complete.
GenerateFn SchedulerGenerate(Scheduler& scheduler, const inference::Engine& engine);

// The turn-shaped result of a generation (recall fields left empty).
TurnResult TurnResultOf(GenerationOutput out);

// kCancelled when `on_text` returned false; errors of `generate` pass through.
Result<GenerationOutput> GenerateWithTools(const GenerateFn& generate, GenerationInput input,
                                           const ToolEnv& env,
                                           const std::function<bool(std::string_view)>& on_text);

}  // namespace engram::agent::internal
