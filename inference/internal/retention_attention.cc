#include "inference/internal/retention_attention.h"

#include <algorithm>
#include <cmath>

namespace engram::inference::internal {
namespace {

// Adds `weight` times each query's softmax over `n` keys to out[0, n): scores[g * n + j] are
// the unscaled products of the group's queries with the keys.
void AddSoftmax(const float* scores, int group, int64_t n, float scale, float weight,
                float* out) {
  for (int g = 0; g < group; ++g) {
    const float* s = scores + static_cast<size_t>(g) * n;
    float max = -INFINITY;
    for (int64_t j = 0; j < n; ++j) max = std::max(max, s[j] * scale);
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(s[j] * scale - max));
    const auto norm = static_cast<float>(weight / sum);
    for (int64_t j = 0; j < n; ++j) out[j] += std::exp(s[j] * scale - max) * norm;
  }
}

// The group's rows (group * dim floats) in a row of every query head.
const float* GroupRow(const float* row, const HeadGeometry& head) {
  return row + static_cast<size_t>(head.kv_head) * head.group * head.dim;
}

}  // namespace

void PrefillAttention(const PrefillQueries& queries, const KvRetention::Observation& observation,
                      int layer, const HeadGeometry& head, const kernels::KvRows& keys,
                      int64_t length, std::vector<float>* out) {
  out->assign(static_cast<size_t>(length), 0.0f);
  const size_t q_dim = static_cast<size_t>(head.n_kv_head) * head.group * head.dim;
  thread_local std::vector<float> scores;
  auto add = [&](const float* row, int64_t pos, float weight) {
    const int64_t n = pos + 1;
    scores.resize(static_cast<size_t>(n) * head.group);
    kernels::KeyScoresPerQuery(GroupRow(row, head), head.group, head.dim, keys, nullptr, 0, n,
                               scores.data());
    AddSoftmax(scores.data(), head.group, n, head.scale, weight, out->data());
  };
  bool sampled_any = false;
  if (observation.sampled && layer < static_cast<int>(queries.rows.size())) {
    for (size_t i = 0; i < queries.positions.size(); ++i) {
      if (queries.positions[i] >= length) break;
      sampled_any = true;
      add(queries.rows[layer].data() + i * q_dim, queries.positions[i],
          static_cast<float>(queries.stride));
    }
  }
  if (observation.last <= 0 || layer >= static_cast<int>(queries.recent_rows.size())) return;
  // The ring's `last` latest positions below `length`.
  int64_t newest = -1;
  for (int64_t p : queries.recent_positions) {
    if (p < length) newest = std::max(newest, p);
  }
  for (size_t slot = 0; slot < queries.recent_positions.size(); ++slot) {
    const int64_t p = queries.recent_positions[slot];
    if (p < 0 || p >= length || p <= newest - observation.last) continue;
    if (sampled_any && p % queries.stride == 0) continue;  // counted with the samples
    add(queries.recent_rows[layer].data() + slot * q_dim, p, 1.0f);
  }
}

void StepAttention(const float* q, const HeadGeometry& head, const kernels::KvRows& keys,
                   const AttentionPlan& plan, int64_t length, std::vector<int32_t>* positions,
                   std::vector<float>* weights) {
  positions->clear();
  for (int64_t p = 0; p < plan.sink_end; ++p) positions->push_back(static_cast<int32_t>(p));
  positions->insert(positions->end(), plan.selected.begin(), plan.selected.end());
  for (int64_t p = plan.recent_begin; p < length; ++p) {
    positions->push_back(static_cast<int32_t>(p));
  }
  const auto n = static_cast<int64_t>(positions->size());
  thread_local std::vector<float> scores;
  scores.resize(static_cast<size_t>(n) * head.group);
  kernels::KeyScoresPerQuery(q, head.group, head.dim, keys, positions->data(), 0, n,
                             scores.data());
  weights->assign(static_cast<size_t>(n), 0.0f);
  AddSoftmax(scores.data(), head.group, n, head.scale, 1.0f, weights->data());
}

}  // namespace engram::inference::internal
