// GET /health (no API key) and GET /metrics (Prometheus text) of `engram serve`.
#include "agent/server.h"

namespace engram::agent {

void AddServerRoutes(Router& router, Services& services) {
  router.Add(
      "GET", "/health",
      [](const HttpRequest&, ResponseWriter& out) {
        out.Json(200, {{"status", "ok"}});
      },
      /*auth=*/false);
  router.Add("GET", "/metrics", [&services](const HttpRequest&, ResponseWriter& out) {
    if (services.metrics == nullptr) {
      out.Error(503, "service_unavailable_error", "this server keeps no metrics");
      return;
    }
    const SchedulerStats stats =
        services.scheduler != nullptr ? services.scheduler->stats() : SchedulerStats{};
    out.Text(200, "text/plain; version=0.0.4", services.metrics->Render(stats));
  });
}

}  // namespace engram::agent
