// `engram serve`: the services the HTTP routes share, and the functions that add each group of
// routes to a Router. app/serve_command.cc builds the services from flags, adds every group,
// starts the HttpServer and, on SIGTERM, stops accepting, drains the scheduler and flushes the
// stores.
//
// Routes (all but /health need an API key when the server has keys):
//   GET  /health                       server.cc          (no key)
//   GET  /metrics                      server.cc
//   GET  /v1/models                    openai_routes.cc
//   POST /v1/chat/completions          openai_routes.cc   (with "session": an agent turn)
//   POST /v1/embeddings                openai_routes.cc
//   /v1/collections...                 collection_routes.cc
//   /v1/memory...                      memory_routes.cc
//   /v1/sessions...                    session_routes.cc
//   POST /v1/qa                        collection_routes.cc
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "agent/http_server.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "agent/tenants.h"
#include "inference/engine.h"
#include "memory/episodic_store.h"
#include "retrieval/embedder.h"

namespace engram::agent {

class AgentRuntime;

struct ServeLimits {
  int max_tokens = 4096;          // per request (max_tokens above: 400)
  int default_max_tokens = 256;   // when a request names none
  std::chrono::milliseconds request_timeout{300'000};
};

// What the routes share. Not owned; built and torn down by serve (or a test).
struct Services {
  std::string data_dir;
  const inference::Engine* engine = nullptr;
  Scheduler* scheduler = nullptr;
  retrieval::Embedder* embedder = nullptr;     // thread-safe (BertEmbedder)
  memory::EpisodicStore* memory = nullptr;     // data_dir/memory; namespaces per tenant
  AgentRuntime* agent = nullptr;               // sessions and turns
  Metrics* metrics = nullptr;
  ServeLimits limits;
  std::string model_id;                        // what /v1/models lists
};

void AddServerRoutes(Router& router, Services& services);      // /health, /metrics
void AddOpenAiRoutes(Router& router, Services& services);      // /v1/models, chat, embeddings
void AddCollectionRoutes(Router& router, Services& services);  // /v1/collections, /v1/qa
void AddMemoryRoutes(Router& router, Services& services);      // /v1/memory
void AddSessionRoutes(Router& router, Services& services);     // /v1/sessions

}  // namespace engram::agent
