// Tool calling in the Hermes / Qwen style: the tools are described in the system prompt and the
// model answers a call as
//   <tool_call>{"name": "search_documents", "arguments": {"query": "..."}}</tool_call>
// Output is parsed strictly: every <tool_call> block must close and hold one JSON object with a
// known "name" and an "arguments" object carrying every field the tool's JSON schema lists in
// "required". Anything else is an error the caller reports back to the model (once).
//
// The built-in tools (search_documents, recall_memory, remember, forget) run inside the turn;
// the client's own tools (OpenAI "tools") are handed back to the client.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_runtime.h"
#include "common/result.h"

namespace engram::agent::internal {

struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters;          // JSON schema of the arguments (an object schema)
  std::vector<std::string> required;  // parameters["required"]
  bool builtin = false;
};

// The four built-in tools.
std::vector<ToolSpec> BuiltinTools();

// The client's tools from an OpenAI "tools" array ([{"type": "function", "function": {"name",
// "description", "parameters"}}]). kInvalidArgument naming the entry for a malformed one, a
// name used twice, or a name of a built-in tool. Null or an empty array: none.
Result<std::vector<ToolSpec>> ToolsFromOpenAi(const nlohmann::json& tools);

// The system-prompt section that describes `tools` and the call format.
std::string ToolInstructions(const std::vector<ToolSpec>& tools);

struct ParsedOutput {
  std::string text;             // the output with every <tool_call> block removed (trimmed)
  std::vector<ToolCall> calls;  // in order; ids "call_<n>" (the caller may renumber)
  std::string error;            // empty when every block was well-formed
};

// Parses `output` against `tools`. With an error, `calls` holds the well-formed calls before it.
ParsedOutput ParseToolCalls(std::string_view output, const std::vector<ToolSpec>& tools);

// A tool result as the message fed back to the model:
// "<tool_response>{"name": ..., "content": ...}</tool_response>".
std::string ToolResponse(std::string_view name, std::string_view content);

}  // namespace engram::agent::internal
