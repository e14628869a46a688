// Reranking in the evals (--rerank N): the first stage's best N candidates rescored as
//   first-stage score + w × the reranker's score
// for each weight w of kRerankWeights (w = 0 is the first stage's own order, so cross-validation
// can decline the reranker). Candidates past N keep their first-stage order after the N.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace engram::bench {

inline constexpr double kRerankWeights[] = {0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 16.0};

// orders[w][i]: the first-stage index of the i-th candidate under weight w. `first` holds the
// first stage's scores in its order (best first); `reranked` the reranker's scores of its first
// reranked.size() candidates.
std::vector<std::vector<size_t>> RerankOrders(std::span<const double> first,
                                              std::span<const double> reranked);

}  // namespace engram::bench
