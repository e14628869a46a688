// Reranking a search's first hits with a Reranker (retrieval/reranker.h): each of the first
// `candidates` hits is rescored as
//   first-stage score + weight × reranker score
// and they are sorted by it (stable); the hits past them keep their order after them. Weight 0
// keeps the first stage's order.
//
//   LmReranker lm = ...;  // inference/lm_reranker.h
//   auto hits = collection.Search(query, {.k = 10});
//   auto reranked = RerankHits(query, *std::move(hits), lm, {.candidates = 5});
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "retrieval/collection.h"
#include "retrieval/reranker.h"

namespace engram::retrieval {

struct RerankOptions {
  int candidates = 10;  // 1..kMaxRerankCandidates
  // Finite, 0..1000. 2: what every leave-one-article-out fold on SQuAD chose for the default
  // language model's question likelihood beside the rescored hybrid score (all 5,397 questions:
  // held-out recall@1 0.844 -> 0.867; docs/benchmarks.md).
  double weight = 2.0;
};
inline constexpr int kMaxRerankCandidates = 100;

// kInvalidArgument naming the field when an option is out of range.
Status ValidateRerank(const RerankOptions& options);

// The order (indices into `first`) of a first stage's candidates, best first, when the first
// reranked.size() of them are rescored as first[i] + weight × reranked[i].
std::vector<size_t> RerankOrder(std::span<const double> first, std::span<const double> reranked,
                                double weight);

// `hits` (a search's, best first) reranked; each rescored hit's `score` becomes the combined
// score and its `rerank_score` the reranker's.
Result<std::vector<SearchHit>> RerankHits(std::string_view query, std::vector<SearchHit> hits,
                                          Reranker& reranker, const RerankOptions& options);

}  // namespace engram::retrieval
