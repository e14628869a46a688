// The built-in tools of an agent turn, run inside the turn on the session's own data:
//   search_documents(query)  the session's attached collections
//   recall_memory(query)     the session's memory namespace (ids shown, for forget)
//   remember(text)           a note (role "note") in the session's memory namespace
//   forget(id)               an episode or note of the session's memory namespace
// Results are text for the model; a failure is a text too ("error: ..."), never a failed turn.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_runtime.h"
#include "memory/episodic_store.h"
#include "retrieval/collection.h"

namespace engram::agent::internal {

struct ToolEnv {
  memory::EpisodicStore* store = nullptr;
  std::string ns;       // the session's memory namespace (tenant-scoped)
  std::string session;  // the session id (episodes' session field)
  // The session's collection search (best first).
  std::function<std::vector<retrieval::SearchHit>(std::string_view query)> search;
};

// Runs a built-in call (its arguments already checked for the required fields).
std::string RunBuiltinTool(const ToolCall& call, const ToolEnv& env);

}  // namespace engram::agent::internal
