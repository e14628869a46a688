// Ranking helpers for hybrid search: top-k selection, reciprocal rank fusion, weighted score
// fusion and maximal marginal relevance. Ties break by id so results are deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace engram::retrieval {

struct RankedItem {
  uint64_t id = 0;
  double score = 0.0;
};

// Keeps the k best of `items` (highest score first; equal scores by ascending id).
void TopK(std::vector<RankedItem>& items, size_t k);

// Σ over the lists holding an id of weight_list / (rrf_k + rank), rank counted from 1 in each
// list (which must be sorted best first). `weights` holds one weight per list (empty: all 1).
// Sorted best first.
std::vector<RankedItem> ReciprocalRankFusion(std::initializer_list<const std::vector<RankedItem>*> lists,
                                             double rrf_k, std::initializer_list<double> weights = {});

// weight_a · norm(a) + weight_b · norm(b), each list's scores min-max normalised to [0, 1] (a
// list of one item, or of equal scores, normalises to 1); an id missing from a list adds 0.
std::vector<RankedItem> WeightedFusion(const std::vector<RankedItem>& a,
                                       const std::vector<RankedItem>& b, double weight_a,
                                       double weight_b);

// Greedy MMR over `items` (sorted best first) with their unit vectors: each pick maximises
// lambda · relevance - (1 - lambda) · max cosine to the picks so far, relevance being the
// item's score min-max normalised. Returns up to k indices into `items`, in pick order.
std::vector<size_t> MaximalMarginalRelevance(const std::vector<RankedItem>& items,
                                             std::span<const std::span<const float>> vectors,
                                             size_t k, double lambda);

}  // namespace engram::retrieval
