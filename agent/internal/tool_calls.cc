#include "agent/internal/tool_calls.h"

#include <set>

#include "common/json_read.h"
#include "common/json_write.h"

namespace engram::agent::internal {
namespace {

using nlohmann::json;
constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

ToolSpec Builtin(std::string name, std::string description, std::string arg, std::string arg_type,
                 std::string arg_description) {
  ToolSpec t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.parameters = {{"type", "object"},
                  {"properties", {{arg, {{"type", arg_type}, {"description", arg_description}}}}},
                  {"required", {arg}}};
  t.required = {arg};
  t.builtin = true;
  return t;
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// One call from the text between <tool_call> and </tool_call>; an error message otherwise.
Result<ToolCall> ParseOne(std::string_view body, const std::vector<ToolSpec>& tools) {
  Result<json> parsed = ParseJsonText(body, "tool call");
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return Status::InvalidArgument("tool call: expected a JSON object, got " +
                                   std::string(JsonTypeName(*parsed)));
  }
  const auto name = parsed->find("name");
  if (name == parsed->end() || !name->is_string()) {
    return Status::InvalidArgument("tool call: \"name\" must be a string");
  }
  const std::string tool = name->get<std::string>();
  const ToolSpec* spec = nullptr;
  for (const ToolSpec& t : tools) {
    if (t.name == tool) spec = &t;
  }
  if (spec == nullptr) {
    std::string known;
    for (const ToolSpec& t : tools) known += (known.empty() ? "" : ", ") + t.name;
    return Status::InvalidArgument("tool call: unknown tool '" + tool.substr(0, 64) +
                                   "'; the tools are " + known);
  }
  const auto args = parsed->find("arguments");
  if (args == parsed->end() || !args->is_object()) {
    return Status::InvalidArgument("tool call '" + tool + "': \"arguments\" must be an object");
  }
  for (const std::string& field : spec->required) {
    if (!args->contains(field) || (*args)[field].is_null()) {
      return Status::InvalidArgument("tool call '" + tool + "': argument '" + field +
                                     "' is required");
    }
  }
  for (const auto& [key, value] : parsed->items()) {
    if (key != "name" && key != "arguments") {
      return Status::InvalidArgument("tool call '" + tool + "': unexpected field '" +
                                     key.substr(0, 64) + "'");
    }
  }
  return ToolCall{"", tool, *args};
}

Result<ToolSpec> ClientTool(const json& entry, size_t i) {
  const std::string where = "tools[" + std::to_string(i) + "]";
  if (!entry.is_object() || entry.value("type", json()) != "function" ||
      !entry.contains("function") || !entry["function"].is_object()) {
    return Status::InvalidArgument(where +
                                   ": expected {\"type\": \"function\", \"function\": {...}}");
  }
  const json& f = entry["function"];
  ToolSpec t;
  if (!f.contains("name") || !f["name"].is_string() || f["name"].get<std::string>().empty()) {
    return Status::InvalidArgument(where + ".function.name: expected a non-empty string");
  }
  t.name = f["name"].get<std::string>();
  if (f.contains("description")) {
    if (!f["description"].is_string()) {
      return Status::InvalidArgument(where + ".function.description: expected a string");
    }
    t.description = f["description"].get<std::string>();
  }
  t.parameters = f.value("parameters", json{{"type", "object"}, {"properties", json::object()}});
  if (!t.parameters.is_object()) {
    return Status::InvalidArgument(where + ".function.parameters: expected a JSON schema object");
  }
  if (t.parameters.contains("required")) {
    const json& req = t.parameters["required"];
    if (!req.is_array()) {
      return Status::InvalidArgument(where + ".function.parameters.required: expected an array");
    }
    for (const json& r : req) {
      if (!r.is_string()) {
        return Status::InvalidArgument(where + ".function.parameters.required: expected strings");
      }
      t.required.push_back(r.get<std::string>());
    }
  }
  return t;
}

}  // namespace

std::vector<ToolSpec> BuiltinTools() {
  return {
      Builtin("search_documents", "Search the documents attached to this conversation.", "query",
              "string", "what to look for"),
      Builtin("recall_memory", "Recall earlier conversation turns and notes about a topic.",
              "query", "string", "what to remember"),
      Builtin("remember", "Store a note to remember in later conversations.", "text", "string",
              "the note"),
      Builtin("forget", "Forget a remembered episode or note by its id.", "id", "integer",
              "the id shown by recall_memory"),
  };
}

Result<std::vector<ToolSpec>> ToolsFromOpenAi(const json& tools) {
  std::vector<ToolSpec> out;
  if (tools.is_null()) return out;
  if (!tools.is_array()) return Status::InvalidArgument("tools: expected an array");
  std::set<std::string> names;
  for (const ToolSpec& b : BuiltinTools()) names.insert(b.name);
  for (size_t i = 0; i < tools.size(); ++i) {
    ENGRAM_TRY_ASSIGN(ToolSpec t, ClientTool(tools[i], i));
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument("tools[" + std::to_string(i) + "]: the name '" + t.name +
                                     "' is taken (by a built-in tool or an earlier entry)");
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string ToolInstructions(const std::vector<ToolSpec>& tools) {
  std::string text =
      "You may call tools. The tools are described in JSON inside <tools></tools>:\n<tools>\n";
  for (const ToolSpec& t : tools) {
    json spec = {
        {"type", "function"},
        {"function",
         {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}};
    text += JsonText(spec) + "\n";
  }
  text +=
      "</tools>\nTo call a tool, answer with one JSON object per call inside "
      "<tool_call></tool_call> tags:\n<tool_call>\n{\"name\": <tool name>, \"arguments\": "
      "<arguments object>}\n</tool_call>\nThe results come back inside "
      "<tool_response></tool_response>. When you need no tool, answer normally.";
  return text;
}

ParsedOutput ParseToolCalls(std::string_view output, const std::vector<ToolSpec>& tools) {
  ParsedOutput out;
  std::string text;
  size_t pos = 0;
  while (pos <= output.size()) {
    const size_t open = output.find(kOpen, pos);
    const size_t stray_close = output.find(kClose, pos);
    if (stray_close != std::string_view::npos && stray_close < open) {
      out.error = "tool call: </tool_call> without an opening <tool_call>";
      text += output.substr(pos, stray_close - pos);
      break;
    }
    if (open == std::string_view::npos) {
      text += output.substr(pos);
      break;
    }
    text += output.substr(pos, open - pos);
    const size_t body = open + kOpen.size();
    const size_t close = output.find(kClose, body);
    if (close == std::string_view::npos) {
      out.error = "tool call: <tool_call> is not closed by </tool_call>";
      break;
    }
    Result<ToolCall> call = ParseOne(output.substr(body, close - body), tools);
    if (!call.ok()) {
      out.error = std::string(call.status().message());
      break;
    }
    call->id = "call_" + std::to_string(out.calls.size());
    out.calls.push_back(std::move(*call));
    pos = close + kClose.size();
  }
  out.text = Trim(text);
  return out;
}

std::string ToolResponse(std::string_view name, std::string_view content) {
  return "<tool_response>\n" +
         JsonText(json{{"name", std::string(name)}, {"content", std::string(content)}}) +
         "\n</tool_response>";
}

}  // namespace engram::agent::internal
