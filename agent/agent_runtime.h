// Sessions and the agent turn: the hall every conversation goes through (HTTP sessions, the
// OpenAI endpoint with a "session", `engram chat`).
//
//   AgentRuntime runtime({.data_dir = dir, .engine = engine, .scheduler = scheduler,
//                         .memory = store, .embedder = embedder});
//   Result<SessionInfo> s = runtime.CreateSession(tenant, {.system_prompt = "Be brief."});
//   Result<TurnResult> r = runtime.Turn(tenant, s->id, {.user_text = "My sister is Ana."},
//                                       on_text);
//
// A turn: load the session → recall episodes from its memory namespace (relevance + BM25 +
// recency + importance) → search its attached collections → fit system prompt, recalled
// memories, sources and recent history into the prompt budget (older history comes back through
// recall and consolidation summaries, never silently cut; sources are compressed to the room
// left before any is dropped) → chat template → generate through the
// scheduler, streaming → append the user and assistant turns as episodes (fsynced before Turn
// returns) → consolidate old turns in the background once the session grows. With OpenAI
// `tools`, tool calls in the output are parsed strictly and executed (search_documents,
// recall_memory, remember, forget) or returned for the client's own tools.
//
// Sessions are records under <data_dir>/tenants/<tenant>/sessions/ (written atomically and
// fsynced); their turns are episodes of the session's memory namespace in the store, so a
// session continues after a restart or SIGKILL with nothing acknowledged lost.
//
// Thread safety: every method may be called from several threads; turns of one session run one
// at a time (in arrival order).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/scheduler.h"
#include "agent/tenants.h"
#include "common/result.h"
#include "inference/chat_template.h"
#include "inference/engine.h"
#include "memory/episodic_store.h"
#include "retrieval/embedder.h"

namespace engram::agent {

class Metrics;

struct SessionSettings {
  std::string title;
  std::string system_prompt;       // empty: the runtime's default
  // The client memory namespace the session recalls from and writes to (tenant-scoped);
  // empty: "session-<id>". Sessions that name the same namespace share memory.
  std::string memory_namespace;
  std::vector<std::string> collections;  // the tenant's collections searched every turn
  int max_tokens = 256;                  // per reply
  float temperature = 0.2f;
  int recall_k = 6;                      // episodes recalled per turn
  int sources_k = 4;                     // collection chunks per turn
  int history_turns = 8;                 // most recent messages kept verbatim (budget allowing)
};

struct SessionInfo {
  std::string id;                  // 32 random hex digits (reveals nothing about others)
  SessionSettings settings;
  int64_t created_ms = 0, updated_ms = 0;
  uint64_t messages = 0;           // user and assistant messages so far
};

struct TurnRequest {
  std::string user_text;
  std::optional<int> max_tokens;
  std::optional<float> temperature, top_p;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  nlohmann::json tools;            // OpenAI "tools" array; null/empty: none
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct ToolCall {
  std::string id;                  // "call_<hex>"
  std::string name;
  nlohmann::json arguments;        // an object
};

struct TurnResult {
  std::string text;                        // the assistant's reply (tool-call markup removed)
  std::vector<ToolCall> client_tool_calls; // calls to the client's own tools (finish: tool_calls)
  std::vector<uint64_t> recalled;          // episode ids put into the prompt
  size_t sources = 0;                      // collection chunks put into the prompt
  bool sources_compressed = false;         // ... shortened to fit (compress_sources)
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string finish_reason = "stop";      // "stop", "length", "tool_calls"
  double recall_ms = 0.0;
  double decode_ms = 0.0;       // generating, over every round
  double first_token_ms = 0.0;  // from the first Submit to the first text (queue included)
};

struct AgentRuntimeOptions {
  std::string data_dir;
  const inference::Engine* engine = nullptr;
  Scheduler* scheduler = nullptr;
  memory::EpisodicStore* memory = nullptr;
  retrieval::Embedder* embedder = nullptr;
  Metrics* metrics = nullptr;               // optional: recall times (routes count tokens)
  size_t consolidate_after = 40;            // session episodes before background consolidation
  // Consolidation summaries written by the model instead of extracted from the user's words.
  // Off: the default 135M model's summaries invent facts and lose names and numbers.
  bool model_summaries = false;
  // When recalled memories and collection sources do not fit a turn's prompt budget, compress
  // the sources question-aware (the user's message as the question; whole sentences by BM25,
  // milliseconds) to the room left instead of dropping the lowest-ranked ones. Default on.
  bool compress_sources = true;
};

class AgentRuntime {
 public:
  explicit AgentRuntime(AgentRuntimeOptions options);
  ~AgentRuntime();  // waits for background consolidation

  Result<SessionInfo> CreateSession(const Tenant& tenant, const SessionSettings& settings);
  Result<SessionInfo> GetSession(const Tenant& tenant, std::string_view id) const;
  Result<std::vector<SessionInfo>> ListSessions(const Tenant& tenant) const;
  // Removes the record and the session's episodes. kNotFound for an unknown id.
  Status DeleteSession(const Tenant& tenant, std::string_view id);
  // The session's messages (user and assistant episodes), oldest first.
  Result<std::vector<memory::Episode>> History(const Tenant& tenant, std::string_view id) const;

  // The best `k` episodes of the session's memory namespace for `query` (what a turn would
  // recall, without leaving out the recent messages). kNotFound for an unknown session.
  Result<std::vector<memory::RecalledEpisode>> Recall(const Tenant& tenant, std::string_view id,
                                                      std::string_view query, int k) const;
  // Forgets one episode of the session's memory namespace. kNotFound for an unknown session or
  // an episode that is not there.
  Status Forget(const Tenant& tenant, std::string_view id, uint64_t episode);

  // Runs one turn (see the file comment). kNotFound for an unknown session; errors of the
  // scheduler (kResourceExhausted when its queue is full) pass through; nothing is stored then.
  Result<TurnResult> Turn(const Tenant& tenant, std::string_view session_id,
                          const TurnRequest& request,
                          const std::function<bool(std::string_view)>& on_text);

  // Waits for background consolidation to finish (shutdown, tests).
  void Drain();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace engram::agent
