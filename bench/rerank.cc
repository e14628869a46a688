#include "bench/rerank.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "bench/stats.h"

namespace engram::bench {

std::vector<std::vector<size_t>> RerankOrders(std::span<const double> first,
                                              std::span<const double> reranked) {
  std::vector<std::vector<size_t>> orders;
  const size_t n = std::min(first.size(), reranked.size());
  for (double w : kRerankWeights) {
    std::vector<size_t> order(first.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n),
                     [&](size_t a, size_t b) {
                       return first[a] + w * reranked[a] > first[b] + w * reranked[b];
                     });
    orders.push_back(std::move(order));
  }
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
