// Metrics on prometheus-cpp's registry, rendered in the text exposition format (agent/metrics.h).
#include "agent/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace engram::agent {

namespace {
const prometheus::Histogram::BucketBoundaries kSecondsBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}  // namespace

struct Metrics::State {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* request_seconds = nullptr;
  prometheus::Counter* prompt_tokens = nullptr;
  prometheus::Counter* generated_tokens = nullptr;
  prometheus::Gauge* decode_tokens_per_second = nullptr;
  prometheus::Histogram* first_token_seconds = nullptr;
  prometheus::Histogram* recall_seconds = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
  prometheus::Gauge* active_sequences = nullptr;
  prometheus::Gauge* kv_blocks_used = nullptr;
  prometheus::Gauge* kv_blocks_total = nullptr;
};

namespace {

prometheus::Gauge* AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Histogram* AddHistogram(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help) {
  return &prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, kSecondsBuckets);
}

prometheus::Counter* AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

Metrics::Metrics() : s_(std::make_unique<State>()) {
  prometheus::Registry& r = *s_->registry;
  s_->requests = &prometheus::BuildCounter()
                      .Name("engram_http_requests_total")
                      .Help("HTTP requests by method, route pattern and status")
                      .Register(r);
  s_->request_seconds = &prometheus::BuildHistogram()
                             .Name("engram_http_request_seconds")
                             .Help("HTTP request duration by route pattern")
                             .Register(r);
  s_->prompt_tokens = AddCounter(r, "engram_prompt_tokens_total", "Prompt tokens read");
  s_->generated_tokens = AddCounter(r, "engram_generated_tokens_total", "Tokens generated");
  s_->decode_tokens_per_second =
      AddGauge(r, "engram_decode_tokens_per_second", "Decode speed of the last generating request");
  s_->first_token_seconds = AddHistogram(r, "engram_time_to_first_token_seconds",
                                         "Time from request to its first generated token");
  s_->recall_seconds = AddHistogram(r, "engram_memory_recall_seconds", "Memory recall duration");
  s_->queue_depth = AddGauge(r, "engram_queue_depth", "Requests waiting for the scheduler");
  s_->active_sequences = AddGauge(r, "engram_active_sequences", "Sequences being decoded");
  s_->kv_blocks_used = AddGauge(r, "engram_kv_cache_blocks_used", "KV cache blocks in use");
  s_->kv_blocks_total = AddGauge(r, "engram_kv_cache_blocks_total", "KV cache blocks in all");
}

Metrics::~Metrics() = default;

void Metrics::ObserveRequest(std::string_view method, std::string_view route, int status,
                             double seconds) {
  const std::string route_label = route.empty() ? "unmatched" : std::string(route);
  s_->requests
      ->Add({{"method", std::string(method)},
             {"route", route_label},
             {"status", std::to_string(status)}})
      .Increment();
  s_->request_seconds->Add({{"route", route_label}}, kSecondsBuckets).Observe(seconds);
}

void Metrics::AddTokens(int64_t prompt_tokens, int64_t generated_tokens, double decode_seconds,
                        double first_token_seconds) {
  if (prompt_tokens > 0) s_->prompt_tokens->Increment(static_cast<double>(prompt_tokens));
  if (generated_tokens > 0) {
    s_->generated_tokens->Increment(static_cast<double>(generated_tokens));
  }
  if (decode_seconds > 0 && generated_tokens > 0) {
    s_->decode_tokens_per_second->Set(static_cast<double>(generated_tokens) / decode_seconds);
  }
  if (first_token_seconds > 0) s_->first_token_seconds->Observe(first_token_seconds);
}

void Metrics::ObserveRecall(double seconds) { s_->recall_seconds->Observe(seconds); }

std::string Metrics::Render(const SchedulerStats& scheduler) const {
  s_->queue_depth->Set(static_cast<double>(scheduler.queued));
  s_->active_sequences->Set(static_cast<double>(scheduler.active));
  s_->kv_blocks_used->Set(static_cast<double>(scheduler.kv_blocks_used));
  s_->kv_blocks_total->Set(static_cast<double>(scheduler.kv_blocks_total));
  return prometheus::TextSerializer().Serialize(s_->registry->Collect());
}

}  // namespace engram::agent
