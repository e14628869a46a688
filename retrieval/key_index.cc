#include "retrieval/key_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "retrieval/internal/simd_flat_ip.h"

namespace engram::retrieval {
namespace {

int ListCount(int64_t n_keys, int keys_per_list) {
  const int64_t lists = n_keys / std::max(1, keys_per_list);
  return static_cast<int>(std::clamp<int64_t>(lists, 1, 1024));
}

// Per query, the lists in the order a probe visits them (best first): `order` holds
// n_queries * n_lists list numbers.
template <typename ListSize, typename AppendList>
void Probe(const std::vector<int32_t>& order, int n_lists, int n_queries, int64_t want,
           double factor, const ListSize& list_size, const AppendList& append) {
  // Each query probes until its lists hold its share of the candidates (at least `want`): the
  // group's queries often want the same keys, so their union stays near the target.
  const auto target = static_cast<int64_t>(
      std::max<double>(static_cast<double>(want), factor * static_cast<double>(want) / n_queries));
  for (int q = 0; q < n_queries; ++q) {
    int64_t taken = 0;
    for (int i = 0; i < n_lists && taken < target; ++i) {
      const int32_t list = order[static_cast<size_t>(q) * n_lists + i];
      taken += list_size(list);
      append(list);
    }
  }
}

class ExactKeyIndex final : public KeyIndex {
 public:
  KeyIndexKind kind() const override { return KeyIndexKind::kExact; }
  void Add(const float*, const int32_t* ids, int64_t n) override { ids_.insert(ids_.end(), ids, ids + n); }
  void Candidates(const float*, int, int64_t, std::vector<int32_t>* out) const override {
    out->insert(out->end(), ids_.begin(), ids_.end());
  }
  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  size_t memory_bytes() const override { return ids_.capacity() * sizeof(int32_t); }

 private:
  std::vector<int32_t> ids_;
};

// FAISS IVF-Flat over the keys, inner product. The probe walks the lists by the quantizer's
// score and returns their ids; the caller's exact scoring replaces FAISS's scan of them.
class IvfKeyIndex final : public KeyIndex {
 public:
  IvfKeyIndex(int dim, int n_lists, double factor)
      : dim_(dim),
        factor_(factor),
        quantizer_(dim),
        index_(&quantizer_, dim, static_cast<size_t>(n_lists), faiss::METRIC_INNER_PRODUCT) {
    index_.cp.min_points_per_centroid = 1;  // short contexts: no "too few points" warning
    index_.cp.max_points_per_centroid = 64;  // k-means on a sample: FAISS's BLAS here is netlib
    index_.cp.verbose = false;
  }
  void Train(const float* keys, int64_t n) { index_.train(n, keys); }
  KeyIndexKind kind() const override { return KeyIndexKind::kIvf; }
  void Add(const float* keys, const int32_t* ids, int64_t n) override {
    std::vector<faiss::Index::idx_t> wide(ids, ids + n);
    index_.add_with_ids(n, keys, wide.data());
  }
  void Candidates(const float* queries, int n_queries, int64_t want,
                  std::vector<int32_t>* out) const override {
    const int n_lists = static_cast<int>(index_.nlist);
    std::vector<int32_t> order(static_cast<size_t>(n_queries) * n_lists);
    std::vector<float> score(static_cast<size_t>(n_lists));
    for (int q = 0; q < n_queries; ++q) {
      const float* centroids = quantizer_.get_xb();
      for (int c = 0; c < n_lists; ++c) {
        score[c] = internal::InnerProduct(queries + q * dim_, centroids + c * dim_, dim_);
      }
      int32_t* o = order.data() + static_cast<size_t>(q) * n_lists;
      std::iota(o, o + n_lists, 0);
      std::sort(o, o + n_lists, [&](int32_t a, int32_t b) { return score[a] > score[b]; });
    }
    const faiss::InvertedLists& lists = *index_.invlists;
    Probe(
        order, n_lists, n_queries, want, factor_,
        [&](int32_t l) { return static_cast<int64_t>(lists.list_size(l)); },
        [&](int32_t l) {
          const size_t n = lists.list_size(l);
          const faiss::Index::idx_t* ids = lists.get_ids(l);
          for (size_t i = 0; i < n; ++i) out->push_back(static_cast<int32_t>(ids[i]));
          lists.release_ids(l, ids);
        });
  }
  int64_t size() const override { return index_.ntotal; }
  size_t memory_bytes() const override {
    return static_cast<size_t>(index_.ntotal) * (dim_ * sizeof(float) + sizeof(faiss::Index::idx_t)) +
           index_.nlist * dim_ * sizeof(float);
  }

 private:
  int dim_;
  double factor_;
  internal::SimdFlatIP quantizer_;
  faiss::IndexIVFFlat index_;
};

// Query centroids with lists of the keys their queries attend (see the header).
class AwareKeyIndex final : public KeyIndex {
 public:
  AwareKeyIndex(int dim, double factor) : dim_(dim), factor_(factor) {}

  // Hand-written k-means and top-k below, not faiss::Clustering and IndexFlat::search: Debian's
  // FAISS does batched products through the reference (netlib) BLAS, which made one index take
  // seconds; these loops use the SIMD inner product and take milliseconds.
  void Build(const KeyIndexInput& in, int n_lists) {
    n_lists = static_cast<int>(std::min<int64_t>(n_lists, std::max<int64_t>(1, in.n_queries / 8)));
    const std::vector<int32_t> cluster = Cluster(in.queries, in.n_queries, n_lists);
    lists_.assign(static_cast<size_t>(n_lists), {});

    // Link each query's cluster to the query's true top keys.
    const int links = static_cast<int>(std::min<int64_t>(in.links_per_query, in.n_keys));
    std::vector<float> scores(static_cast<size_t>(in.n_keys));
    std::vector<int32_t> order(static_cast<size_t>(in.n_keys));
    for (int64_t q = 0; q < in.n_queries && links > 0; ++q) {
      const float* query = in.queries + q * dim_;
      for (int64_t j = 0; j < in.n_keys; ++j) {
        scores[j] = internal::InnerProduct(query, in.keys + j * dim_, static_cast<size_t>(dim_));
      }
      std::iota(order.begin(), order.end(), 0);
      std::nth_element(order.begin(), order.begin() + (links - 1), order.end(),
                       [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
      std::vector<int32_t>& list = lists_[static_cast<size_t>(cluster[q])];
      for (int i = 0; i < links; ++i) list.push_back(in.ids[order[i]]);
    }
    // Every key also goes under the query centroid that scores it highest.
    Add(in.keys, in.ids, in.n_keys);
    for (std::vector<int32_t>& list : lists_) {
      std::sort(list.begin(), list.end());
      list.erase(std::unique(list.begin(), list.end()), list.end());
    }
  }

  KeyIndexKind kind() const override { return KeyIndexKind::kAttentionAware; }
  void Add(const float* keys, const int32_t* ids, int64_t n) override {
    const int n_lists = static_cast<int>(lists_.size());
    for (int64_t j = 0; j < n; ++j) {
      int best = 0;
      float best_score = -std::numeric_limits<float>::infinity();
      for (int c = 0; c < n_lists; ++c) {
        const float s = internal::InnerProduct(
            keys + j * dim_, centroids_.data() + static_cast<size_t>(c) * dim_, dim_);
        if (s > best_score) best_score = s, best = c;
      }
      lists_[best].push_back(ids[j]);
    }
    size_ += n;
  }
  void Candidates(const float* queries, int n_queries, int64_t want,
                  std::vector<int32_t>* out) const override {
    const int n_lists = static_cast<int>(lists_.size());
    std::vector<int32_t> order(static_cast<size_t>(n_queries) * n_lists);
    std::vector<float> dist(static_cast<size_t>(n_lists));
    for (int q = 0; q < n_queries; ++q) {
      for (int c = 0; c < n_lists; ++c) {
        // ||q - c||^2 less the query's own norm, which does not change the order.
        dist[c] = norms_[c] - 2.0f * internal::InnerProduct(queries + q * dim_,
                                                            centroids_.data() + c * dim_, dim_);
      }
      int32_t* o = order.data() + static_cast<size_t>(q) * n_lists;
      std::iota(o, o + n_lists, 0);
      std::sort(o, o + n_lists, [&](int32_t a, int32_t b) { return dist[a] < dist[b]; });
    }
    Probe(
        order, n_lists, n_queries, want, factor_,
        [&](int32_t l) { return static_cast<int64_t>(lists_[l].size()); },
        [&](int32_t l) { out->insert(out->end(), lists_[l].begin(), lists_[l].end()); });
  }
  int64_t size() const override { return size_; }
  size_t memory_bytes() const override {
    size_t bytes = centroids_.size() * sizeof(float);
    for (const std::vector<int32_t>& list : lists_) bytes += list.capacity() * sizeof(int32_t);
    return bytes;
  }

 private:
  int dim_;
  double factor_;
  int64_t size_ = 0;
  // Lloyd's k-means (L2) of the queries into n_lists centroids; returns each query's cluster.
  std::vector<int32_t> Cluster(const float* x, int64_t n, int n_lists) {
    centroids_.resize(static_cast<size_t>(n_lists) * dim_);
    for (int c = 0; c < n_lists; ++c) {  // deterministic start: evenly spaced queries
      const int64_t pick = c * n / n_lists;
      std::copy(x + pick * dim_, x + (pick + 1) * dim_, centroids_.begin() + c * dim_);
    }
    std::vector<int32_t> assign(static_cast<size_t>(n), 0);
    std::vector<double> sums(centroids_.size());
    std::vector<int64_t> counts(static_cast<size_t>(n_lists));
    for (int iter = 0; iter < 8; ++iter) {
      UpdateNorms();
      for (int64_t i = 0; i < n; ++i) {
        float best = std::numeric_limits<float>::infinity();
        for (int c = 0; c < n_lists; ++c) {
          const float d = norms_[c] - 2.0f * internal::InnerProduct(x + i * dim_,
                                                                    centroids_.data() + c * dim_, dim_);
          if (d < best) best = d, assign[i] = c;
        }
      }
      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(counts.begin(), counts.end(), 0);
      for (int64_t i = 0; i < n; ++i) {
        counts[assign[i]] += 1;
        for (int d = 0; d < dim_; ++d) sums[assign[i] * dim_ + d] += x[i * dim_ + d];
      }
      for (int c = 0; c < n_lists; ++c) {
        if (counts[c] == 0) continue;  // an empty cluster keeps its centroid
        for (int d = 0; d < dim_; ++d) {
          centroids_[c * dim_ + d] = static_cast<float>(sums[c * dim_ + d] / counts[c]);
        }
      }
    }
    UpdateNorms();
    return assign;
  }
  void UpdateNorms() {
    const int n_lists = static_cast<int>(centroids_.size() / dim_);
    norms_.resize(static_cast<size_t>(n_lists));
    for (int c = 0; c < n_lists; ++c) {
      norms_[c] = internal::InnerProduct(centroids_.data() + c * dim_, centroids_.data() + c * dim_, dim_);
    }
  }

  std::vector<float> centroids_;             // rows of dim_
  std::vector<float> norms_;                 // squared norms of the centroids
  std::vector<std::vector<int32_t>> lists_;  // key ids per query centroid
};

}  // namespace

std::string_view KeyIndexKindName(KeyIndexKind kind) {
  switch (kind) {
    case KeyIndexKind::kExact: return "exact";
    case KeyIndexKind::kIvf: return "ivf";
    case KeyIndexKind::kAttentionAware: return "aware";
  }
  return "?";
}

Result<KeyIndexKind> ParseKeyIndexKind(std::string_view name) {
  for (KeyIndexKind k : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    if (name == KeyIndexKindName(k)) return k;
  }
  return Status::InvalidArgument("key index '" + std::string(name) +
                                 "' is unknown; use exact, ivf or aware");
}

Result<std::unique_ptr<KeyIndex>> BuildKeyIndex(KeyIndexKind kind, const KeyIndexInput& in) {
  if (in.dim <= 0 || in.n_keys < 0 || (in.n_keys > 0 && (in.keys == nullptr || in.ids == nullptr))) {
    return Status::InvalidArgument("key index: dimension " + std::to_string(in.dim) + " and " +
                                   std::to_string(in.n_keys) + " keys are not a valid input");
  }
  if (in.candidate_factor < 1.0) {
    return Status::InvalidArgument("key index: candidate factor " +
                                   std::to_string(in.candidate_factor) + " must be >= 1");
  }
  const bool have_queries = in.queries != nullptr && in.n_queries > 0;
  if (kind == KeyIndexKind::kExact || in.n_keys == 0) {
    // An empty index of any kind proposes everything it is given later, exactly.
    auto index = std::make_unique<ExactKeyIndex>();
    index->Add(in.keys, in.ids, in.n_keys);
    return std::unique_ptr<KeyIndex>(std::move(index));
  }
  try {
    const int n_lists = ListCount(in.n_keys, in.keys_per_list);
    if (kind == KeyIndexKind::kAttentionAware && have_queries) {
      auto index = std::make_unique<AwareKeyIndex>(in.dim, in.candidate_factor);
      index->Build(in, n_lists);
      return std::unique_ptr<KeyIndex>(std::move(index));
    }
    auto index = std::make_unique<IvfKeyIndex>(in.dim, n_lists, in.candidate_factor);
    index->Train(in.keys, in.n_keys);
    index->Add(in.keys, in.ids, in.n_keys);
    return std::unique_ptr<KeyIndex>(std::move(index));
  } catch (const faiss::FaissException& e) {
    return Status::Internal(std::string("key index: FAISS failed: ") + e.what());
  }
}

}  // namespace engram::retrieval
