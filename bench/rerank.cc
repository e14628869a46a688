#include "bench/rerank.h"

#include <string>

#include "bench/stats.h"
#include "retrieval/rerank.h"

namespace engram::bench {

std::vector<std::vector<size_t>> RerankOrders(std::span<const double> first,
                                              std::span<const double> reranked) {
  std::vector<std::vector<size_t>> orders;
  for (double w : kRerankWeights) orders.push_back(retrieval::RerankOrder(first, reranked, w));
  return orders;
}

void AddRerankCost(nlohmann::ordered_json& out, std::string_view reranker, int candidates,
                   const std::vector<double>& ms) {
  out["reranker"] = std::string(reranker);
  out["rerank_candidates"] = candidates;
  out["rerank_ms_p50"] = Percentile(ms, 0.5);
  out["rerank_ms_p99"] = Percentile(ms, 0.99);
}

}  // namespace engram::bench
