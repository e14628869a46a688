#include "retrieval/key_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "common/byte_io.h"
#include "retrieval/internal/simd_flat_ip.h"

namespace engram::retrieval {
namespace {

// Standardized score (spreads above the keys' mean score) from which a key is linked into a
// cluster's list besides its best one: about the top 1% of a cluster's keys.
constexpr float kLinkSpreads = 2.33f;

// ---- serialization (docs/formats/key_index.md) -----------------------------------------------


// Largest dimension and list count a serialized index may claim (a bound against bad bytes).
constexpr int32_t kMaxDim = 1 << 16;
constexpr int32_t kMaxLists = 1 << 20;

int ListCount(int64_t n_keys, int keys_per_list) {
  const int64_t lists = n_keys / std::max(1, keys_per_list);
  return static_cast<int>(std::clamp<int64_t>(lists, 1, 1024));
}

// Appends the candidates of a probe to `out`, each id once. `order` holds, per query, the lists
// in the order it visits them (best first; n_queries * n_lists list numbers). Each query probes
// until it has added its share of distinct candidates (at least `want`): lists may overlap (the
// aware index links a key into several), so the count is of distinct ids, and when `want` is at
// least the index's size every key is proposed.
template <typename ForEachId>
void Probe(const std::vector<int32_t>& order, int n_lists, int n_queries, int64_t want,
           double factor, int32_t max_id, const ForEachId& for_each_id,
           std::vector<int32_t>* out) {
  thread_local std::vector<uint32_t> seen;  // stamp per id
  thread_local uint32_t stamp = 0;
  if (seen.size() <= static_cast<size_t>(max_id)) seen.assign(static_cast<size_t>(max_id) + 1, 0);
  if (++stamp == 0) std::fill(seen.begin(), seen.end(), 0), stamp = 1;
  const auto target = static_cast<int64_t>(
      std::max<double>(static_cast<double>(want), factor * static_cast<double>(want) / n_queries));
  for (int q = 0; q < n_queries; ++q) {
    int64_t taken = 0;
    for (int i = 0; i < n_lists && taken < target; ++i) {
      for_each_id(order[static_cast<size_t>(q) * n_lists + i], [&](int32_t id) {
        if (seen[id] == stamp) return;
        seen[id] = stamp;
        out->push_back(id);
        ++taken;
      });
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
  std::unique_ptr<KeyIndex> Clone() const override { return std::make_unique<ExactKeyIndex>(*this); }
  int32_t max_id() const override {
    return ids_.empty() ? -1 : *std::max_element(ids_.begin(), ids_.end());
  }
  void Serialize(std::string* out) const override {
    AppendPod<uint32_t>(out, static_cast<uint32_t>(KeyIndexKind::kExact));
    AppendPod<int64_t>(out, size());
    AppendArray(out, ids_.data(), ids_.size());
  }
  bool Deserialize(ByteReader& in) {
    in.GetArray(in.Get<int64_t>(), &ids_);
    return in.ok() && std::all_of(ids_.begin(), ids_.end(), [](int32_t id) { return id >= 0; });
  }

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
    for (int64_t i = 0; i < n; ++i) max_id_ = std::max(max_id_, ids[i]);
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
        order, n_lists, n_queries, want, factor_, max_id_,
        [&](int32_t l, const auto& visit) {
          const size_t n = lists.list_size(l);
          const faiss::Index::idx_t* ids = lists.get_ids(l);
          for (size_t i = 0; i < n; ++i) visit(static_cast<int32_t>(ids[i]));
          lists.release_ids(l, ids);
        },
        out);
  }
  int64_t size() const override { return index_.ntotal; }
  size_t memory_bytes() const override {
    return static_cast<size_t>(index_.ntotal) * (dim_ * sizeof(float) + sizeof(faiss::Index::idx_t)) +
           index_.nlist * dim_ * sizeof(float);
  }
  int32_t max_id() const override { return index_.ntotal > 0 ? max_id_ : -1; }
  std::unique_ptr<KeyIndex> Clone() const override {
    std::string bytes;
    Serialize(&bytes);
    ByteReader in({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    in.Get<uint32_t>();  // the kind
    auto copy = std::make_unique<IvfKeyIndex>(in.Get<int32_t>(), static_cast<int>(index_.nlist),
                                              factor_);
    copy->Deserialize(in);  // its own bytes: cannot fail
    return copy;
  }
  // kind, dim, list count, factor, max id, centroids, then per list: size, ids (i32), keys.
  void Serialize(std::string* out) const override {
    AppendPod<uint32_t>(out, static_cast<uint32_t>(KeyIndexKind::kIvf));
    AppendPod<int32_t>(out, dim_);
    AppendPod<int32_t>(out, static_cast<int32_t>(index_.nlist));
    AppendPod<double>(out, factor_);
    AppendPod<int32_t>(out, max_id_);
    AppendArray(out, quantizer_.get_xb(), index_.nlist * dim_);
    const faiss::InvertedLists& lists = *index_.invlists;
    std::vector<int32_t> ids;
    for (size_t l = 0; l < index_.nlist; ++l) {
      const size_t n = lists.list_size(l);
      AppendPod<int64_t>(out, static_cast<int64_t>(n));
      const faiss::Index::idx_t* wide = lists.get_ids(l);
      ids.assign(wide, wide + n);
      lists.release_ids(l, wide);
      AppendArray(out, ids.data(), n);
      const uint8_t* codes = lists.get_codes(l);
      AppendArray(out, codes, n * lists.code_size);
      lists.release_codes(l, codes);
    }
  }
  // The rest after kind and dim (the caller constructed this index with them).
  bool Deserialize(ByteReader& in) {
    const auto n_lists = static_cast<size_t>(in.Get<int32_t>());
    factor_ = in.Get<double>();
    max_id_ = in.Get<int32_t>();
    if (!in.ok() || n_lists != index_.nlist || max_id_ < 0 || !(factor_ >= 1.0)) return false;
    std::vector<float> centroids;
    in.GetArray(static_cast<int64_t>(n_lists) * dim_, &centroids);
    if (!in.ok()) return false;
    quantizer_.add(static_cast<faiss::Index::idx_t>(n_lists), centroids.data());
    index_.is_trained = true;
    std::vector<int32_t> ids;
    std::vector<float> keys;
    for (size_t l = 0; l < n_lists; ++l) {
      const int64_t n = in.Get<int64_t>();
      in.GetArray(n, &ids);
      in.GetArray(n * dim_, &keys);
      if (!in.ok()) return false;
      for (int32_t id : ids) {
        if (id < 0 || id > max_id_) return false;
      }
      std::vector<faiss::Index::idx_t> wide(ids.begin(), ids.end());
      index_.invlists->add_entries(l, ids.size(), wide.data(),
                                   reinterpret_cast<const uint8_t*>(keys.data()));
      index_.ntotal += n;
    }
    return true;
  }

 private:
  int dim_;
  double factor_;
  int32_t max_id_ = 0;
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

    // Link each query's cluster to the query's true top keys: the keys dimension-major, so one
    // query scores all of them with vertical SIMD products, and a small heap keeps the top.
    const int links = static_cast<int>(std::min<int64_t>(in.links_per_query, in.n_keys));
    const auto n = static_cast<size_t>(in.n_keys);
    std::vector<float> columns(n * dim_);
    for (size_t j = 0; j < n; ++j) {
      for (int d = 0; d < dim_; ++d) columns[d * n + j] = in.keys[j * dim_ + d];
    }
    std::vector<float> scores(n);
    using Scored = std::pair<float, int32_t>;
    std::vector<Scored> heap;  // min-heap of the best `links` (score, row)
    for (int64_t q = 0; q < in.n_queries && links > 0; ++q) {
      internal::InnerProductsTransposed(in.queries + q * dim_, columns.data(), n,
                                        static_cast<size_t>(dim_), scores.data());
      heap.clear();
      for (size_t j = 0; j < n; ++j) {
        if (static_cast<int>(heap.size()) < links) {
          heap.push_back({scores[j], static_cast<int32_t>(j)});
          std::push_heap(heap.begin(), heap.end(), std::greater<>());
        } else if (scores[j] > heap.front().first) {
          std::pop_heap(heap.begin(), heap.end(), std::greater<>());
          heap.back() = {scores[j], static_cast<int32_t>(j)};
          std::push_heap(heap.begin(), heap.end(), std::greater<>());
        }
      }
      std::vector<int32_t>& list = lists_[static_cast<size_t>(cluster[q])];
      for (const Scored& s : heap) list.push_back(in.ids[s.second]);
    }
    // Every key also goes under the query centroid for which it stands out most. Not the raw
    // score: keys share a large mean, so one centroid would score nearly every key highest. A
    // query ranks keys by q·(k - mean) alone, so the assignment uses that, in units of the
    // centroid's spread over the keys: (c·k - c·mean) / sd_c.
    Standardize(in.keys, in.n_keys);
    Add(in.keys, in.ids, in.n_keys);
    for (std::vector<int32_t>& list : lists_) {
      std::sort(list.begin(), list.end());
      list.erase(std::unique(list.begin(), list.end()), list.end());
    }
  }

  KeyIndexKind kind() const override { return KeyIndexKind::kAttentionAware; }
  void Add(const float* keys, const int32_t* ids, int64_t n) override {
    const int n_lists = static_cast<int>(lists_.size());
    std::vector<float> dots(static_cast<size_t>(padded_));
    for (int64_t j = 0; j < n; ++j) {
      int best = 0;
      float best_score = -std::numeric_limits<float>::infinity();
      CentroidScores(keys + j * dim_, dots.data());
      for (int c = 0; c < n_lists; ++c) {
        const float s = (dots[c] - offset_[c]) * inv_spread_[c];
        if (s > best_score) best_score = s, best = c;
        // A key in the top percent of a cluster's scores is one its queries are likely to
        // attend: link it there too (what the prefill links do for the keys it saw).
        if (s >= kLinkSpreads) lists_[c].push_back(ids[j]);
      }
      if (best_score < kLinkSpreads) lists_[best].push_back(ids[j]);
      max_id_ = std::max(max_id_, ids[j]);
    }
    size_ += n;
  }
  void Candidates(const float* queries, int n_queries, int64_t want,
                  std::vector<int32_t>* out) const override {
    const int n_lists = static_cast<int>(lists_.size());
    std::vector<int32_t> order(static_cast<size_t>(n_queries) * n_lists);
    std::vector<float> dist(static_cast<size_t>(n_lists));
    std::vector<float> dots(static_cast<size_t>(padded_));
    for (int q = 0; q < n_queries; ++q) {
      CentroidScores(queries + q * dim_, dots.data());
      // ||q - c||^2 less the query's own norm, which does not change the order.
      for (int c = 0; c < n_lists; ++c) dist[c] = norms_[c] - 2.0f * dots[c];
      int32_t* o = order.data() + static_cast<size_t>(q) * n_lists;
      std::iota(o, o + n_lists, 0);
      std::sort(o, o + n_lists, [&](int32_t a, int32_t b) { return dist[a] < dist[b]; });
    }
    Probe(
        order, n_lists, n_queries, want, factor_, max_id_,
        [&](int32_t l, const auto& visit) {
          for (int32_t id : lists_[l]) visit(id);
        },
        out);
  }
  int64_t size() const override { return size_; }
  size_t memory_bytes() const override {
    size_t bytes = centroids_.size() * sizeof(float);
    for (const std::vector<int32_t>& list : lists_) bytes += list.capacity() * sizeof(int32_t);
    return bytes;
  }
  std::unique_ptr<KeyIndex> Clone() const override { return std::make_unique<AwareKeyIndex>(*this); }
  int32_t max_id() const override { return size_ > 0 ? max_id_ : -1; }
  // kind, dim, list count, factor, size, max id, centroids, offsets, inverse spreads, then per
  // list: size, ids (i32).
  void Serialize(std::string* out) const override {
    const auto n_lists = static_cast<int32_t>(lists_.size());
    AppendPod<uint32_t>(out, static_cast<uint32_t>(KeyIndexKind::kAttentionAware));
    AppendPod<int32_t>(out, dim_);
    AppendPod<int32_t>(out, n_lists);
    AppendPod<double>(out, factor_);
    AppendPod<int64_t>(out, size_);
    AppendPod<int32_t>(out, max_id_);
    AppendArray(out, centroids_.data(), centroids_.size());
    AppendArray(out, offset_.data(), offset_.size());
    AppendArray(out, inv_spread_.data(), inv_spread_.size());
    for (const std::vector<int32_t>& list : lists_) {
      AppendPod<int64_t>(out, static_cast<int64_t>(list.size()));
      AppendArray(out, list.data(), list.size());
    }
  }
  // The rest after kind and dim (the caller constructed this index with dim).
  bool Deserialize(ByteReader& in) {
    const int32_t n_lists = in.Get<int32_t>();
    factor_ = in.Get<double>();
    size_ = in.Get<int64_t>();
    max_id_ = in.Get<int32_t>();
    if (!in.ok() || n_lists < 1 || n_lists > kMaxLists || size_ < 0 || max_id_ < 0 ||
        !(factor_ >= 1.0)) {
      return false;
    }
    in.GetArray(static_cast<int64_t>(n_lists) * dim_, &centroids_);
    in.GetArray(n_lists, &offset_);
    in.GetArray(n_lists, &inv_spread_);
    lists_.assign(static_cast<size_t>(n_lists), {});
    for (std::vector<int32_t>& list : lists_) {
      in.GetArray(in.Get<int64_t>(), &list);
      if (!in.ok()) return false;
      for (int32_t id : list) {
        if (id < 0 || id > max_id_) return false;
      }
    }
    if (!in.ok()) return false;
    UpdateNorms();
    return true;
  }

 private:
  int dim_;
  double factor_;
  int64_t size_ = 0;
  int32_t max_id_ = 0;
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
      std::vector<float> dots(static_cast<size_t>(padded_));
      for (int64_t i = 0; i < n; ++i) {
        CentroidScores(x + i * dim_, dots.data());
        float best = std::numeric_limits<float>::infinity();
        for (int c = 0; c < n_lists; ++c) {
          const float d = norms_[c] - 2.0f * dots[c];
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
  // Norms and the dimension-major copy of the centroids (padded to 64 columns with zeros), so
  // one vector is scored against every centroid with InnerProductsTransposed.
  void UpdateNorms() {
    const int n_lists = static_cast<int>(centroids_.size() / dim_);
    norms_.resize(static_cast<size_t>(n_lists));
    for (int c = 0; c < n_lists; ++c) {
      norms_[c] = internal::InnerProduct(centroids_.data() + c * dim_, centroids_.data() + c * dim_, dim_);
    }
    padded_ = (n_lists + 63) / 64 * 64;
    columns_.assign(static_cast<size_t>(padded_) * dim_, 0.0f);
    for (int c = 0; c < n_lists; ++c) {
      for (int d = 0; d < dim_; ++d) columns_[static_cast<size_t>(d) * padded_ + c] = centroids_[c * dim_ + d];
    }
  }
  // out[c] = x · centroid c, for every centroid (out holds padded_ floats).
  void CentroidScores(const float* x, float* out) const {
    internal::InnerProductsTransposed(x, columns_.data(), static_cast<size_t>(padded_),
                                      static_cast<size_t>(dim_), out);
  }

  // offset_[c] = c·mean(keys), inv_spread_[c] = 1 / sd over keys of c·(k - mean).
  void Standardize(const float* keys, int64_t n) {
    const int n_lists = static_cast<int>(centroids_.size() / dim_);
    std::vector<double> mean(static_cast<size_t>(dim_), 0.0);
    for (int64_t j = 0; j < n; ++j) {
      for (int d = 0; d < dim_; ++d) mean[d] += keys[j * dim_ + d];
    }
    std::vector<float> mean_f(static_cast<size_t>(dim_));
    for (int d = 0; d < dim_; ++d) mean_f[d] = static_cast<float>(mean[d] / std::max<int64_t>(n, 1));
    offset_.assign(static_cast<size_t>(n_lists), 0.0f);
    inv_spread_.assign(static_cast<size_t>(n_lists), 1.0f);
    std::vector<float> dots(static_cast<size_t>(padded_));
    CentroidScores(mean_f.data(), dots.data());
    std::copy(dots.begin(), dots.begin() + n_lists, offset_.begin());
    std::vector<double> sq(static_cast<size_t>(n_lists), 0.0);
    for (int64_t j = 0; j < n; ++j) {
      CentroidScores(keys + j * dim_, dots.data());
      for (int c = 0; c < n_lists; ++c) {
        const double v = dots[c] - offset_[c];
        sq[c] += v * v;
      }
    }
    for (int c = 0; c < n_lists; ++c) {
      const double sd = std::sqrt(sq[c] / std::max<int64_t>(n, 1));
      inv_spread_[c] = sd > 0.0 ? static_cast<float>(1.0 / sd) : 1.0f;
    }
  }

  std::vector<float> offset_;
  std::vector<float> inv_spread_;
  std::vector<float> columns_;  // centroids, dimension-major, padded_ columns
  int padded_ = 0;
  std::vector<float> centroids_;             // rows of dim_
  std::vector<float> norms_;                 // squared norms of the centroids
  std::vector<std::vector<int32_t>> lists_;  // key ids per query centroid
};

}  // namespace

Result<std::unique_ptr<KeyIndex>> DeserializeKeyIndex(std::span<const uint8_t> bytes,
                                                      int64_t id_limit) {
  ByteReader in(bytes);
  const uint32_t kind = in.Get<uint32_t>();
  auto corrupt = [&](const std::string& why) {
    return Status::Corruption("key index: serialized index is malformed: " + why);
  };
  if (!in.ok()) return corrupt("it is empty");
  try {
    std::unique_ptr<KeyIndex> index;
    bool ok = false;
    if (kind == static_cast<uint32_t>(KeyIndexKind::kExact)) {
      auto exact = std::make_unique<ExactKeyIndex>();
      ok = exact->Deserialize(in);
      index = std::move(exact);
    } else if (kind == static_cast<uint32_t>(KeyIndexKind::kIvf) ||
               kind == static_cast<uint32_t>(KeyIndexKind::kAttentionAware)) {
      const int32_t dim = in.Get<int32_t>();
      if (!in.ok() || dim < 1 || dim > kMaxDim) return corrupt("bad dimension");
      if (kind == static_cast<uint32_t>(KeyIndexKind::kIvf)) {
        // The list count is read twice: here to construct, then checked by Deserialize.
        ByteReader peek = in;
        const int32_t n_lists = peek.Get<int32_t>();
        if (!peek.ok() || n_lists < 1 || n_lists > kMaxLists) return corrupt("bad list count");
        auto ivf = std::make_unique<IvfKeyIndex>(dim, n_lists, 1.0);
        ok = ivf->Deserialize(in);
        index = std::move(ivf);
      } else {
        auto aware = std::make_unique<AwareKeyIndex>(dim, 1.0);
        ok = aware->Deserialize(in);
        index = std::move(aware);
      }
    } else {
      return corrupt("unknown kind " + std::to_string(kind));
    }
    if (!ok || !in.ok()) return corrupt("truncated or out-of-range fields");
    if (!in.done()) return corrupt("trailing bytes");
    if (index->max_id() >= id_limit) {
      return corrupt("id " + std::to_string(index->max_id()) + " is outside [0, " +
                     std::to_string(id_limit) + ")");
    }
    return index;
  } catch (const faiss::FaissException& e) {
    return Status::Internal(std::string("key index: FAISS failed: ") + e.what());
  }
}

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
    if (kind == KeyIndexKind::kAttentionAware) {
      auto index = std::make_unique<AwareKeyIndex>(in.dim, in.candidate_factor);
      if (have_queries) {
        index->Build(in, n_lists);
      } else {
        // No prefill queries (a cache loaded from a file): the keys stand in for them, an
        // evenly spaced sample of up to 1,536. Weaker than real queries, but still cheap to
        // build and probe.
        KeyIndexInput stand_in = in;
        const int64_t count = std::min<int64_t>(in.n_keys, 1536);
        std::vector<float> sample(static_cast<size_t>(count) * in.dim);
        for (int64_t i = 0; i < count; ++i) {
          const float* row = in.keys + (i * in.n_keys / count) * in.dim;
          std::copy(row, row + in.dim, sample.begin() + i * in.dim);
        }
        stand_in.queries = sample.data();
        stand_in.n_queries = count;
        stand_in.links_per_query = 0;  // a key's own top keys say nothing about queries
        index->Build(stand_in, n_lists);
      }
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
