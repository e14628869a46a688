#include "inference/internal/sparse_attention.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <functional>
#include <numeric>

#include "inference/key_selection.h"
#include "kernels/attention.h"
#include "kernels/quant.h"

namespace engram::inference::internal {
namespace {

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t RoundDown(int64_t x, int64_t m) { return x / m * m; }

// Quest's bound for one page and one query: sum_d max(q_d * min_d, q_d * max_d), the largest
// score any key inside the per-channel bounds could reach. Cloned per ISA (GCC picks at load).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// Eight partial sums, so the compiler may vectorise (a single float sum has a fixed order it
// must keep): a page bound is a ranking key, its last bits do not matter.
[[gnu::always_inline]] inline float PageBoundLanes(const float* q, const float* lo,
                                                   const float* hi, int dim) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int d = 0;
  for (; d + 8 <= dim; d += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += std::max(q[d + l] * lo[d + l], q[d + l] * hi[d + l]);
  }
  float s = 0.0f;
  for (; d < dim; ++d) s += std::max(q[d] * lo[d], q[d] * hi[d]);
  for (float a : acc) s += a;
  return s;
}

// PageBound for the `group` queries of a KV head at once (rows of dim floats), reading the
// page's bounds once.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void GroupPageBounds(const float* q, int group, const float* lo, const float* hi, int dim,
                     float* out) {
  for (int g = 0; g < group; ++g) out[g] = PageBoundLanes(q + g * dim, lo, hi, dim);
}

// fn(lo, hi) over [0, n): split over the team when there is one and enough work, else inline.
void ForRange(ComputeTeam* team, size_t n, size_t grain,
              const std::function<void(size_t, size_t)>& fn) {
  if (team == nullptr || team->size() < 2 || n < 2 * grain) {
    fn(0, n);
    return;
  }
  team->ParallelFor(0, n, grain, fn);
}

}  // namespace

void PrefillQueries::Truncate(int64_t length, size_t q_dim) {
  size_t keep = 0;
  while (keep < positions.size() && positions[keep] < length) ++keep;
  positions.resize(keep);
  for (std::vector<float>& r : rows) r.resize(std::min(r.size(), keep * q_dim));
  for (int64_t& p : recent_positions) {
    if (p >= length) p = -1;
  }
}

SparseAttention::SparseAttention(const AttentionOptions& options, const KvCacheShape& shape,
                                 int group, int block_size)
    : options_(options),
      shape_(shape),
      group_(group),
      block_size_(block_size),
      layers_(static_cast<size_t>(shape.n_layer)),
      indexes_(static_cast<size_t>(shape.n_layer) * shape.n_kv_head),
      build_seconds_(indexes_.size(), 0.0),
      successors_(indexes_.size()) {}

int64_t SparseAttention::Budget(int64_t length) const {
  return MiddleBudget(options_.budget, length);
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
                             AttentionPlan* plan, ComputeTeam* team) {
  const LayerState& st = layers_[layer];
  plan->sink_end = st.sink_end;
  plan->recent_begin = st.recent_begin;
  plan->selected.clear();
  if (options_.kind == AttentionKind::kQuest) {
    SelectQuest(layer, kv_head, q, cache, seq, plan, team);
  }
  if (options_.kind == AttentionKind::kRetrieval) {
    SelectRetrieval(layer, kv_head, q, cache, seq, queries, plan, team);
  }
}

void SparseAttention::SelectQuest(int layer, int kv_head, const float* q,
                                  const PagedKvCache& cache, SequenceId seq,
                                  AttentionPlan* plan, ComputeTeam* team) const {
  const LayerState& st = layers_[layer];
  const int dim = shape_.head_dim;
  const int64_t first = st.sink_end / block_size_;
  const int64_t last = st.recent_begin / block_size_;  // exclusive
  if (last <= first) return;
  // Pages ranked by their bound relative to the best page, max over the group's heads (as
  // retrieval ranks keys).
  std::vector<int32_t> pages(static_cast<size_t>(last - first));
  std::vector<float> bound(pages.size(), -INFINITY), head_bound(pages.size() * group_);
  ForRange(team, pages.size(), 64, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      const int64_t p = first + static_cast<int64_t>(i);
      GroupPageBounds(q, group_, cache.KeyMin(seq, layer, kv_head, p),
                      cache.KeyMax(seq, layer, kv_head, p), dim, head_bound.data() + i * group_);
    }
  });
  for (int g = 0; g < group_; ++g) {
    float best = -INFINITY;
    for (size_t i = 0; i < pages.size(); ++i) best = std::max(best, head_bound[i * group_ + g]);
    for (size_t i = 0; i < pages.size(); ++i) {
      bound[i] = std::max(bound[i], head_bound[i * group_ + g] - best);
    }
  }
  for (int64_t p = first; p < last; ++p) pages[p - first] = static_cast<int32_t>(p);
  const int64_t want = (Budget(st.length) + block_size_ - 1) / block_size_;
  KeepBest(&pages, bound, want);
  plan->selected.reserve(pages.size() * block_size_);
  for (int32_t p : pages) {
    for (int i = 0; i < block_size_; ++i) plan->selected.push_back(p * block_size_ + i);
  }
}

void SparseAttention::UpdateIndex(int layer, int kv_head, const PagedKvCache& cache,
                                  SequenceId seq, const PrefillQueries& queries) {
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
        for (size_t slot = 0; slot < queries.recent_positions.size(); ++slot) {
          if (queries.recent_positions[slot] < 0 ||
              queries.recent_positions[slot] % queries.stride == 0) {
            continue;  // empty, or already in the strided sample
          }
          const float* row = queries.recent_rows[layer].data() + slot * q_dim +
                             static_cast<size_t>(kv_head) * group_ * dim;
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
}

void SparseAttention::SelectRetrieval(int layer, int kv_head, const float* q,
                                      const PagedKvCache& cache, SequenceId seq,
                                      const PrefillQueries& queries, AttentionPlan* plan,
                                      ComputeTeam* team) {
  UpdateIndex(layer, kv_head, cache, seq, queries);
  const LayerState& st = layers_[layer];
  const int dim = shape_.head_dim;
  const kernels::KvRows keys = cache.Keys(seq, layer, kv_head);
  const size_t slot = static_cast<size_t>(layer) * shape_.n_kv_head + kv_head;
  const retrieval::KeyIndex& index = *indexes_[slot];
  // Whether the index proposes every key anyway (then no second source adds anything).
  const bool proposes_all = index.kind() == retrieval::KeyIndexKind::kExact;

  const int64_t want = Budget(st.length);
  thread_local std::vector<int32_t> candidates;
  candidates.clear();
  index.Candidates(q, group_, want, &candidates);
  // Candidates in position order (a bitmap over the middle, read back in order): the rows are
  // then read front to back, block after block, instead of at random across the cache.
  thread_local std::vector<uint64_t> bits;
  bits.assign(static_cast<size_t>(st.length / 64 + 1), 0);
  for (int32_t id : candidates) {
    if (id >= st.sink_end && id < st.recent_begin) bits[id >> 6] |= uint64_t{1} << (id & 63);
  }
  // Second source: the pages whose Quest bound (an upper bound on any of their keys' scores)
  // is highest for the group. The index misses keys that no prefill query led to (a needle
  // only the question asks for); a key that scores high lifts its page's bound whatever the
  // index learnt.
  const int64_t first_page = st.sink_end / block_size_;
  const int64_t end_page = (st.recent_begin + block_size_ - 1) / block_size_;
  const auto take_pages = std::min<int64_t>(
      end_page - first_page,
      static_cast<int64_t>(std::ceil(options_.page_candidates * static_cast<double>(want) /
                                     block_size_)));
  if (!proposes_all && take_pages > 0) {
    thread_local std::vector<int32_t> pages;
    thread_local std::vector<float> bound, head_bound, best;
    const auto n_pages = static_cast<size_t>(end_page - first_page);
    pages.resize(n_pages);
    bound.resize(n_pages);
    head_bound.resize(n_pages * group_);
    best.assign(static_cast<size_t>(group_), -INFINITY);
    // (thread_local buffers are named through references: a lambda run on another thread
    // would otherwise reach that thread's own copies)
    std::vector<float>& bounds_out = head_bound;
    ForRange(team, n_pages, 64, [&](size_t lo, size_t hi) {
      for (size_t i = lo; i < hi; ++i) {
        const int64_t p = first_page + static_cast<int64_t>(i);
        GroupPageBounds(q, group_, cache.KeyMin(seq, layer, kv_head, p),
                        cache.KeyMax(seq, layer, kv_head, p), dim, bounds_out.data() + i * group_);
      }
    });
    for (size_t i = 0; i < n_pages; ++i) {
      pages[i] = static_cast<int32_t>(first_page + static_cast<int64_t>(i));
      for (int g = 0; g < group_; ++g) best[g] = std::max(best[g], head_bound[i * group_ + g]);
    }
    // Relative to each head's best page, max over the group (as keys are ranked below).
    for (size_t i = 0; i < n_pages; ++i) {
      float b = -INFINITY;
      for (int g = 0; g < group_; ++g) b = std::max(b, head_bound[i * group_ + g] - best[g]);
      bound[i] = b;
    }
    KeepBest(&pages, bound, take_pages);
    for (int32_t p : pages) {
      const int64_t lo = std::max<int64_t>(st.sink_end, int64_t{p} * block_size_);
      const int64_t hi = std::min<int64_t>(st.recent_begin, int64_t{p + 1} * block_size_);
      for (int64_t id = lo; id < hi; ++id) bits[id >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  // Third source: the positions right after the previous step's best keys. A head that copies
  // (an induction head reading out a number) moves one position per generated token, to keys
  // no query resembled before.
  if (!proposes_all) {
    for (int32_t p : successors_[slot]) {
      for (int64_t id = int64_t{p} + 1; id <= int64_t{p} + options_.successors; ++id) {
        if (id >= st.sink_end && id < st.recent_begin) bits[id >> 6] |= uint64_t{1} << (id & 63);
      }
    }
  }
  std::vector<int32_t>& out = plan->selected;
  for (size_t w = 0; w < bits.size(); ++w) {
    for (uint64_t word = bits[w]; word != 0; word &= word - 1) {
      out.push_back(static_cast<int32_t>(w * 64 + __builtin_ctzll(word)));
    }
  }
  // Rank by a key's best logit relative to each head's own best, max over the group's heads:
  // a raw score maximum would favour the head whose scores run largest and starve the others.
  const auto n = static_cast<int64_t>(out.size());
  if (n <= want) return;
  thread_local std::vector<float> head_scores, scores;
  head_scores.resize(static_cast<size_t>(n) * group_);
  std::vector<float>& scores_out = head_scores;
  ForRange(team, static_cast<size_t>(n), 256, [&](size_t lo, size_t hi) {
    // Scores of candidates [lo, hi) for each query g, into row g of head_scores.
    std::vector<float> part((hi - lo) * group_);
    const auto count = static_cast<int64_t>(hi - lo);
    kernels::KeyScoresPerQuery(q, group_, dim, keys, out.data() + lo, 0, count, part.data());
    for (int g = 0; g < group_; ++g) {
      std::copy(part.begin() + g * count, part.begin() + (g + 1) * count,
                scores_out.begin() + static_cast<int64_t>(g) * n + static_cast<int64_t>(lo));
    }
  });
  scores.assign(static_cast<size_t>(n), -INFINITY);
  for (int g = 0; g < group_; ++g) {
    const float* s = head_scores.data() + static_cast<size_t>(g) * n;
    float best = -INFINITY;
    for (int64_t j = 0; j < n; ++j) best = std::max(best, s[j]);
    for (int64_t j = 0; j < n; ++j) scores[j] = std::max(scores[j], s[j] - best);
  }
  if (options_.successors > 0) {
    // This step's best keys (per-head relative logit), whose successors the next step adds.
    std::vector<int32_t>& best_keys = successors_[slot];
    thread_local std::vector<int32_t> order;
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    const int64_t m = std::min<int64_t>(n, kSuccessorSources);
    std::partial_sort(order.begin(), order.begin() + m, order.end(),
                      [&](int32_t a, int32_t b) { return scores[a] > scores[b]; });
    best_keys.clear();
    for (int64_t i = 0; i < m; ++i) best_keys.push_back(out[order[i]]);
  }
  KeepBest(&out, scores, want);
}

bool SparseAttention::ValidFor(int64_t length) const {
  // The next step's window starts at length + 1 - window: an index reaching past that would
  // shrink the exact window.
  const int64_t boundary = std::max<int64_t>(options_.sinks, length + 1 - options_.window);
  for (const LayerState& st : layers_) {
    if (st.indexed_end > boundary) return false;
  }
  return true;
}

std::unique_ptr<SparseAttention> SparseAttention::Clone() const {
  auto copy = std::make_unique<SparseAttention>(options_, shape_, group_, block_size_);
  copy->layers_ = layers_;
  for (size_t i = 0; i < indexes_.size(); ++i) {
    if (indexes_[i]) copy->indexes_[i] = indexes_[i]->Clone();
  }
  copy->build_seconds_ = build_seconds_;
  copy->restored_ = restored_;
  copy->successors_ = successors_;
  return copy;
}

bool SparseAttention::indexes_built() const {
  for (const LayerState& st : layers_) {
    if (st.indexed_end < 0) return false;
  }
  return std::all_of(indexes_.begin(), indexes_.end(), [](const auto& i) { return i != nullptr; });
}

// i32 layers, i32 KV heads; per layer i64 indexed_end; per (layer, head) u64 size and the
// index's bytes (KeyIndex::Serialize).
void SparseAttention::SerializeIndexes(std::string* out) const {
  auto put = [out](auto v) { out->append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(static_cast<int32_t>(shape_.n_layer));
  put(static_cast<int32_t>(shape_.n_kv_head));
  for (const LayerState& st : layers_) put(static_cast<int64_t>(st.indexed_end));
  std::string bytes;
  for (const auto& index : indexes_) {
    bytes.clear();
    index->Serialize(&bytes);
    put(static_cast<uint64_t>(bytes.size()));
    out->append(bytes);
  }
}

Status SparseAttention::RestoreIndexes(std::span<const uint8_t> bytes, int64_t length) {
  size_t pos = 0;
  bool ok = true;
  auto get = [&](auto* v) {
    if (!ok || sizeof *v > bytes.size() - pos) {
      ok = false;
      return;
    }
    std::memcpy(v, bytes.data() + pos, sizeof *v);
    pos += sizeof *v;
  };
  auto corrupt = [](const std::string& why) {
    return Status::Corruption("attention index: " + why);
  };
  int32_t n_layer = 0, n_kv_head = 0;
  get(&n_layer);
  get(&n_kv_head);
  if (!ok || n_layer != shape_.n_layer || n_kv_head != shape_.n_kv_head) {
    return corrupt("the indexes are for " + std::to_string(n_layer) + " layers x " +
                   std::to_string(n_kv_head) + " KV heads");
  }
  std::vector<LayerState> layers(layers_.size());
  // The exact window of the next step starts here; an index must not reach past it.
  const int64_t boundary = std::max<int64_t>(options_.sinks, length + 1 - options_.window);
  for (LayerState& st : layers) {
    get(&st.indexed_end);
    if (!ok || st.indexed_end < options_.sinks || st.indexed_end > boundary) {
      return corrupt("a layer's indexed range does not fit a sequence of " +
                     std::to_string(length) + " positions");
    }
  }
  std::vector<std::unique_ptr<retrieval::KeyIndex>> indexes(indexes_.size());
  for (auto& index : indexes) {
    uint64_t size = 0;
    get(&size);
    if (!ok || size > bytes.size() - pos) return corrupt("truncated");
    Result<std::unique_ptr<retrieval::KeyIndex>> read =
        retrieval::DeserializeKeyIndex(bytes.subspan(pos, static_cast<size_t>(size)), length);
    if (!read.ok()) return read.status();
    if ((*read)->kind() != options_.index && (*read)->kind() != retrieval::KeyIndexKind::kExact) {
      return corrupt("an index of kind " + std::string(KeyIndexKindName((*read)->kind())) +
                     ", the policy's is " + std::string(KeyIndexKindName(options_.index)));
    }
    index = std::move(*read);
    pos += static_cast<size_t>(size);
  }
  if (pos != bytes.size()) return corrupt("trailing bytes");
  layers_ = std::move(layers);
  indexes_ = std::move(indexes);
  std::fill(build_seconds_.begin(), build_seconds_.end(), 0.0);
  restored_ = true;
  return Status::OK();
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
