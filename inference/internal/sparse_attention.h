// Private to inference/: the state of a sparse attention policy for one sequence, and the choice
// of keys each decode step attends (inference/attention_policy.h describes the policies).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/compute_team.h"
#include "common/result.h"
#include "inference/attention_policy.h"
#include "inference/paged_kv_cache.h"
#include "retrieval/key_index.h"

namespace engram::inference::internal {

// Prefill queries (after RoPE) kept for attention-aware key indexes: every `stride`-th position;
// per layer, the rows of all query heads (n_head * head_dim floats) of those positions.
// Also the queries of the last kRecent prefill positions, whatever their stride: decode queries
// resemble the latest prompt queries most (a question at the end of a document asks what the
// next tokens will ask), and without them the index never sees those queries' top keys.
struct PrefillQueries {
  static constexpr int kRecent = 64;
  int64_t stride = 1;
  std::vector<int64_t> positions;
  std::vector<std::vector<float>> rows;  // [layer]
  std::vector<int64_t> recent_positions;        // ring of kRecent slots, -1 empty
  std::vector<std::vector<float>> recent_rows;  // [layer], kRecent rows each
  // Forgets positions >= length (the context rewound).
  void Truncate(int64_t length, size_t q_dim);
};

// What one decode step attends for one (layer, KV head): two exact ranges and chosen positions
// between them.
struct AttentionPlan {
  int64_t sink_end = 0;           // [0, sink_end)
  int64_t recent_begin = 0;       // [recent_begin, length)
  std::vector<int32_t> selected;  // from [sink_end, recent_begin), ascending
};

class SparseAttention {
 public:
  SparseAttention(const AttentionOptions& options, const KvCacheShape& shape, int group,
                  int block_size);

  const AttentionOptions& options() const { return options_; }
  // How many of a step's best keys (per layer and KV head) lend their successors to the next.
  static constexpr int kSuccessorSources = 16;
  // New selection options (budget, page_candidates, successors) keep the key indexes: they do
  // not depend on them.
  void SetSelection(const AttentionOptions& o) {
    options_.budget = o.budget;
    options_.page_candidates = o.page_candidates;
    options_.successors = o.successors;
  }
  // Whether the state still fits a sequence cut back to `length` positions: no index holds a
  // key the next step's exact window would attend.
  bool ValidFor(int64_t length) const;
  // Serial, once per layer and step, before Select: fixes the exact ranges of this step for a
  // cache of `length` positions (the new token included).
  void BeginLayer(int layer, int64_t length);
  // The exact ranges of this step, as BeginLayer fixed them: [0, first) and [second, length).
  std::pair<int64_t, int64_t> ExactRanges(int layer) const {
    return {layers_[layer].sink_end, layers_[layer].recent_begin};
  }
  // The plan of (layer, kv_head) for the group's queries (group * head_dim floats). Runs
  // concurrently for the KV heads of one layer. With a `team` (when there are fewer KV heads
  // than threads; the caller does not run it inside the team's own loop) the page bounds and
  // the candidates' scores are computed by the whole team.
  void Select(int layer, int kv_head, const float* q, const PagedKvCache& cache, SequenceId seq,
              const PrefillQueries& queries, AttentionPlan* plan, ComputeTeam* team = nullptr);

  // Builds the (layer, kv_head) index, or adds the keys that left the window, for the step
  // BeginLayer fixed (retrieval; Select does it too). Runs concurrently for the KV heads of one
  // layer.
  void UpdateIndex(int layer, int kv_head, const PagedKvCache& cache, SequenceId seq,
                   const PrefillQueries& queries);

  // Seconds spent building key indexes and the bytes they hold (retrieval).
  double index_build_seconds() const;
  size_t index_bytes() const;

  // A deep copy (key indexes included), for a forked sequence.
  std::unique_ptr<SparseAttention> Clone() const;
  // Whether every layer's key indexes are built (retrieval).
  bool indexes_built() const;
  // Appends the key indexes and how far each layer's reach (the layout of
  // docs/formats/key_index.md, "indexes"). Requires indexes_built().
  void SerializeIndexes(std::string* out) const;
  // Replaces the key indexes with serialized ones; then ValidFor(length) must hold for the
  // sequence's `length`. kCorruption for malformed bytes or indexes that do not fit `length`;
  // on failure the state is as before.
  Status RestoreIndexes(std::span<const uint8_t> bytes, int64_t length);
  // Whether the indexes came from RestoreIndexes (and were not rebuilt since).
  bool restored() const { return restored_; }

 private:
  struct LayerState {
    int64_t length = 0;
    int64_t sink_end = 0;
    int64_t recent_begin = 0;
    int64_t indexed_end = -1;  // retrieval: keys [sink_end, indexed_end) are indexed; -1: no index
    int64_t add_begin = 0;     // retrieval: keys joining the index this step
    int64_t add_end = 0;
  };
  void SelectQuest(int layer, int kv_head, const float* q, const PagedKvCache& cache,
                   SequenceId seq, AttentionPlan* plan, ComputeTeam* team) const;
  void SelectRetrieval(int layer, int kv_head, const float* q, const PagedKvCache& cache,
                       SequenceId seq, const PrefillQueries& queries, AttentionPlan* plan,
                       ComputeTeam* team);
  int64_t Budget(int64_t length) const;

  AttentionOptions options_;
  KvCacheShape shape_;
  int group_;
  int block_size_;
  std::vector<LayerState> layers_;
  std::vector<std::unique_ptr<retrieval::KeyIndex>> indexes_;  // [layer * n_kv_head + head]
  std::vector<double> build_seconds_;                          // same
  // Per (layer, head): the previous step's best keys, whose successors are candidates.
  std::vector<std::vector<int32_t>> successors_;
  bool restored_ = false;
};

}  // namespace engram::inference::internal
