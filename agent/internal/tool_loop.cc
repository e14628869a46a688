#include "agent/internal/tool_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/random_id.h"

namespace engram::agent::internal {
namespace {

// "call_<16 hex digits>", random: ids say nothing about other turns.
std::string CallId() { return "call_" + RandomHex(8); }

struct Round {
  Completion completion;
  bool cancelled = false;
};

Result<Round> GenerateOnce(const GenerateFn& generate, const GenerationInput& input, bool stream,
                           const std::function<bool(std::string_view)>& on_text) {
  Round round;
  Scheduler::OnText forward;
  if (stream && on_text) {
    forward = [&](std::string_view text) {
      if (on_text(text)) return true;
      round.cancelled = true;
      return false;
    };
  }
  ENGRAM_TRY_ASSIGN(round.completion, generate(input, forward));
  if (round.completion.stats.reason == inference::StopReason::kCancelled) round.cancelled = true;
  return round;
}

void Append(std::string& text, std::string_view more) {
  if (more.empty()) return;
  if (!text.empty()) text += "\n";
  text += more;
}

std::string FinishReason(const Completion& c) {
  return c.stats.reason == inference::StopReason::kMaxTokens ? "length" : "stop";
}

// Runs the built-in calls of one round and adds the assistant's output and the results to the
// conversation.
void FeedBack(GenerationInput& input, const std::string& output, const std::vector<ToolCall>& calls,
              const ToolEnv& env) {
  std::string results;
  for (const ToolCall& call : calls) {
    if (!results.empty()) results += "\n";
    results += ToolResponse(call.name, RunBuiltinTool(call, env));
  }
  input.messages.push_back({"assistant", output});
  input.messages.push_back({"user", results});
}

}  // namespace

GenerateFn SchedulerGenerate(Scheduler& scheduler, const inference::Engine& engine) {
  return [&scheduler, &engine](const GenerationInput& input, const Scheduler::OnText& on_text) {
    GenerationRequest request;
    request.prompt = engine.EncodeChat(input.messages);
    request.generation = input.generation;
    request.deadline = input.deadline;
    return scheduler.Complete(std::move(request), on_text);
  };
}

Result<GenerationOutput> GenerateWithTools(const GenerateFn& generate, GenerationInput input,
                                           const ToolEnv& env,
                                           const std::function<bool(std::string_view)>& on_text) {
  GenerationOutput out;
  const bool tools = !input.tools.empty();
  bool reported_malformed = false;
  while (true) {
    Result<Round> next = GenerateOnce(generate, input, !tools, on_text);
    if (!next.ok() && next.status().code() == StatusCode::kOutOfRange &&
        (out.tool_rounds > 0 || reported_malformed)) {
      // The tool results no longer fit the context: end with what the model said so far.
      spdlog::info("turn: {}; ending the tool rounds", next.status().message());
      out.finish_reason = "length";
      return out;
    }
    ENGRAM_TRY_ASSIGN(Round round, std::move(next));
    const Completion& c = round.completion;
    out.prompt_tokens += c.stats.prompt_tokens;
    out.completion_tokens += c.stats.generated_tokens;
    out.decode_ms += c.stats.decode_ms;
    if (out.first_token_ms == 0) out.first_token_ms = c.first_token_ms;
    if (round.cancelled) return Status::Cancelled("turn cancelled: the client stopped reading");
    out.finish_reason = FinishReason(c);
    if (!tools) {
      out.text = c.text;
      return out;
    }
    ParsedOutput parsed = ParseToolCalls(c.text, input.tools);
    if (on_text && !parsed.text.empty() && !on_text(parsed.text)) {
      return Status::Cancelled("turn cancelled: the client stopped reading");
    }
    Append(out.text, parsed.text);
    if (!parsed.error.empty()) {
      if (reported_malformed || out.tool_rounds >= kMaxToolRounds) {
        spdlog::info("turn: malformed tool call again ({}); ending the turn", parsed.error);
        out.finish_reason = "stop";
        return out;
      }
      reported_malformed = true;
      input.messages.push_back({"assistant", c.text});
      input.messages.push_back(
          {"user", ToolResponse("error", parsed.error + ". Answer again: either call a tool "
                                                        "with valid JSON or answer normally.")});
      continue;
    }
    if (parsed.calls.empty()) return out;
    for (ToolCall& call : parsed.calls) call.id = CallId();
    std::vector<ToolCall> builtin;
    for (ToolCall& call : parsed.calls) {
      const bool is_builtin = std::any_of(input.tools.begin(), input.tools.end(), [&](auto& t) {
        return t.builtin && t.name == call.name;
      });
      (is_builtin ? builtin : out.client_calls).push_back(std::move(call));
    }
    if (!out.client_calls.empty()) {
      out.finish_reason = "tool_calls";
      return out;
    }
    if (out.tool_rounds >= kMaxToolRounds) {
      out.finish_reason = "stop";
      return out;
    }
    ++out.tool_rounds;
    FeedBack(input, c.text, builtin, env);
  }
}

TurnResult TurnResultOf(GenerationOutput out) {
  TurnResult r;
  r.text = std::move(out.text);
  r.client_tool_calls = std::move(out.client_calls);
  r.prompt_tokens = out.prompt_tokens;
  r.completion_tokens = out.completion_tokens;
  r.finish_reason = std::move(out.finish_reason);
  r.decode_ms = out.decode_ms;
  r.first_token_ms = out.first_token_ms;
  return r;
}

}  // namespace engram::agent::internal
