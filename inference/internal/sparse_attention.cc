#include "inference/internal/sparse_attention.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "kernels/attention.h"
#include "kernels/quant.h"

namespace engram::inference::internal {
namespace {

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t RoundDown(int64_t x, int64_t m) { return x / m * m; }

// Indexes of the `k` largest scores, ascending by position (for the gathered kernel's locality).
void KeepTop(std::vector<int32_t>* positions, std::vector<float>* scores, int64_t k) {
  const auto n = static_cast<int64_t>(positions->size());
  if (n > k) {
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::nth_element(order.begin(), order.begin() + k, order.end(),
                     [&](int32_t a, int32_t b) { return (*scores)[a] > (*scores)[b]; });
    order.resize(static_cast<size_t>(k));
    for (int32_t& o : order) o = (*positions)[o];
    positions->swap(order);
  }
  std::sort(positions->begin(), positions->end());
}

}  // namespace

void PrefillQueries::Truncate(int64_t length, size_t q_dim) {
  size_t keep = 0;
  while (keep < positions.size() && positions[keep] < length) ++keep;
  positions.resize(keep);
  for (std::vector<float>& r : rows) r.resize(std::min(r.size(), keep * q_dim));
}

SparseAttention::SparseAttention(const AttentionOptions& options, const KvCacheShape& shape,
                                 int group, int block_size)
    : options_(options),
      shape_(shape),
      group_(group),
      block_size_(block_size),
      layers_(static_cast<size_t>(shape.n_layer)),
      indexes_(static_cast<size_t>(shape.n_layer) * shape.n_kv_head),
      build_seconds_(indexes_.size(), 0.0) {}

int64_t SparseAttention::Budget(int64_t length) const {
  return std::max<int64_t>(1, std::llround(options_.budget * static_cast<double>(length)));
}

void SparseAttention::BeginLayer(int layer, int64_t length) {
  LayerState& st = layers_[layer];
  st.length = length;
  st.add_begin = st.add_end = 0;
  const int64_t sinks = std::min<int64_t>(options_.sinks, length);
  switch (options_.kind) {
    case AttentionKind::kFull:
      st.sink_end = length;
      st.recent_begin = length;
      break;
    case AttentionKind::kWindow:
      st.sink_end = sinks;
      st.recent_begin = std::max(sinks, length - options_.window - Budget(length));
      break;
    case AttentionKind::kQuest:
      // Whole pages only: the sinks' page is attended whole, and the window starts on a page.
      st.sink_end = std::min(length, RoundUp(sinks, block_size_));
      st.recent_begin = std::max(st.sink_end, RoundDown(length - options_.window, block_size_));
      break;
    case AttentionKind::kRetrieval: {
      st.sink_end = sinks;
      const int64_t boundary = std::max(sinks, length - options_.window);
      if (st.indexed_end < 0) {
        st.add_begin = sinks;  // the first step builds the indexes over everything before it
        st.add_end = st.indexed_end = boundary;
      } else if (boundary - st.indexed_end >= options_.index_batch) {
        st.add_begin = st.indexed_end;
        st.add_end = st.indexed_end = boundary;
      }
      st.recent_begin = st.indexed_end;
      break;
    }
  }
}

void SparseAttention::Select(int layer, int kv_head, const float* q, const PagedKvCache& cache,
                             SequenceId seq, const PrefillQueries& queries,
                             AttentionPlan* plan) {
  const LayerState& st = layers_[layer];
  plan->sink_end = st.sink_end;
  plan->recent_begin = st.recent_begin;
  plan->selected.clear();
  if (options_.kind == AttentionKind::kQuest) SelectQuest(layer, kv_head, q, cache, seq, plan);
  if (options_.kind == AttentionKind::kRetrieval) {
    SelectRetrieval(layer, kv_head, q, cache, seq, queries, plan);
  }
}

void SparseAttention::SelectQuest(int layer, int kv_head, const float* q,
                                  const PagedKvCache& cache, SequenceId seq,
                                  AttentionPlan* plan) const {
  const LayerState& st = layers_[layer];
  const int dim = shape_.head_dim;
  const int64_t first = st.sink_end / block_size_;
  const int64_t last = st.recent_begin / block_size_;  // exclusive
  if (last <= first) return;
  std::vector<int32_t> pages(static_cast<size_t>(last - first));
  std::vector<float> bound(pages.size());
  for (int64_t p = first; p < last; ++p) {
    const float* lo = cache.KeyMin(seq, layer, kv_head, p);
    const float* hi = cache.KeyMax(seq, layer, kv_head, p);
    float best = -INFINITY;
    for (int g = 0; g < group_; ++g) {
      const float* qg = q + g * dim;
      float s = 0.0f;
      for (int d = 0; d < dim; ++d) s += std::max(qg[d] * lo[d], qg[d] * hi[d]);
      best = std::max(best, s);
    }
    pages[p - first] = static_cast<int32_t>(p);
    bound[p - first] = best;
  }
  const int64_t want = (Budget(st.length) + block_size_ - 1) / block_size_;
  KeepTop(&pages, &bound, want);
  plan->selected.reserve(pages.size() * block_size_);
  for (int32_t p : pages) {
    for (int i = 0; i < block_size_; ++i) plan->selected.push_back(p * block_size_ + i);
  }
}

void SparseAttention::SelectRetrieval(int layer, int kv_head, const float* q,
                                      const PagedKvCache& cache, SequenceId seq,
                                      const PrefillQueries& queries, AttentionPlan* plan) {
  const LayerState& st = layers_[layer];
  const int dim = shape_.head_dim;
  const kernels::KvRows keys = cache.Keys(seq, layer, kv_head);
  const size_t slot = static_cast<size_t>(layer) * shape_.n_kv_head + kv_head;
  std::unique_ptr<retrieval::KeyIndex>& index = indexes_[slot];

  if (st.add_end > st.add_begin || index == nullptr) {
    // Keys joining the index, as f32 rows.
    const int64_t n = st.add_end - st.add_begin;
    std::vector<float> rows(static_cast<size_t>(n) * dim);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      kernels::DequantizeRow(keys.type, keys.Row(st.add_begin + i), rows.data() + i * dim, dim);
      ids[i] = static_cast<int32_t>(st.add_begin + i);
    }
    if (index == nullptr) {
      const auto start = std::chrono::steady_clock::now();
      // The group's prefill queries of this layer, one row per (position, query head).
      std::vector<float> group_queries;
      const size_t q_dim = static_cast<size_t>(shape_.n_kv_head) * group_ * dim;
      if (options_.index == retrieval::KeyIndexKind::kAttentionAware &&
          layer < static_cast<int>(queries.rows.size())) {
        const std::vector<float>& all = queries.rows[layer];
        const size_t count = all.size() / q_dim;
        group_queries.reserve(count * group_ * dim);
        for (size_t p = 0; p < count; ++p) {
          const float* row = all.data() + p * q_dim + static_cast<size_t>(kv_head) * group_ * dim;
          group_queries.insert(group_queries.end(), row, row + group_ * dim);
        }
      }
      retrieval::KeyIndexInput in;
      in.dim = dim;
      in.keys = rows.data();
      in.ids = ids.data();
      in.n_keys = n;
      in.queries = group_queries.empty() ? nullptr : group_queries.data();
      in.n_queries = static_cast<int64_t>(group_queries.size() / dim);
      in.candidate_factor = options_.candidate_factor;
      Result<std::unique_ptr<retrieval::KeyIndex>> built =
          retrieval::BuildKeyIndex(options_.index, in);
      // Inputs are validated up front, so a failure here is FAISS running out of memory: fall
      // back to the exact index, which cannot fail.
      if (!built.ok()) built = retrieval::BuildKeyIndex(retrieval::KeyIndexKind::kExact, in);
      index = std::move(*built);
      build_seconds_[slot] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } else {
      index->Add(rows.data(), ids.data(), n);
    }
  }

  const int64_t want = Budget(st.length);
  thread_local std::vector<int32_t> candidates;
  thread_local std::vector<uint32_t> seen;  // stamp per position, to drop repeated candidates
  thread_local uint32_t stamp = 0;
  candidates.clear();
  index->Candidates(q, group_, want, &candidates);
  if (seen.size() < static_cast<size_t>(st.length)) seen.assign(static_cast<size_t>(st.length), 0);
  if (++stamp == 0) std::fill(seen.begin(), seen.end(), 0), stamp = 1;
  std::vector<int32_t>& out = plan->selected;
  for (int32_t id : candidates) {
    if (id < st.sink_end || id >= st.recent_begin || seen[id] == stamp) continue;
    seen[id] = stamp;
    out.push_back(id);
  }
  std::vector<float> scores(out.size());
  kernels::GroupKeyScores(q, group_, dim, keys, out.data(), 0, static_cast<int64_t>(out.size()),
                          scores.data());
  KeepTop(&out, &scores, want);
}

double SparseAttention::index_build_seconds() const {
  return std::accumulate(build_seconds_.begin(), build_seconds_.end(), 0.0);
}

size_t SparseAttention::index_bytes() const {
  size_t bytes = 0;
  for (const auto& index : indexes_) bytes += index ? index->memory_bytes() : 0;
  return bytes;
}

}  // namespace engram::inference::internal
