// Sessions as JSON: the settings a client sends (POST /v1/sessions, checked strictly: unknown
// fields and wrong types are refused with the field's name), and the session record the store
// writes (docs/formats/session.md) and the API returns.
#pragma once

#include <nlohmann/json.hpp>

#include "agent/agent_runtime.h"
#include "common/json_read.h"
#include "common/result.h"

namespace engram::agent::internal {

// Limits of SessionSettings, checked by CheckSettings.
inline constexpr size_t kMaxTitleBytes = 256;
inline constexpr size_t kMaxSystemPromptBytes = 64 * 1024;
inline constexpr size_t kMaxSessionCollections = 16;
inline constexpr int kMaxRecallKPerTurn = 100;
inline constexpr int kMaxSourcesKPerTurn = 50;
inline constexpr int kMaxHistoryTurns = 200;
inline constexpr int kMaxReplyTokens = 1 << 16;

// kInvalidArgument naming the field and its range ("max_tokens 0 is out of range; use 1..65536").
Status CheckSettings(const SessionSettings& settings);

// Settings from a client's object: every field optional (defaults of SessionSettings), unknown
// fields refused. `value` names the document in messages ("request body").
Result<SessionSettings> SettingsFromJson(const JsonValue& value);
nlohmann::json SettingsToJson(const SessionSettings& settings);

// The record / API object: {"id", "created_ms", "updated_ms", "messages", "settings": {...}}
// (the record adds "format").
nlohmann::json SessionToJson(const SessionInfo& info);
Result<SessionInfo> SessionFromJson(const JsonValue& value);

}  // namespace engram::agent::internal
