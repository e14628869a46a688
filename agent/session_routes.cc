// The /v1/sessions routes (agent/server.h): create, list, get (with its messages), delete, and
// post a message (an agent turn, optionally streamed as server-sent events). Every route acts on
// the tenant the API key names; another tenant's session id is "not found" exactly like an
// unknown one.
//
//   POST   /v1/sessions                 {"title", "system_prompt", "memory_namespace",
//                                        "collections", "max_tokens", "temperature",
//                                        "recall_k", "sources_k", "history_turns"} -> 201 session
//   GET    /v1/sessions                 {"object": "list", "data": [session...]}
//   GET    /v1/sessions/{id}            session + "messages":
//   [{"id","role","content","created_ms"}] DELETE /v1/sessions/{id}            {"id", "object":
//   "session.deleted", "deleted": true} POST   /v1/sessions/{id}/messages   {"content", "stream",
//   "max_tokens", "temperature",
//                                        "top_p", "seed", "stop", "tools"}
//     -> {"id", "object": "session.message", "session", "message": {"role", "content"},
//         "finish_reason", "usage": {...}, "recalled": [episode ids], "tool_calls"?}
//     stream: data: {"delta": "..."} ... data: {<the object above without "message">} data: [DONE]
#include <chrono>

#include "agent/agent_runtime.h"
#include "agent/internal/route_helpers.h"
#include "agent/internal/session_json.h"
#include "agent/internal/session_store.h"
#include "agent/internal/streamed_turn.h"
#include "agent/server.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "common/random_id.h"

namespace engram::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json SessionObject(const SessionInfo& info) {
  return {{"id", info.id},
          {"object", "session"},
          {"created_ms", info.created_ms},
          {"updated_ms", info.updated_ms},
          {"message_count", info.messages},
          {"settings", internal::SettingsToJson(info.settings)}};
}

std::string TurnId() { return "turn-" + RandomHex(8); }

bool Unavailable(const Services& services, ResponseWriter& out) {
  if (services.agent != nullptr) return false;
  out.Error(503, "server_error", "sessions are not available on this server (no agent runtime)");
  return true;
}

void CountTokens(Services& services, const TurnResult& r) {
  if (services.metrics == nullptr) return;
  services.metrics->AddTokens(r.prompt_tokens, r.completion_tokens, r.decode_ms / 1000,
                              r.first_token_ms / 1000);
}

// A malformed id answers like an unknown one (404), as the other routes' ids do.
bool UnknownId(const std::string& id, ResponseWriter& out) {
  if (internal::ValidateSessionId(id).ok()) return false;
  out.Error(404, "not_found_error", "session '" + id.substr(0, 64) + "' not found");
  return true;
}

Result<std::vector<std::string>> StopStrings(const JsonValue& v) {
  if (v.raw().is_string()) return std::vector<std::string>{v.raw().get<std::string>()};
  ENGRAM_TRY_ASSIGN(std::vector<JsonValue> items, v.Items());
  if (items.size() > 4) return Status::InvalidArgument(v.Describe() + ": at most 4 stop strings");
  std::vector<std::string> out;
  for (const JsonValue& item : items) {
    ENGRAM_TRY_ASSIGN(std::string s, item.String());
    if (s.empty()) return Status::InvalidArgument(v.Describe() + ": an empty stop string");
    out.push_back(std::move(s));
  }
  return out;
}

// One field of a message body into `r`; false for an unknown field.
Result<bool> ReadTurnField(const std::string& key, const JsonValue& v, const ServeLimits& limits,
                           TurnRequest& r, bool& stream) {
  if (key == "content") {
    ENGRAM_TRY_ASSIGN(r.user_text, v.String());
    return true;
  }
  if (key == "stream") {
    ENGRAM_TRY_ASSIGN(stream, v.Bool());
    return true;
  }
  if (key == "max_tokens") {
    ENGRAM_TRY_ASSIGN(r.max_tokens, v.Int(1, limits.max_tokens));
    return true;
  }
  if (key == "temperature" || key == "top_p") {
    ENGRAM_TRY_ASSIGN(double x, v.Number());
    const bool ok = key == "temperature" ? (x >= 0 && x <= 2) : (x > 0 && x <= 1);
    if (!ok) {
      return Status::InvalidArgument(v.Describe() + " is out of range; use " +
                                     (key == "temperature" ? "0..2" : "a value in (0, 1]"));
    }
    (key == "temperature" ? r.temperature : r.top_p) = static_cast<float>(x);
    return true;
  }
  if (key == "seed") {
    ENGRAM_TRY_ASSIGN(int64_t seed, v.Int(0));
    r.seed = static_cast<uint64_t>(seed);
    return true;
  }
  if (key == "stop") {
    ENGRAM_TRY_ASSIGN(r.stop, StopStrings(v));
    return true;
  }
  if (key == "tools") {
    r.tools = v.raw();
    return true;
  }
  return false;
}

Result<TurnRequest> TurnRequestFromJson(const json& body, const ServeLimits& limits, bool* stream) {
  JsonValue root(body, "request body");
  ENGRAM_TRY_ASSIGN(auto members, root.Members());
  TurnRequest r;
  *stream = false;
  for (const auto& [key, v] : members) {
    if (v.IsNull()) continue;
    ENGRAM_TRY_ASSIGN(bool known, ReadTurnField(key, v, limits, r, *stream));
    if (!known) {
      return Status::InvalidArgument(
          "request body: unknown field '" + key.substr(0, 64) +
          "'; a message takes content, stream, max_tokens, temperature, top_p, seed, stop, tools");
    }
  }
  if (!root.Has("content")) {
    return Status::InvalidArgument("request body: field 'content' (the message text) is missing");
  }
  r.deadline = std::chrono::steady_clock::now() + limits.request_timeout;
  return r;
}

json TurnObject(const std::string& id, std::string_view session, const TurnResult& r) {
  json usage = {{"prompt_tokens", r.prompt_tokens},
                {"completion_tokens", r.completion_tokens},
                {"total_tokens", r.prompt_tokens + r.completion_tokens}};
  json out = {{"id", id},           {"object", "session.message"},
              {"session", session}, {"finish_reason", r.finish_reason},
              {"usage", usage},     {"recalled", r.recalled}};
  if (!r.client_tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& c : r.client_tool_calls) {
      calls.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", JsonText(c.arguments)}}}});
    }
    out["tool_calls"] = calls;
  }
  return out;
}

void CreateSession(Services& services, const HttpRequest& req, ResponseWriter& out) {
  if (Unavailable(services, out)) return;
  // No body at all: the default settings.
  Result<json> body = req.body.empty() ? Result<json>(json::object()) : req.JsonBody();
  if (!body.ok()) return out.Error(body.status());
  Result<SessionSettings> settings = internal::SettingsFromJson(JsonValue(*body, "request body"));
  if (!settings.ok()) return out.Error(settings.status());
  if (!body->contains("max_tokens")) settings->max_tokens = services.limits.default_max_tokens;
  if (settings->max_tokens > services.limits.max_tokens) {
    return out.Error(400, "invalid_request_error",
                     "request body: max_tokens " + std::to_string(settings->max_tokens) +
                         " is above this server's limit of " +
                         std::to_string(services.limits.max_tokens));
  }
  Result<SessionInfo> info = services.agent->CreateSession(req.tenant, *settings);
  if (!info.ok()) return out.Error(info.status());
  out.Json(201, SessionObject(*info));
}

void ListSessions(Services& services, const HttpRequest& req, ResponseWriter& out) {
  if (Unavailable(services, out)) return;
  Result<std::vector<SessionInfo>> all = services.agent->ListSessions(req.tenant);
  if (!all.ok()) return out.Error(all.status());
  json data = json::array();
  for (const SessionInfo& info : *all) data.push_back(SessionObject(info));
  out.Json(200, {{"object", "list"}, {"data", data}});
}

void GetSession(Services& services, const HttpRequest& req, ResponseWriter& out) {
  if (Unavailable(services, out)) return;
  const std::string& id = req.params.at("id");
  if (UnknownId(id, out)) return;
  Result<SessionInfo> info = services.agent->GetSession(req.tenant, id);
  if (!info.ok()) return out.Error(info.status());
  Result<std::vector<memory::Episode>> history = services.agent->History(req.tenant, id);
  if (!history.ok()) return out.Error(history.status());
  json messages = json::array();
  for (const memory::Episode& e : *history) {
    messages.push_back(
        {{"id", e.id}, {"role", e.role}, {"content", e.text}, {"created_ms", e.timestamp_ms}});
  }
  json body = SessionObject(*info);
  body["messages"] = messages;
  out.Json(200, body);
}

void DeleteSession(Services& services, const HttpRequest& req, ResponseWriter& out) {
  if (Unavailable(services, out)) return;
  const std::string& id = req.params.at("id");
  if (UnknownId(id, out)) return;
  if (Status s = services.agent->DeleteSession(req.tenant, id); !s.ok()) return out.Error(s);
  out.Json(200, {{"id", id}, {"object", "session.deleted"}, {"deleted", true}});
}

// Streams a turn as server-sent events. Headers go out with the first text, so a turn that
// fails before any (unknown session, bad request, full queue) is still a plain JSON error.
void StreamTurn(Services& services, internal::StreamedTurn& turn, const std::string& id,
                std::string_view session, ResponseWriter& out) {
  bool started = false, gone = false;
  std::string piece;
  for (auto next = turn.Wait(&piece, 100ms); next != internal::StreamedTurn::kDone;
       next = turn.Wait(&piece, 100ms)) {
    if (next == internal::StreamedTurn::kTimeout) {
      if (out.ClientGone()) gone = true;
    } else if (!gone) {
      if (!started) started = out.StartEvents();
      gone = !started || !out.Event(JsonText(json{{"delta", piece}}));
    }
    if (gone) turn.Cancel();
  }
  Result<TurnResult> r = turn.Finish();
  if (r.ok()) CountTokens(services, *r);
  if (gone) return;
  if (!started) {
    if (!r.ok()) return out.Error(r.status());
    if (!out.StartEvents()) return;
  }
  if (!r.ok()) {
    out.Event(JsonText(json{
        {"error", {{"message", std::string(r.status().message())}, {"type", "server_error"}}}}));
  } else {
    out.Event(JsonText(TurnObject(id, session, *r)));
  }
  out.Event("[DONE]");
  out.EndEvents();
}

void PostMessage(Services& services, const HttpRequest& req, ResponseWriter& out) {
  if (Unavailable(services, out)) return;
  const std::string id = req.params.at("id");
  if (UnknownId(id, out)) return;
  Result<json> body = req.JsonBody();
  if (!body.ok()) return out.Error(body.status());
  bool stream = false;
  Result<TurnRequest> request = TurnRequestFromJson(*body, services.limits, &stream);
  if (!request.ok()) return out.Error(request.status());
  AgentRuntime* agent = services.agent;
  const Tenant tenant = req.tenant;
  internal::StreamedTurn turn([agent, tenant, id, r = std::move(*request)](const auto& on_text) {
    return agent->Turn(tenant, id, r, on_text);
  });
  const std::string turn_id = TurnId();
  if (stream) return StreamTurn(services, turn, turn_id, id, out);
  std::string ignored;
  internal::DisconnectWatch watch(out);
  while (turn.Wait(&ignored, 100ms) != internal::StreamedTurn::kDone) {
    if (watch.Gone()) turn.Cancel();
  }
  Result<TurnResult> r = turn.Finish();
  if (!r.ok()) return out.Error(r.status());
  CountTokens(services, *r);
  json reply = TurnObject(turn_id, id, *r);
  reply["message"] = {{"role", "assistant"}, {"content", r->text}};
  out.Json(200, reply);
}

}  // namespace

void AddSessionRoutes(Router& router, Services& services) {
  Services* s = &services;
  router.Add("POST", "/v1/sessions",
             [s](const HttpRequest& req, ResponseWriter& out) { CreateSession(*s, req, out); });
  router.Add("GET", "/v1/sessions",
             [s](const HttpRequest& req, ResponseWriter& out) { ListSessions(*s, req, out); });
  router.Add("GET", "/v1/sessions/{id}",
             [s](const HttpRequest& req, ResponseWriter& out) { GetSession(*s, req, out); });
  router.Add("DELETE", "/v1/sessions/{id}",
             [s](const HttpRequest& req, ResponseWriter& out) { DeleteSession(*s, req, out); });
  router.Add("POST", "/v1/sessions/{id}/messages",
             [s](const HttpRequest& req, ResponseWriter& out) { PostMessage(*s, req, out); });
}

}  // namespace engram::agent
