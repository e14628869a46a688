#include "retrieval/rerank.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace engram::retrieval {

Status ValidateRerank(const RerankOptions& o) {
  if (o.candidates < 1 || o.candidates > kMaxRerankCandidates) {
    return Status::InvalidArgument("rerank: candidates must be within 1.." +
                                   std::to_string(kMaxRerankCandidates) + ", not " +
                                   std::to_string(o.candidates));
  }
  if (!std::isfinite(o.weight) || o.weight < 0.0 || o.weight > 1000.0) {
    return Status::InvalidArgument("rerank: weight must be a finite number within 0..1000");
  }
  return Status::OK();
}

std::vector<size_t> RerankOrder(std::span<const double> first, std::span<const double> reranked,
                                double weight) {
  std::vector<size_t> order(first.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t n = std::min(first.size(), reranked.size());
  std::stable_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n),
                   [&](size_t a, size_t b) {
                     return first[a] + weight * reranked[a] > first[b] + weight * reranked[b];
                   });
  return order;
}

Result<std::vector<SearchHit>> RerankHits(std::string_view query, std::vector<SearchHit> hits,
                                          Reranker& reranker, const RerankOptions& options) {
  if (Status st = ValidateRerank(options); !st.ok()) return st;
  const size_t n = std::min(hits.size(), static_cast<size_t>(options.candidates));
  std::vector<double> first;
  std::vector<std::string> passages;
  for (const SearchHit& h : hits) first.push_back(h.score);
  for (size_t i = 0; i < n; ++i) passages.push_back(hits[i].text);
  ENGRAM_TRY_ASSIGN(const std::vector<double> scores, reranker.Score(query, passages));
  if (scores.size() != n) {
    return Status::Internal("rerank: " + std::string(reranker.Name()) + " scored " +
                            std::to_string(scores.size()) + " of " + std::to_string(n) +
                            " passages");
  }
  std::vector<SearchHit> out;
  for (size_t i : RerankOrder(first, scores, options.weight)) {
    out.push_back(std::move(hits[i]));
    if (i < n) {
      out.back().rerank_score = scores[i];
      out.back().score = first[i] + options.weight * scores[i];
    }
  }
  return out;
}

}  // namespace engram::retrieval
