#include "agent/internal/session_json.h"

#include <cmath>
#include <set>

#include "agent/tenants.h"

namespace engram::agent::internal {
namespace {

using nlohmann::json;

Status Range(std::string_view field, double value, double lo, double hi) {
  if (std::isfinite(value) && value >= lo && value <= hi) return Status::OK();
  std::string v = std::isfinite(value) ? std::to_string(value) : "a non-finite value";
  return Status::InvalidArgument("settings: " + std::string(field) + " " + v +
                                 " is out of range; use " + std::to_string(lo) + ".." +
                                 std::to_string(hi));
}

Status IntRange(std::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi) return Status::OK();
  return Status::InvalidArgument("settings: " + std::string(field) + " " + std::to_string(value) +
                                 " is out of range; use " + std::to_string(lo) + ".." +
                                 std::to_string(hi));
}

Result<std::vector<std::string>> StringList(const JsonValue& array) {
  ENGRAM_TRY_ASSIGN(std::vector<JsonValue> items, array.Items());
  std::vector<std::string> out;
  for (const JsonValue& item : items) {
    ENGRAM_TRY_ASSIGN(std::string s, item.String());
    out.push_back(std::move(s));
  }
  return out;
}

// Reads one known field into `s`; false when `key` is not a settings field.
Result<bool> ReadField(const std::string& key, const JsonValue& v, SessionSettings& s) {
  if (key == "title") {
    ENGRAM_TRY_ASSIGN(s.title, v.String());
    return true;
  }
  if (key == "system_prompt") {
    ENGRAM_TRY_ASSIGN(s.system_prompt, v.String());
    return true;
  }
  if (key == "memory_namespace") {
    ENGRAM_TRY_ASSIGN(s.memory_namespace, v.String());
    return true;
  }
  if (key == "collections") {
    ENGRAM_TRY_ASSIGN(s.collections, StringList(v));
    return true;
  }
  if (key == "max_tokens") {
    ENGRAM_TRY_ASSIGN(s.max_tokens, v.Int(1, kMaxReplyTokens));
    return true;
  }
  if (key == "temperature") {
    ENGRAM_TRY_ASSIGN(double t, v.Number());
    if (Status st = Range("temperature", t, 0, 2); !st.ok()) return st;
    s.temperature = static_cast<float>(t);
    return true;
  }
  if (key == "recall_k") {
    ENGRAM_TRY_ASSIGN(s.recall_k, v.Int(0, kMaxRecallKPerTurn));
    return true;
  }
  if (key == "sources_k") {
    ENGRAM_TRY_ASSIGN(s.sources_k, v.Int(0, kMaxSourcesKPerTurn));
    return true;
  }
  if (key == "history_turns") {
    ENGRAM_TRY_ASSIGN(s.history_turns, v.Int(0, kMaxHistoryTurns));
    return true;
  }
  return false;
}

}  // namespace

Status CheckSettings(const SessionSettings& s) {
  if (s.title.size() > kMaxTitleBytes) {
    return Status::InvalidArgument("settings: title is longer than " +
                                   std::to_string(kMaxTitleBytes) + " bytes");
  }
  if (s.system_prompt.size() > kMaxSystemPromptBytes) {
    return Status::InvalidArgument("settings: system_prompt is longer than " +
                                   std::to_string(kMaxSystemPromptBytes) + " bytes");
  }
  if (!s.memory_namespace.empty()) {
    if (Status st = ValidateClientName("settings: memory_namespace", s.memory_namespace);
        !st.ok()) {
      return st;
    }
  }
  if (s.collections.size() > kMaxSessionCollections) {
    return Status::InvalidArgument("settings: more than " + std::to_string(kMaxSessionCollections) +
                                   " collections");
  }
  std::set<std::string> seen;
  for (const std::string& c : s.collections) {
    if (Status st = ValidateClientName("settings: collection", c); !st.ok()) return st;
    if (!seen.insert(c).second) {
      return Status::InvalidArgument("settings: collection '" + c + "' is listed twice");
    }
  }
  if (Status st = IntRange("max_tokens", s.max_tokens, 1, kMaxReplyTokens); !st.ok()) return st;
  if (Status st = Range("temperature", s.temperature, 0, 2); !st.ok()) return st;
  if (Status st = IntRange("recall_k", s.recall_k, 0, kMaxRecallKPerTurn); !st.ok()) return st;
  if (Status st = IntRange("sources_k", s.sources_k, 0, kMaxSourcesKPerTurn); !st.ok()) return st;
  return IntRange("history_turns", s.history_turns, 0, kMaxHistoryTurns);
}

Result<SessionSettings> SettingsFromJson(const JsonValue& value) {
  ENGRAM_TRY_ASSIGN(auto members, value.Members());
  SessionSettings settings;
  for (const auto& [key, v] : members) {
    if (v.IsNull()) continue;
    ENGRAM_TRY_ASSIGN(bool known, ReadField(key, v, settings));
    if (!known) {
      return Status::InvalidArgument(
          value.Describe() + ": unknown field '" + key.substr(0, 64) +
          "'; session settings are title, system_prompt, memory_namespace, collections, "
          "max_tokens, temperature, recall_k, sources_k, history_turns");
    }
  }
  if (Status st = CheckSettings(settings); !st.ok()) return st;
  return settings;
}

json SettingsToJson(const SessionSettings& s) {
  return {{"title", s.title},
          {"system_prompt", s.system_prompt},
          {"memory_namespace", s.memory_namespace},
          {"collections", s.collections},
          {"max_tokens", s.max_tokens},
          {"temperature", s.temperature},
          {"recall_k", s.recall_k},
          {"sources_k", s.sources_k},
          {"history_turns", s.history_turns}};
}

json SessionToJson(const SessionInfo& info) {
  return {{"id", info.id},
          {"created_ms", info.created_ms},
          {"updated_ms", info.updated_ms},
          {"messages", info.messages},
          {"settings", SettingsToJson(info.settings)}};
}

Result<SessionInfo> SessionFromJson(const JsonValue& value) {
  SessionInfo info;
  ENGRAM_TRY_ASSIGN(info.id, value.StringField("id"));
  ENGRAM_TRY_ASSIGN(info.created_ms, value.IntField("created_ms", 0));
  ENGRAM_TRY_ASSIGN(info.updated_ms, value.IntField("updated_ms", 0));
  ENGRAM_TRY_ASSIGN(int64_t messages, value.IntField("messages", 0));
  info.messages = static_cast<uint64_t>(messages);
  ENGRAM_TRY_ASSIGN(JsonValue settings, value.Field("settings"));
  ENGRAM_TRY_ASSIGN(info.settings, SettingsFromJson(settings));
  return info;
}

}  // namespace engram::agent::internal
