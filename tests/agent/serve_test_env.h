// A real `engram serve` route stack for tests: the default embedder (loaded once per process),
// an episodic store and a data directory in a temporary directory, two tenants ("alpha" and
// "beta", keys kKeyAlpha / kKeyBeta), the route groups a test adds, and an HttpServer on a free
// loopback port.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>

#include "agent/http_server.h"
#include "agent/server.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"
#include "tests/agent/http_test_client.h"

namespace engram::agent::testing {

inline constexpr char kKeyAlpha[] = "alpha-key-0123456789";
inline constexpr char kKeyBeta[] = "beta-key-0123456789x";

// The default embedder, loaded on first use and kept for the process (loading takes a while).
inline retrieval::Embedder* SharedEmbedder() {
  static std::unique_ptr<inference::BertEmbedder> embedder = [] {
    Result<std::unique_ptr<inference::BertEmbedder>> e =
        inference::BertEmbedder::OpenOrDefault("", {.n_threads = 2});
    if (!e.ok()) {
      ADD_FAILURE() << "the default embedder is needed (scripts/fetch_models.sh): "
                    << e.status().ToString();
      return std::unique_ptr<inference::BertEmbedder>();
    }
    return std::move(*e);
  }();
  return embedder.get();
}

class ServeTestEnv {
 public:
  // `add_routes` adds the route groups under test to the router.
  explicit ServeTestEnv(const std::function<void(Router&, Services&)>& add_routes)
      : dir_("engram_serve") {
    std::ofstream(dir_.path() + "/keys") << kKeyAlpha << " alpha\n" << kKeyBeta << " beta\n";
    Result<TenantKeys> keys = TenantKeys::Load(dir_.path() + "/keys");
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    if (keys.ok()) keys_ = *keys;
    memory::StoreOptions store_options;
    store_options.embedder = SharedEmbedder();
    store_options.sync = false;
    Result<std::unique_ptr<memory::EpisodicStore>> store =
        memory::EpisodicStore::Open(dir_.path() + "/memory", store_options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) store_ = std::move(*store);
    services_.data_dir = dir_.path();
    services_.embedder = SharedEmbedder();
    services_.memory = store_.get();
    services_.metrics = &metrics_;
    add_routes(router_, services_);
    HttpServerOptions options;
    options.port = 0;
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(options, router_, &keys_);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(*server);
  }
  ~ServeTestEnv() {
    server_.reset();  // before the routes' state and the store
    router_ = Router();
  }

  int port() const { return server_->port(); }
  TestClient Alpha() const { return TestClient(port(), kKeyAlpha); }
  TestClient Beta() const { return TestClient(port(), kKeyBeta); }
  Services& services() { return services_; }
  const std::string& data_dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  TenantKeys keys_;
  std::unique_ptr<memory::EpisodicStore> store_;
  Metrics metrics_;
  Services services_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace engram::agent::testing
