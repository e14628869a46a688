#include "retrieval/fusion.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace engram::retrieval {
namespace {

bool Better(const RankedItem& a, const RankedItem& b) {
  return a.score != b.score ? a.score > b.score : a.id < b.id;
}

std::vector<double> Normalised(const std::vector<RankedItem>& items) {
  std::vector<double> out(items.size(), 1.0);
  if (items.empty()) return out;
  double lo = items[0].score, hi = items[0].score;
  for (const RankedItem& r : items) lo = std::min(lo, r.score), hi = std::max(hi, r.score);
  if (hi > lo) {
    for (size_t i = 0; i < items.size(); ++i) out[i] = (items[i].score - lo) / (hi - lo);
  }
  return out;
}

std::vector<RankedItem> Sorted(const std::unordered_map<uint64_t, double>& scores) {
  std::vector<RankedItem> out;
  out.reserve(scores.size());
  for (const auto& [id, score] : scores) out.push_back({id, score});
  std::sort(out.begin(), out.end(), Better);
  return out;
}

}  // namespace

void TopK(std::vector<RankedItem>& items, size_t k) {
  if (items.size() > k) {
    std::nth_element(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end(), Better);
    items.resize(k);
  }
  std::sort(items.begin(), items.end(), Better);
}

std::vector<RankedItem> ReciprocalRankFusion(std::initializer_list<const std::vector<RankedItem>*> lists,
                                             double rrf_k, std::initializer_list<double> weights) {
  std::unordered_map<uint64_t, double> scores;
  size_t l = 0;
  for (const std::vector<RankedItem>* list : lists) {
    const double w = l < weights.size() ? *(weights.begin() + l) : 1.0;
    ++l;
    for (size_t i = 0; i < list->size(); ++i) {
      scores[(*list)[i].id] += w / (rrf_k + static_cast<double>(i + 1));
    }
  }
  return Sorted(scores);
}

std::vector<RankedItem> WeightedFusion(const std::vector<RankedItem>& a,
                                       const std::vector<RankedItem>& b, double weight_a,
                                       double weight_b) {
  std::unordered_map<uint64_t, double> scores;
  const std::vector<double> na = Normalised(a), nb = Normalised(b);
  for (size_t i = 0; i < a.size(); ++i) scores[a[i].id] += weight_a * na[i];
  for (size_t i = 0; i < b.size(); ++i) scores[b[i].id] += weight_b * nb[i];
  return Sorted(scores);
}

std::vector<size_t> MaximalMarginalRelevance(const std::vector<RankedItem>& items,
                                             std::span<const std::span<const float>> vectors,
                                             size_t k, double lambda) {
  const std::vector<double> relevance = Normalised(items);
  std::vector<size_t> picked;
  std::vector<double> max_similarity(items.size(), -std::numeric_limits<double>::infinity());
  std::vector<bool> used(items.size(), false);
  while (picked.size() < std::min(k, items.size())) {
    size_t best = 0;
    double best_value = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < items.size(); ++i) {
      if (used[i]) continue;
      const double penalty = picked.empty() ? 0.0 : max_similarity[i];
      const double value = lambda * relevance[i] - (1.0 - lambda) * penalty;
      if (value > best_value) best_value = value, best = i;
    }
    used[best] = true;
    picked.push_back(best);
    for (size_t i = 0; i < items.size(); ++i) {
      if (used[i]) continue;
      double dot = 0.0;
      for (size_t d = 0; d < vectors[i].size() && d < vectors[best].size(); ++d) {
        dot += static_cast<double>(vectors[i][d]) * vectors[best][d];
      }
      max_similarity[i] = std::max(max_similarity[i], dot);
    }
  }
  return picked;
}

}  // namespace engram::retrieval
