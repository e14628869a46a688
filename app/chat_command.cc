// engram chat [--session ID | --new] [--system TEXT] [-c COLLECTION]… [--max-tokens N]
//             [--temp T] [--seed S] [--no-compress] [-m MODEL] [--ctx N] [--threads N] …
// An interactive chat on the agent runtime (agent/agent_runtime.h), in process: tenant "local",
// the memory store and session records under the data dir, so a session continues across runs
// (`--session ID`; the id is printed at the start). Lines come from standard input (a terminal
// or a pipe); replies stream to standard output. Commands: /recall QUERY, /forget ID, /history,
// /help, /quit. End of input ends the chat cleanly.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_runtime.h"
#include "agent/scheduler.h"
#include "app/cli.h"
#include "app/collection_path.h"
#include "app/engine_flags.h"
#include "common/paths.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"

namespace engram::app {
namespace {

struct ChatFlags {
  EngineFlags engine;
  std::string session;
  bool fresh = false;
  std::string system;
  std::vector<std::string> collections;
  int max_tokens = 256;
  float temperature = 0.2f;
  int64_t seed = -1;
  bool no_compress = false;
};

constexpr std::string_view kHelp =
    "commands: /recall QUERY (what memory holds about it), /forget ID (forget an episode), "
    "/history (this session's messages), /quit (or end of input)";

// Everything the chat runs on, built in dependency order and torn down in reverse.
struct ChatServices {
  std::unique_ptr<inference::Engine> engine;
  std::unique_ptr<inference::BertEmbedder> embedder;
  std::unique_ptr<agent::Scheduler> scheduler;
  std::unique_ptr<memory::EpisodicStore> store;
  std::unique_ptr<agent::AgentRuntime> runtime;
};

Result<ChatServices> StartServices(const GlobalFlags& global, const ChatFlags& flags) {
  ChatServices s;
  ENGRAM_TRY_ASSIGN(inference::EngineOptions options, flags.engine.Resolve());
  ENGRAM_TRY_ASSIGN(s.engine, inference::Engine::Load(options));
  ENGRAM_TRY_ASSIGN(s.embedder, inference::BertEmbedder::OpenOrDefault(
                                    "", {.n_threads = options.context.n_threads}));
  ENGRAM_TRY_ASSIGN(s.scheduler, agent::Scheduler::Start(*s.engine, {.max_sequences = 2}));
  const std::filesystem::path data_dir = ResolveDataDir(global.data_dir);
  memory::StoreOptions store_options;
  store_options.embedder = s.embedder.get();
  ENGRAM_TRY_ASSIGN(s.store,
                    memory::EpisodicStore::Open(MemoryDir(data_dir).string(), store_options));
  s.runtime = std::make_unique<agent::AgentRuntime>(
      agent::AgentRuntimeOptions{.data_dir = data_dir.string(),
                                 .engine = s.engine.get(),
                                 .scheduler = s.scheduler.get(),
                                 .memory = s.store.get(),
                                 .embedder = s.embedder.get(),
                                 .compress_sources = !flags.no_compress});
  return s;
}

Result<agent::SessionInfo> OpenSession(agent::AgentRuntime& runtime, const agent::Tenant& tenant,
                                       const ChatFlags& flags) {
  if (!flags.session.empty()) {
    Result<agent::SessionInfo> s = runtime.GetSession(tenant, flags.session);
    if (s.ok() || s.status().code() != StatusCode::kNotFound) return s;
    return Status::NotFound("chat: no session '" + flags.session +
                            "' in this data dir; start a new one with --new");
  }
  agent::SessionSettings settings;
  settings.system_prompt = flags.system;
  settings.collections = flags.collections;
  settings.max_tokens = flags.max_tokens;
  settings.temperature = flags.temperature;
  return runtime.CreateSession(tenant, settings);
}

void ShowHistory(agent::AgentRuntime& runtime, const agent::Tenant& tenant, const std::string& id) {
  Result<std::vector<memory::Episode>> history = runtime.History(tenant, id);
  if (!history.ok()) return PrintError(history.status().message());
  for (const memory::Episode& e : *history) {
    std::printf("#%llu %s: %s\n", static_cast<unsigned long long>(e.id), e.role.c_str(),
                e.text.c_str());
  }
  if (history->empty()) std::printf("(no messages yet)\n");
}

void ShowRecall(agent::AgentRuntime& runtime, const agent::Tenant& tenant, const std::string& id,
                const std::string& query) {
  if (query.empty()) return PrintError("chat: /recall needs a query: /recall QUERY");
  auto found = runtime.Recall(tenant, id, query, 5);
  if (!found.ok()) return PrintError(found.status().message());
  for (const memory::RecalledEpisode& r : *found) {
    std::printf("#%llu (%.3f) %s: %s\n", static_cast<unsigned long long>(r.episode.id), r.score,
                r.episode.role.c_str(), r.episode.text.c_str());
  }
  if (found->empty()) std::printf("(nothing recalled)\n");
}

void ForgetEpisode(agent::AgentRuntime& runtime, const agent::Tenant& tenant, const std::string& id,
                   std::string_view arg) {
  if (!arg.empty() && arg[0] == '#') arg.remove_prefix(1);
  uint64_t episode = 0;
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), episode);
  if (arg.empty() || ec != std::errc() || end != arg.data() + arg.size()) {
    return PrintError("chat: /forget needs an episode id (a number shown by /recall or /history)");
  }
  if (Status s = runtime.Forget(tenant, id, episode); !s.ok()) return PrintError(s.message());
  std::printf("forgot #%llu\n", static_cast<unsigned long long>(episode));
}

void Reply(agent::AgentRuntime& runtime, const agent::Tenant& tenant, const std::string& id,
           const ChatFlags& flags, const std::string& line) {
  agent::TurnRequest request;
  request.user_text = line;
  request.max_tokens = flags.max_tokens;
  request.temperature = flags.temperature;
  if (flags.seed >= 0) request.seed = static_cast<uint64_t>(flags.seed);
  Result<agent::TurnResult> r = runtime.Turn(tenant, id, request, [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::printf("\n");
  std::fflush(stdout);
  if (!r.ok()) PrintError(r.status().message());
}

// One input line; false when the chat should end.
bool HandleLine(agent::AgentRuntime& runtime, const agent::Tenant& tenant, const std::string& id,
                const ChatFlags& flags, const std::string& line) {
  const size_t space = line.find(' ');
  const std::string command = line.substr(0, space);
  const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
  if (command == "/quit" || command == "/exit") return false;
  if (command == "/history")
    ShowHistory(runtime, tenant, id);
  else if (command == "/recall")
    ShowRecall(runtime, tenant, id, arg);
  else if (command == "/forget")
    ForgetEpisode(runtime, tenant, id, arg);
  else if (command == "/help")
    std::printf("%s\n", std::string(kHelp).c_str());
  else if (line[0] == '/')
    PrintError("chat: unknown command '" + command + "'; " + std::string(kHelp));
  else
    Reply(runtime, tenant, id, flags, line);
  std::fflush(stdout);
  return true;
}

Status Run(const GlobalFlags& global, const ChatFlags& flags) {
  if (flags.fresh && !flags.session.empty()) {
    return Status::InvalidArgument("chat: give --session ID or --new, not both");
  }
  if (!flags.session.empty() && (!flags.collections.empty() || !flags.system.empty())) {
    return Status::InvalidArgument(
        "chat: --collection and --system set up a new session; a continued session keeps its own");
  }
  for (const std::string& name : flags.collections) {  // refused before anything loads
    ENGRAM_TRY_ASSIGN(std::string dir,
                      CheckedCollectionPath(global, name, retrieval::OpenMode::kReadOnly));
    (void)dir;
  }
  ENGRAM_TRY_ASSIGN(ChatServices services, StartServices(global, flags));
  const agent::Tenant tenant{"local"};
  ENGRAM_TRY_ASSIGN(agent::SessionInfo session, OpenSession(*services.runtime, tenant, flags));
  const bool terminal = ::isatty(STDIN_FILENO) != 0;
  std::printf("session %s (continue it later with: engram chat --session %s)\n", session.id.c_str(),
              session.id.c_str());
  if (terminal) std::printf("%s\n", std::string(kHelp).c_str());
  std::fflush(stdout);
  std::string line;
  while (true) {
    if (terminal) {
      std::printf("> ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!HandleLine(*services.runtime, tenant, session.id, flags, line)) break;
  }
  services.runtime->Drain();
  return Status::OK();
}

}  // namespace

void RegisterChatCommand(CLI::App& app, const GlobalFlags& global, CommandTable& commands) {
  auto flags = std::make_shared<ChatFlags>();
  CLI::App* cmd = app.add_subcommand(
      "chat", "Chat with the model in a session that remembers (lines from standard input)");
  cmd->add_option("--session", flags->session, "Continue this session (its id is printed at start)")
      ->check(NonEmpty());
  cmd->add_flag("--new", flags->fresh, "Start a new session (the default without --session)");
  cmd->add_option("--system", flags->system, "System prompt of a new session");
  cmd->add_option("-c,--collection", flags->collections,
                  "A collection (engram ingest -c NAME) a new session searches every turn; "
                  "repeat for several");
  cmd->add_option("--max-tokens", flags->max_tokens, "Reply tokens at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--temp,--temperature", flags->temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str()
      ->check(FiniteIn(0, 2));
  cmd->add_option("--seed", flags->seed, "Random seed (default: random)");
  cmd->add_flag("--no-compress", flags->no_compress,
                "Drop the lowest-ranked collection sources that do not fit the prompt instead of "
                "compressing them to it");
  AddModelFlags(cmd, &flags->engine);
  commands.Add(cmd, [flags, &global]() { return Run(global, *flags); });
}

}  // namespace engram::app
