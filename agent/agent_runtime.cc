// AgentRuntime: sessions (records in internal/session_store) and the agent turn. The pieces live
// in agent/internal/: session_store (records), session_locks (turns of a session in order),
// turn_inputs (history, recall, sources), prompt_budget (fitting the prompt), tool_loop and
// tool_calls / builtin_tools (generation with tools), consolidator (background summaries).
#include "agent/agent_runtime.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "agent/internal/consolidator.h"
#include "agent/internal/prompt_budget.h"
#include "agent/internal/session_json.h"
#include "agent/internal/session_locks.h"
#include "agent/internal/session_store.h"
#include "agent/internal/source_compression.h"
#include "agent/internal/tool_loop.h"
#include "agent/internal/turn_inputs.h"
#include "agent/metrics.h"

namespace engram::agent {
namespace {

using internal::FittedPrompt;
using internal::PromptParts;

// Prompts are kept within this many positions (and the context) for speed.
constexpr int64_t kMaxPromptContext = 4096;

// A session's max_tokens must leave at least this many positions for its prompts.
constexpr int64_t kMinPromptRoom = 256;

// Prompt positions kept free for tool rounds (calls and their results).
constexpr int64_t kToolRoundsReserve = 768;

constexpr std::string_view kDefaultSystemPrompt =
    "You are a helpful assistant in a conversation that may continue over many days. Use the "
    "things you remember from earlier and the sources when they help. Keep answers short.";

std::string SessionNamespace(const Tenant& tenant, const SessionInfo& info) {
  return MemoryNamespace(tenant, info.settings.memory_namespace.empty()
                                     ? "session-" + info.id
                                     : info.settings.memory_namespace);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckTurnRequest(const TurnRequest& r) {
  if (r.user_text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument("turn: the message is empty; send some text in 'content'");
  }
  if (r.user_text.size() > memory::kMaxEpisodeTextBytes) {
    return Status::InvalidArgument("turn: the message is longer than " +
                                   std::to_string(memory::kMaxEpisodeTextBytes) + " bytes");
  }
  if (r.max_tokens && (*r.max_tokens < 1 || *r.max_tokens > internal::kMaxReplyTokens)) {
    return Status::InvalidArgument("turn: max_tokens " + std::to_string(*r.max_tokens) +
                                   " is out of range; use 1.." +
                                   std::to_string(internal::kMaxReplyTokens));
  }
  if (r.temperature &&
      !(std::isfinite(*r.temperature) && *r.temperature >= 0 && *r.temperature <= 2)) {
    return Status::InvalidArgument("turn: temperature is out of range; use 0..2");
  }
  if (r.top_p && !(std::isfinite(*r.top_p) && *r.top_p > 0 && *r.top_p <= 1)) {
    return Status::InvalidArgument("turn: top_p is out of range; use a value in (0, 1]");
  }
  return Status::OK();
}

inference::GenerateOptions GenerationFor(const SessionSettings& s, const TurnRequest& r) {
  inference::GenerateOptions g;
  g.max_tokens = r.max_tokens.value_or(s.max_tokens);
  g.sampler.temperature = r.temperature.value_or(s.temperature);
  if (r.top_p) g.sampler.top_p = *r.top_p;
  if (r.seed) g.sampler.seed = *r.seed;
  g.sampler.repeat_penalty = 1.1f;  // the small default model loops without it
  g.stop = r.stop;
  return g;
}

// Compresses a turn's sources question-aware with the user's message as the question (the
// coarse stage alone: whole sentences by BM25, milliseconds).
internal::SourceShortener SourceShortenerFor(const inference::Engine& engine,
                                             std::string_view question) {
  return [&engine, question](std::span<const std::string> sources, int64_t budget_tokens)
             -> Result<std::vector<std::pair<size_t, std::string>>> {
    const compress::CompressModels models{.count_tokens = [&engine](std::string_view t) {
      return static_cast<int>(engine.tokenizer().Encode(t).size());
    }};
    ENGRAM_TRY_ASSIGN(internal::ShortenedSources shortened,
                      internal::ShortenSources(question, {sources.begin(), sources.end()},
                                               budget_tokens, models));
    std::vector<std::pair<size_t, std::string>> out;
    for (internal::ShortenedSource& s : shortened.sources) {
      out.emplace_back(s.index, std::move(s.text));
    }
    return out;
  };
}

}  // namespace

struct AgentRuntime::State {
  explicit State(AgentRuntimeOptions o)
      : options(std::move(o)),
        sessions(options.data_dir),
        consolidator(options.memory, options.model_summaries ? options.scheduler : nullptr,
                     options.engine) {}

  // What a turn puts into its prompt.
  struct Prompt {
    FittedPrompt fitted;
    std::vector<uint64_t> recalled;
    std::vector<retrieval::SearchHit> hits;
    double recall_ms = 0;
  };
  Result<Prompt> BuildPrompt(const Tenant& tenant, const SessionInfo& info, const std::string& ns,
                             const TurnRequest& request,
                             const std::vector<internal::ToolSpec>& tools, int max_tokens) const;
  Status StoreTurn(const Tenant& tenant, SessionInfo& info, const std::string& ns,
                   const std::string& user_text, const internal::GenerationOutput& out);
  internal::ToolEnv Tools(const Tenant& tenant, const SessionInfo& info,
                          const std::string& ns) const;

  AgentRuntimeOptions options;
  internal::SessionStore sessions;
  internal::SessionLocks locks;
  internal::Consolidator consolidator;
};

Result<AgentRuntime::State::Prompt> AgentRuntime::State::BuildPrompt(
    const Tenant& tenant, const SessionInfo& info, const std::string& ns,
    const TurnRequest& request, const std::vector<internal::ToolSpec>& tools,
    int max_tokens) const {
  const SessionSettings& s = info.settings;
  const memory::EpisodicStore& store = *options.memory;
  ENGRAM_TRY_ASSIGN(
      std::vector<memory::Episode> history,
      internal::SessionMessages(store, ns, info.id, static_cast<size_t>(s.history_turns)));
  if (s.history_turns == 0) history.clear();
  std::vector<uint64_t> in_history;
  PromptParts parts;
  for (const memory::Episode& e : history) {
    in_history.push_back(e.id);
    parts.history.push_back({e.role, e.text});
  }
  Prompt prompt;
  const auto start = std::chrono::steady_clock::now();
  ENGRAM_TRY_ASSIGN(
      std::vector<memory::RecalledEpisode> recalled,
      internal::RecallExcluding(store, ns, request.user_text, s.recall_k, in_history));
  prompt.recall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  for (const memory::RecalledEpisode& r : recalled)
    parts.memories.push_back(internal::MemoryLine(r.episode));
  prompt.hits = internal::SearchCollections(options.data_dir, tenant, s.collections,
                                            options.embedder, request.user_text, s.sources_k);
  for (const retrieval::SearchHit& h : prompt.hits)
    parts.sources.push_back(internal::SourceText(h));
  parts.instruction = s.system_prompt.empty() ? std::string(kDefaultSystemPrompt) : s.system_prompt;
  if (!tools.empty()) parts.instruction += "\n\n" + internal::ToolInstructions(tools);
  parts.user = request.user_text;

  const inference::Engine& engine = *options.engine;
  // With tools, later rounds add the model's calls and their results to the prompt.
  const int64_t reserve = tools.empty() ? 0 : kToolRoundsReserve;
  const int64_t budget =
      std::min(engine.context_length(), kMaxPromptContext) - max_tokens - reserve;
  if (budget <= 0) {
    return Status::InvalidArgument(
        "turn: max_tokens " + std::to_string(max_tokens) +
        " leaves no room for the prompt in a context of " +
        std::to_string(std::min(engine.context_length(), kMaxPromptContext)));
  }
  internal::SourceShortener shorten;
  if (options.compress_sources) shorten = SourceShortenerFor(engine, request.user_text);
  ENGRAM_TRY_ASSIGN(
      prompt.fitted,
      internal::FitPrompt(
          parts, budget,
          [&](std::span<const inference::ChatMessage> m) {
            return static_cast<int64_t>(engine.EncodeChat(m).size());
          },
          shorten));
  for (size_t i : prompt.fitted.memories) prompt.recalled.push_back(recalled[i].episode.id);
  return prompt;
}

internal::ToolEnv AgentRuntime::State::Tools(const Tenant& tenant, const SessionInfo& info,
                                             const std::string& ns) const {
  internal::ToolEnv env;
  env.store = options.memory;
  env.ns = ns;
  env.session = info.id;
  if (!info.settings.collections.empty()) {
    env.search = [this, tenant, collections = info.settings.collections](std::string_view q) {
      return internal::SearchCollections(options.data_dir, tenant, collections, options.embedder, q,
                                         5);
    };
  }
  return env;
}

Status AgentRuntime::State::StoreTurn(const Tenant& tenant, SessionInfo& info,
                                      const std::string& ns, const std::string& user_text,
                                      const internal::GenerationOutput& out) {
  std::vector<memory::Episode> episodes(2);
  episodes[0].session = episodes[1].session = info.id;
  episodes[0].role = "user";
  episodes[0].text = user_text;
  episodes[1].role = "assistant";
  episodes[1].text = out.text;
  if (episodes[1].text.empty()) {
    std::string names;
    for (const ToolCall& c : out.client_calls) names += (names.empty() ? "" : ", ") + c.name;
    episodes[1].text = names.empty() ? "(no answer)" : "(called tools: " + names + ")";
  }
  ENGRAM_TRY_ASSIGN(std::vector<uint64_t> ids, options.memory->AppendBatch(ns, episodes));
  (void)ids;
  info.messages += 2;
  info.updated_ms = NowMs();
  if (Status s = sessions.Save(tenant, info); !s.ok()) return s;
  const size_t limit = options.consolidate_after + 1;
  Result<size_t> live = internal::CountSessionEpisodes(*options.memory, ns, info.id, limit);
  if (live.ok() && *live >= limit) {
    // The messages the prompt keeps verbatim stay; older ones become a summary.
    consolidator.Schedule(ns, info.id,
                          std::max<size_t>(4, static_cast<size_t>(info.settings.history_turns)));
  }
  return Status::OK();
}

AgentRuntime::AgentRuntime(AgentRuntimeOptions options)
    : s_(std::make_unique<State>(std::move(options))) {}

AgentRuntime::~AgentRuntime() { Drain(); }

void AgentRuntime::Drain() { s_->consolidator.Drain(); }

Result<SessionInfo> AgentRuntime::CreateSession(const Tenant& tenant,
                                                const SessionSettings& settings) {
  if (MemoryNamespace(tenant, settings.memory_namespace.empty() ? std::string(40, 'x')
                                                                : settings.memory_namespace)
          .size() > 128) {
    return Status::InvalidArgument("settings: memory_namespace '" + settings.memory_namespace +
                                   "' is too long for this tenant; use a shorter name");
  }
  // Refused here rather than by every turn: a reply that fills the context leaves no prompt.
  const int64_t context = s_->options.engine != nullptr
                              ? std::min(s_->options.engine->context_length(), kMaxPromptContext)
                              : kMaxPromptContext;
  if (settings.max_tokens > context - kMinPromptRoom) {
    return Status::InvalidArgument(
        "settings: max_tokens " + std::to_string(settings.max_tokens) + " leaves fewer than " +
        std::to_string(kMinPromptRoom) + " prompt tokens in this server's context of " +
        std::to_string(context) + "; use at most " + std::to_string(context - kMinPromptRoom));
  }
  return s_->sessions.Create(tenant, settings);
}

Result<SessionInfo> AgentRuntime::GetSession(const Tenant& tenant, std::string_view id) const {
  return s_->sessions.Load(tenant, id);
}

Result<std::vector<SessionInfo>> AgentRuntime::ListSessions(const Tenant& tenant) const {
  return s_->sessions.List(tenant);
}

Status AgentRuntime::DeleteSession(const Tenant& tenant, std::string_view id) {
  if (Status s = internal::ValidateSessionId(id); !s.ok()) return s;
  auto guard = s_->locks.Acquire(tenant.name + "/" + std::string(id));
  ENGRAM_TRY_ASSIGN(SessionInfo info, s_->sessions.Load(tenant, id));
  const std::string ns = SessionNamespace(tenant, info);
  // A queued consolidation must not write a summary after the episodes are gone.
  s_->consolidator.Drain();
  if (info.settings.memory_namespace.empty()) {
    if (Status s = s_->options.memory->PurgeNamespace(ns); !s.ok()) return s;
  } else {
    ENGRAM_TRY_ASSIGN(uint64_t forgotten, s_->options.memory->ForgetSession(ns, info.id));
    (void)forgotten;
  }
  return s_->sessions.Remove(tenant, id);
}

Result<std::vector<memory::Episode>> AgentRuntime::History(const Tenant& tenant,
                                                           std::string_view id) const {
  ENGRAM_TRY_ASSIGN(SessionInfo info, s_->sessions.Load(tenant, id));
  return internal::SessionTranscript(*s_->options.memory, SessionNamespace(tenant, info), info.id);
}

Result<std::vector<memory::RecalledEpisode>> AgentRuntime::Recall(const Tenant& tenant,
                                                                  std::string_view id,
                                                                  std::string_view query,
                                                                  int k) const {
  ENGRAM_TRY_ASSIGN(SessionInfo info, s_->sessions.Load(tenant, id));
  return internal::RecallExcluding(*s_->options.memory, SessionNamespace(tenant, info), query, k,
                                   {});
}

Status AgentRuntime::Forget(const Tenant& tenant, std::string_view id, uint64_t episode) {
  ENGRAM_TRY_ASSIGN(SessionInfo info, s_->sessions.Load(tenant, id));
  return s_->options.memory->Forget(SessionNamespace(tenant, info), episode);
}

Result<TurnResult> AgentRuntime::Turn(const Tenant& tenant, std::string_view session_id,
                                      const TurnRequest& request,
                                      const std::function<bool(std::string_view)>& on_text) {
  if (Status s = internal::ValidateSessionId(session_id); !s.ok()) return s;
  if (Status s = CheckTurnRequest(request); !s.ok()) return s;
  std::vector<internal::ToolSpec> tools;
  if (request.tools.is_array() && !request.tools.empty()) {
    ENGRAM_TRY_ASSIGN(tools, internal::ToolsFromOpenAi(request.tools));
    std::vector<internal::ToolSpec> all = internal::BuiltinTools();
    all.insert(all.end(), tools.begin(), tools.end());
    tools = std::move(all);
  } else if (!request.tools.is_null() && !request.tools.is_array()) {
    return Status::InvalidArgument("tools: expected an array of OpenAI tool objects");
  }
  auto guard = s_->locks.Acquire(tenant.name + "/" + std::string(session_id));
  ENGRAM_TRY_ASSIGN(SessionInfo info, s_->sessions.Load(tenant, session_id));
  const std::string ns = SessionNamespace(tenant, info);
  internal::GenerationInput input;
  input.generation = GenerationFor(info.settings, request);
  input.deadline = request.deadline;
  input.tools = tools;
  ENGRAM_TRY_ASSIGN(State::Prompt prompt,
                    s_->BuildPrompt(tenant, info, ns, request, tools, input.generation.max_tokens));
  input.messages = prompt.fitted.messages;
  ENGRAM_TRY_ASSIGN(internal::GenerationOutput out,
                    internal::GenerateWithTools(
                        internal::SchedulerGenerate(*s_->options.scheduler, *s_->options.engine),
                        std::move(input), s_->Tools(tenant, info, ns), on_text));
  if (Status s = s_->StoreTurn(tenant, info, ns, request.user_text, out); !s.ok()) return s;
  TurnResult result = internal::TurnResultOf(std::move(out));
  result.recalled = std::move(prompt.recalled);
  result.sources = prompt.fitted.sources.size();
  result.sources_compressed = prompt.fitted.sources_compressed;
  result.recall_ms = prompt.recall_ms;
  if (s_->options.metrics != nullptr) s_->options.metrics->ObserveRecall(prompt.recall_ms / 1000);
  return result;
}

}  // namespace engram::agent
