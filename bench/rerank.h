// Reranking in the evals (--rerank N): the first stage's best N candidates rescored as
//   first-stage score + w × the reranker's score
// for each weight w of kRerankWeights (w = 0 is the first stage's own order, so cross-validation
// can decline the reranker). Candidates past N keep their first-stage order after the N.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <vector>

namespace engram::bench {

inline constexpr double kRerankWeights[] = {0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 16.0};

// orders[w][i]: the first-stage index of the i-th candidate under weight w. `first` holds the
// first stage's scores in its order (best first); `reranked` the reranker's scores of its first
// reranked.size() candidates.
std::vector<std::vector<size_t>> RerankOrders(std::span<const double> first,
                                              std::span<const double> reranked);

// Adds what every --rerank report carries: the reranker, how many candidates it rescored, and
// its cost per query (ms, p50 / p99), beside the first stage's latency.
void AddRerankCost(nlohmann::ordered_json& out, std::string_view reranker, int candidates,
                   const std::vector<double>& ms);

}  // namespace engram::bench
