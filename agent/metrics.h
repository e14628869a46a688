// The server's Prometheus metrics (prometheus-cpp's registry; served as text by GET /metrics
// from Beast, not by prometheus-cpp's own exposer).
//
//   Metrics metrics;
//   metrics.ObserveRequest("POST", "/v1/chat/completions", 200, 0.42);
//   metrics.AddTokens(prompt_tokens, generated_tokens, decode_seconds);
//   std::string text = metrics.Render(scheduler.stats());
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agent/scheduler.h"

namespace engram::agent {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  // engram_http_requests_total{method,route,status}, engram_http_request_seconds{route}.
  void ObserveRequest(std::string_view method, std::string_view route, int status,
                      double seconds);
  // engram_prompt_tokens_total, engram_generated_tokens_total, engram_decode_tokens_per_second
  // (the last request's), engram_time_to_first_token_seconds.
  void AddTokens(int64_t prompt_tokens, int64_t generated_tokens, double decode_seconds,
                 double first_token_seconds);
  // engram_memory_recall_seconds.
  void ObserveRecall(double seconds);
  // The text exposition format, with the scheduler's gauges (engram_queue_depth,
  // engram_active_sequences, engram_kv_cache_blocks_used/_total) read now.
  std::string Render(const SchedulerStats& scheduler) const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace engram::agent
