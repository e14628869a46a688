// GET /health (no API key) and GET /metrics (Prometheus text with the request counters the
// observer feeds and the scheduler gauges, zero without a scheduler) over real TCP.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/server.h"
#include "tests/agent/http_test_client.h"

namespace engram::agent {
namespace {

using testing::TempDir;
using testing::TestClient;

TEST(ServerRoutesTest, HealthNeedsNoKeyAndMetricsRenderPrometheusText) {
  TempDir dir("engram_server_routes");
  const std::string key = "server-key-0123456789";
  std::ofstream(dir.path() + "/keys") << key << " alpha\n";
  Result<TenantKeys> keys = TenantKeys::Load(dir.path() + "/keys");
  ASSERT_TRUE(keys.ok());
  Metrics metrics;
  Services services;
  services.metrics = &metrics;
  Router router;
  AddServerRoutes(router, services);
  HttpServerOptions options;
  options.port = 0;
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      options, router, &*keys,
      [&](std::string_view method, std::string_view route, int status, double seconds) {
        metrics.ObserveRequest(method, route, status, seconds);
      });
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  TestClient anonymous((*server)->port());
  const auto health = anonymous.Get("/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.Json()["status"], "ok");
  EXPECT_EQ(anonymous.Get("/metrics").status, 401);

  TestClient c((*server)->port(), key);
  const auto text = c.Get("/metrics");
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_EQ(text.Header("content-type"), "text/plain; version=0.0.4");
  EXPECT_NE(
      text.body.find(R"(engram_http_requests_total{method="GET",route="/health",status="200"} 1)"),
      std::string::npos)
      << text.body;
  EXPECT_NE(text.body.find("engram_queue_depth 0"), std::string::npos) << text.body;
}

}  // namespace
}  // namespace engram::agent
