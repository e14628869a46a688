#include "agent/internal/builtin_tools.h"

#include <charconv>

#include "agent/internal/turn_inputs.h"

namespace engram::agent::internal {
namespace {

constexpr int kToolResults = 5;

Result<std::string> StringArg(const ToolCall& call, const char* name) {
  const nlohmann::json& v = call.arguments[name];
  if (!v.is_string() || v.get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument(std::string("argument '") + name +
                                   "' must be a non-empty string");
  }
  return v.get<std::string>();
}

std::string SearchDocuments(const ToolCall& call, const ToolEnv& env) {
  Result<std::string> query = StringArg(call, "query");
  if (!query.ok()) return "error: " + std::string(query.status().message());
  if (!env.search) return "no documents are attached to this conversation";
  std::vector<retrieval::SearchHit> hits = env.search(*query);
  if (hits.empty()) return "nothing found";
  std::string out;
  int n = 1;
  for (const retrieval::SearchHit& h : hits) {
    out += "[" + std::to_string(n++) + "] " + SourceText(h) + "\n";
  }
  return out;
}

std::string RecallMemory(const ToolCall& call, const ToolEnv& env) {
  Result<std::string> query = StringArg(call, "query");
  if (!query.ok()) return "error: " + std::string(query.status().message());
  auto found = RecallExcluding(*env.store, env.ns, *query, kToolResults, {});
  if (!found.ok()) return "error: " + std::string(found.status().message());
  if (found->empty()) return "nothing remembered about that";
  std::string out;
  for (const memory::RecalledEpisode& r : *found) {
    out += "#" + std::to_string(r.episode.id) + " " + MemoryLine(r.episode) + "\n";
  }
  return out;
}

std::string Remember(const ToolCall& call, const ToolEnv& env) {
  Result<std::string> text = StringArg(call, "text");
  if (!text.ok()) return "error: " + std::string(text.status().message());
  memory::Episode note;
  note.session = env.session;
  note.role = "note";
  note.text = *text;
  note.importance = 0.8;
  Result<uint64_t> id = env.store->Append(env.ns, note);
  if (!id.ok()) return "error: " + std::string(id.status().message());
  return "remembered as #" + std::to_string(*id);
}

std::string Forget(const ToolCall& call, const ToolEnv& env) {
  const nlohmann::json& v = call.arguments["id"];
  uint64_t id = 0;
  bool ok = false;
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() > 0)) {
    id = v.get<uint64_t>();
    ok = true;
  } else if (v.is_string()) {
    std::string_view s = v.get_ref<const std::string&>();
    if (!s.empty() && s[0] == '#') s.remove_prefix(1);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    ok = ec == std::errc() && end == s.data() + s.size() && id > 0;
  }
  if (!ok) return "error: argument 'id' must be a positive integer (an id from recall_memory)";
  Status s = env.store->Forget(env.ns, id);
  if (!s.ok()) return "error: " + std::string(s.message());
  return "forgot #" + std::to_string(id);
}

}  // namespace

std::string RunBuiltinTool(const ToolCall& call, const ToolEnv& env) {
  if (call.name == "search_documents") return SearchDocuments(call, env);
  if (call.name == "recall_memory") return RecallMemory(call, env);
  if (call.name == "remember") return Remember(call, env);
  if (call.name == "forget") return Forget(call, env);
  return "error: unknown tool '" + call.name + "'";
}

}  // namespace engram::agent::internal
