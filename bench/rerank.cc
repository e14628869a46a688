#include "bench/rerank.h"

#include <algorithm>
#include <numeric>

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

}  // namespace engram::bench
