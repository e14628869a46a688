// engram serve [--host H] [--port P] [--api-keys FILE] [--max-sequences N] [--max-queue N]
//              [--kv-pool-positions N] [--max-tokens N] [--request-timeout S]
//              [--max-body-bytes N] [--no-compress] [-m MODEL] [--ctx N] [--threads N]
// The HTTP server (agent/server.h): OpenAI-compatible chat and embeddings, sessions that
// remember, collections, memory, QA; continuous batching on one model. SIGTERM or SIGINT stop
// accepting, finish the requests in flight, and flush the stores; a second signal exits at once.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "agent/agent_runtime.h"
#include "agent/http_server.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "agent/server.h"
#include "agent/tenants.h"
#include "app/cli.h"
#include "app/engine_flags.h"
#include "common/paths.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"

namespace engram::app {
namespace {

struct ServeFlags {
  EngineFlags engine;
  agent::HttpServerOptions http;
  agent::SchedulerOptions scheduler;
  agent::ServeLimits limits;
  std::string api_keys;
  double request_timeout_s = 300;  // fractions allowed: tests use 0.5
  bool no_compress = false;
};

// Everything serve runs, in construction order (destroyed in reverse).
struct Server {
  std::unique_ptr<inference::Engine> engine;
  std::unique_ptr<inference::BertEmbedder> embedder;
  std::unique_ptr<memory::EpisodicStore> memory;
  std::unique_ptr<agent::Scheduler> scheduler;
  agent::Metrics metrics;
  std::unique_ptr<agent::AgentRuntime> agent;
  agent::Services services;
  agent::Router router;
};

Status Build(const ServeFlags& flags, const std::string& data_dir, Server& s) {
  Result<inference::EngineOptions> options = flags.engine.Resolve();
  if (!options.ok()) return options.status();
  Result<std::unique_ptr<inference::Engine>> engine = inference::Engine::Load(*options);
  if (!engine.ok()) return engine.status();
  s.engine = std::move(*engine);
  Result<std::unique_ptr<inference::BertEmbedder>> embedder =
      inference::BertEmbedder::OpenOrDefault("", {});
  if (!embedder.ok()) return embedder.status();
  s.embedder = std::move(*embedder);
  memory::StoreOptions store_options;
  store_options.embedder = s.embedder.get();
  Result<std::unique_ptr<memory::EpisodicStore>> store =
      memory::EpisodicStore::Open(MemoryDir(data_dir), store_options);
  if (!store.ok()) return store.status();
  s.memory = std::move(*store);
  Result<std::unique_ptr<agent::Scheduler>> scheduler =
      agent::Scheduler::Start(*s.engine, flags.scheduler);
  if (!scheduler.ok()) return scheduler.status();
  s.scheduler = std::move(*scheduler);
  s.agent = std::make_unique<agent::AgentRuntime>(agent::AgentRuntimeOptions{
      .data_dir = data_dir,
      .engine = s.engine.get(),
      .scheduler = s.scheduler.get(),
      .memory = s.memory.get(),
      .embedder = s.embedder.get(),
      .metrics = &s.metrics,
      .compress_sources = !flags.no_compress});
  s.services = {.data_dir = data_dir,
                .engine = s.engine.get(),
                .scheduler = s.scheduler.get(),
                .embedder = s.embedder.get(),
                .memory = s.memory.get(),
                .agent = s.agent.get(),
                .metrics = &s.metrics,
                .limits = flags.limits,
                .model_id = std::filesystem::path(s.engine->model_path()).stem().string()};
  s.services.limits.request_timeout =
      std::chrono::milliseconds(std::llround(flags.request_timeout_s * 1000));
  agent::AddServerRoutes(s.router, s.services);
  agent::AddOpenAiRoutes(s.router, s.services);
  agent::AddCollectionRoutes(s.router, s.services);
  agent::AddMemoryRoutes(s.router, s.services);
  agent::AddSessionRoutes(s.router, s.services);
  return Status::OK();
}

// A keyless server's collections are <data>/collections; older ones left some elsewhere.
void WarnOfStrandedLocalCollections(const std::string& data_dir) {
  const std::optional<std::string> old_dir = agent::StrandedLocalCollectionsDir(data_dir);
  if (!old_dir) return;
  std::fprintf(stderr,
               "engram serve: warning: '%s' holds collections an older server created without "
               "API keys; move them into '%s' to use them\n",
               old_dir->c_str(),
               agent::TenantCollectionsDir(data_dir, {std::string(agent::kLocalTenant)}).c_str());
}

// Blocks until SIGTERM or SIGINT (blocked in every thread, so only this wait sees them).
int WaitForSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

Status RunServe(const ServeFlags& flags, const GlobalFlags& global) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  agent::TenantKeys keys;
  if (!flags.api_keys.empty()) {
    Result<agent::TenantKeys> loaded = agent::TenantKeys::Load(flags.api_keys);
    if (!loaded.ok()) return loaded.status();
    keys = std::move(*loaded);
  }
  // Before the model loads: a refused address should not cost a load first.
  if (Status st = agent::CheckListenAddress(flags.http, !keys.empty()); !st.ok()) return st;
  const std::string data_dir = ResolveDataDir(global.data_dir).string();
  WarnOfStrandedLocalCollections(data_dir);
  Server s;
  if (Status st = Build(flags, data_dir, s); !st.ok()) return st;
  Result<std::unique_ptr<agent::HttpServer>> http = agent::HttpServer::Start(
      flags.http, s.router, &keys,
      [&s](std::string_view method, std::string_view route, int status, double seconds) {
        s.metrics.ObserveRequest(method, route, status, seconds);
      });
  if (!http.ok()) return http.status();
  std::fprintf(stderr,
               "engram serve: listening on http://%s:%d (model %s, data %s, %s)\n",
               flags.http.host.c_str(), (*http)->port(), s.services.model_id.c_str(),
               data_dir.c_str(),
               keys.empty() ? "no API keys: loopback only, tenant 'local'"
                            : (std::to_string(keys.size()) + " API keys").c_str());
  const int signal = WaitForSignal(signals);
  std::fprintf(stderr, "engram serve: %s: finishing requests in flight, then stopping\n",
               strsignal(signal));
  std::thread([signals] {  // a second signal: stop now
    WaitForSignal(signals);
    std::fprintf(stderr, "engram serve: second signal: exiting without draining\n");
    _exit(kExitFailure);
  }).detach();
  (*http)->Stop();
  (*http)->Wait();
  s.scheduler->Shutdown(/*drain=*/true);
  s.agent->Drain();
  if (Status st = s.memory->Flush(); !st.ok()) return st;
  std::fprintf(stderr, "engram serve: stopped\n");
  return Status::OK();
}

}  // namespace

void RegisterServeCommand(CLI::App& cli, const GlobalFlags& global, CommandTable& commands) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = cli.add_subcommand(
      "serve",
      "Run the HTTP server: OpenAI-compatible /v1/chat/completions and /v1/embeddings, "
      "sessions with memory, collections, memory and QA, with continuous batching");
  cmd->add_option("--host", flags->http.host,
                  "Address to listen on (without --api-keys only loopback is allowed)")
      ->capture_default_str();
  cmd->add_option("--port", flags->http.port, "Port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-keys", flags->api_keys,
                  "File of lines 'KEY TENANT'; every request then needs 'Authorization: Bearer "
                  "KEY' and sees only its tenant's data")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max-sequences", flags->scheduler.max_sequences,
                  "Requests decoded together in one batched step")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  cmd->add_option("--max-queue", flags->scheduler.max_queue,
                  "Requests waiting at most; beyond it requests get 429")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--kv-pool-positions", flags->scheduler.kv_pool_positions,
                  "KV cache positions over all sequences (0: 2048 per sequence)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  cmd->add_option("--max-tokens", flags->limits.max_tokens,
                  "Largest max_tokens a request may ask for")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--request-timeout", flags->request_timeout_s,
                  "Seconds a request may take before it is ended with an error (fractions allowed)")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", flags->http.max_body_bytes, "Largest request body")
      ->check(CLI::Range(1024, 1 << 30))
      ->capture_default_str();
  cmd->add_flag("--no-compress", flags->no_compress,
                "Session turns drop the lowest-ranked collection sources that do not fit the "
                "prompt instead of compressing them to it");
  AddModelFlags(cmd, &flags->engine);
  commands.Add(cmd, [flags, &global] { return RunServe(*flags, global); });
}

}  // namespace engram::app
