// Private to inference/: the attention weights the context hands a KV retention policy
// (inference/kv_retention.h): what prefill queries paid each key, and what a decode step's
// attended keys got.
#pragma once

#include <cstdint>
#include <vector>

#include "inference/internal/sparse_attention.h"
#include "inference/kv_retention.h"
#include "kernels/attention.h"

namespace engram::inference::internal {

// Query and key geometry of one (layer, KV head).
struct HeadGeometry {
  int n_kv_head = 0;
  int kv_head = 0;
  int group = 0;    // query heads per KV head
  int dim = 0;      // head_dim
  float scale = 0;  // 1 / sqrt(head_dim)
};

// out[j], j in [0, length): key j's softmax weight summed over the prefill queries of `layer`
// that `observation` names (positions < length; each attends keys [0, position]) and over the
// group's query heads; sampled queries count `queries.stride` times.
void PrefillAttention(const PrefillQueries& queries, const KvRetention::Observation& observation,
                      int layer, const HeadGeometry& head, const kernels::KvRows& keys,
                      int64_t length, std::vector<float>* out);

// The positions a decode step attended under `plan` ([0, sink_end), selected,
// [recent_begin, length)), ascending, and the softmax weight of each over them for the group's
// queries `q` (group * dim floats), summed over the group.
void StepAttention(const float* q, const HeadGeometry& head, const kernels::KvRows& keys,
                   const AttentionPlan& plan, int64_t length, std::vector<int32_t>* positions,
                   std::vector<float>* weights);

}  // namespace engram::inference::internal
