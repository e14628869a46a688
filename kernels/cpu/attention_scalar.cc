// Portable attention pieces, merging and SwiGLU (kernels/attention.h): the reference for the
// SIMD path, and the dispatcher.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/attention.h"
#include "kernels/half.h"
#include "kernels/internal/attention_impl.h"

namespace engram::kernels {
namespace internal {
namespace {

// Element i of a row found by KvRows::Row.
float Element(const KvRows& rows, const uint8_t* row, int i) {
  if (rows.type == TensorType::kF16) {
    uint16_t h;
    std::memcpy(&h, row + i * 2, 2);
    return Fp16ToFp32(h);
  }
  float f;
  std::memcpy(&f, row + i * 4, 4);
  return f;
}

// Row j of a piece's rows: positions[j] when gathering, else begin + j.
int64_t RowOf(const int32_t* positions, int64_t begin, int64_t j) {
  return positions != nullptr ? positions[j] : begin + j;
}

float RoundToHalf(float v) { return Fp16ToFp32(Fp32ToFp16(v)); }

// The body of AttendPartialScalar and AttendGatheredScalar: n rows, found by RowOf.
void AttendRowsScalar(const float* q_in, int group, int head_dim, float scale, const KvRows& keys,
                      const KvRows& values, const int32_t* positions, int64_t begin, int64_t n,
                      float* scratch, AttentionPiece piece) {
  n = std::max<int64_t>(n, 0);
  float* q = scratch + static_cast<size_t>(group) * n;
  for (int i = 0; i < group * head_dim; ++i) {
    q[i] = keys.type == TensorType::kF16 ? RoundToHalf(q_in[i]) : q_in[i];
  }
  for (int g = 0; g < group; ++g) {
    float* scores = scratch + g * n;
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      const uint8_t* row = keys.Row(RowOf(positions, begin, j));
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += q[g * head_dim + d] * Element(keys, row, d);
      scores[j] = dot * scale;
      max = std::max(max, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) sum += (scores[j] = std::exp(scores[j] - max));
    const float inv = n > 0 ? 1.0f / sum : 0.0f;
    float* out = piece.out + g * head_dim;
    std::fill(out, out + head_dim, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      float p = scores[j] * inv;
      if (values.type == TensorType::kF16) p = RoundToHalf(p);
      const uint8_t* row = values.Row(RowOf(positions, begin, j));
      for (int d = 0; d < head_dim; ++d) out[d] += p * Element(values, row, d);
    }
    piece.max[g] = max;
    piece.sum[g] = n > 0 ? sum : 0.0f;
  }
}

}  // namespace

void AttendPartialScalar(const float* q, int group, int head_dim, float scale, KvRows keys,
                         KvRows values, int64_t begin, int64_t end, float* scratch,
                         AttentionPiece piece) {
  AttendRowsScalar(q, group, head_dim, scale, keys, values, nullptr, begin, end - begin, scratch,
                   piece);
}

void AttendGatheredScalar(const float* q, int group, int head_dim, float scale, KvRows keys,
                          KvRows values, const int32_t* positions, int64_t count, float* scratch,
                          AttentionPiece piece) {
  AttendRowsScalar(q, group, head_dim, scale, keys, values, positions, 0, count, scratch, piece);
}

void GroupKeyScoresScalar(const float* q, int group, int head_dim, KvRows keys,
                          const int32_t* positions, int64_t begin, int64_t count,
                          size_t head_stride, float* out) {
  for (int64_t j = 0; j < count; ++j) {
    const uint8_t* row = keys.Row(RowOf(positions, begin, j));
    float best = -std::numeric_limits<float>::infinity();
    for (int g = 0; g < group; ++g) {
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += q[g * head_dim + d] * Element(keys, row, d);
      if (head_stride != 0) out[g * head_stride + j] = dot;
      best = std::max(best, dot);
    }
    if (head_stride == 0) out[j] = best;
  }
}

void SwiGluScalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void GeluErfScalar(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void AttendDenseScalar(const DenseAttentionArgs& a) {
  for (int64_t i = 0; i < a.n_q; ++i) {
    const float* q = a.q + i * a.q_stride;
    float max = -INFINITY;
    for (int64_t j = 0; j < a.n_kv; ++j) {
      float dot = 0.0f;
      for (int d = 0; d < a.head_dim; ++d) dot += q[d] * a.k[j * a.k_stride + d];
      a.scratch[j] = dot * a.scale;
      max = std::max(max, a.scratch[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < a.n_kv; ++j) {
      a.scratch[j] = std::exp(a.scratch[j] - max);
      sum += a.scratch[j];
    }
    float* out = a.out + i * a.out_stride;
    for (int d = 0; d < a.head_dim; ++d) out[d] = 0.0f;
    for (int64_t j = 0; j < a.n_kv; ++j) {
      const float p = a.scratch[j] / sum;
      for (int d = 0; d < a.head_dim; ++d) out[d] += p * a.v[j * a.v_stride + d];
    }
  }
}

}  // namespace internal

void AttendPartialWith(KernelIsa isa, const float* q, int group, int head_dim, float scale,
                       KvRows keys, KvRows values, int64_t begin, int64_t end, float* scratch,
                       AttentionPiece piece) {
  if (isa == KernelIsa::kAvx2 && internal::AttendPartialAvx2(q, group, head_dim, scale, keys,
                                                             values, begin, end, scratch, piece)) {
    return;
  }
  internal::AttendPartialScalar(q, group, head_dim, scale, keys, values, begin, end, scratch,
                                piece);
}

void AttendPartial(const float* q, int group, int head_dim, float scale, KvRows keys,
                   KvRows values, int64_t begin, int64_t end, float* scratch,
                   AttentionPiece piece) {
  AttendPartialWith(ActiveKernelIsa(), q, group, head_dim, scale, keys, values, begin, end,
                    scratch, piece);
}

void AttendGatheredWith(KernelIsa isa, const float* q, int group, int head_dim, float scale,
                        KvRows keys, KvRows values, const int32_t* positions, int64_t count,
                        float* scratch, AttentionPiece piece) {
  if (isa == KernelIsa::kAvx2 &&
      internal::AttendGatheredAvx2(q, group, head_dim, scale, keys, values, positions, count,
                                   scratch, piece)) {
    return;
  }
  internal::AttendGatheredScalar(q, group, head_dim, scale, keys, values, positions, count,
                                 scratch, piece);
}

void AttendGathered(const float* q, int group, int head_dim, float scale, KvRows keys,
                    KvRows values, const int32_t* positions, int64_t count, float* scratch,
                    AttentionPiece piece) {
  AttendGatheredWith(ActiveKernelIsa(), q, group, head_dim, scale, keys, values, positions, count,
                     scratch, piece);
}

void GroupKeyScoresWith(KernelIsa isa, const float* q, int group, int head_dim, KvRows keys,
                        const int32_t* positions, int64_t begin, int64_t count, float* out) {
  if (isa == KernelIsa::kAvx2 &&
      internal::GroupKeyScoresAvx2(q, group, head_dim, keys, positions, begin, count, 0, out)) {
    return;
  }
  internal::GroupKeyScoresScalar(q, group, head_dim, keys, positions, begin, count, 0, out);
}

void KeyScoresPerQueryWith(KernelIsa isa, const float* q, int group, int head_dim, KvRows keys,
                           const int32_t* positions, int64_t begin, int64_t count, float* out) {
  const auto stride = static_cast<size_t>(std::max<int64_t>(count, 1));
  if (isa == KernelIsa::kAvx2 && internal::GroupKeyScoresAvx2(q, group, head_dim, keys, positions,
                                                               begin, count, stride, out)) {
    return;
  }
  internal::GroupKeyScoresScalar(q, group, head_dim, keys, positions, begin, count, stride, out);
}

void KeyScoresPerQuery(const float* q, int group, int head_dim, KvRows keys,
                       const int32_t* positions, int64_t begin, int64_t count, float* out) {
  KeyScoresPerQueryWith(ActiveKernelIsa(), q, group, head_dim, keys, positions, begin, count, out);
}

void GroupKeyScores(const float* q, int group, int head_dim, KvRows keys,
                    const int32_t* positions, int64_t begin, int64_t count, float* out) {
  GroupKeyScoresWith(ActiveKernelIsa(), q, group, head_dim, keys, positions, begin, count, out);
}

int AttendCausalBlockTokens(int group) { return group >= 12 ? 1 : 12 / group; }

size_t AttendCausalScratchFloats(int tokens, int group, int head_dim, int64_t n_keys) {
  const size_t queries = static_cast<size_t>(tokens) * group;
  // Per-token fallback: scores + rounded query + max/sum; block kernel: 16 score lanes per key
  // + rounded queries.
  return std::max(queries * (static_cast<size_t>(n_keys) + head_dim + 2),
                  16 * static_cast<size_t>(n_keys) + 16 * static_cast<size_t>(head_dim) + 64);
}

void AttendCausalWindowWith(KernelIsa isa, const float* q, size_t q_stride, int tokens,
                            int group, int head_dim, float scale, KvRows keys, KvRows values,
                            int64_t pos0, int64_t window, float* scratch, float* out,
                            size_t out_stride) {
  if (isa == KernelIsa::kAvx2 &&
      internal::AttendCausalAvx2(q, q_stride, tokens, group, head_dim, scale, keys, values, pos0,
                                 window, scratch, out, out_stride)) {
    return;
  }
  // Token by token: the reference.
  float* stats = scratch;
  float* rest = scratch + 2 * group;
  for (int t = 0; t < tokens; ++t) {
    const int64_t end = pos0 + t + 1;
    const int64_t begin = window > 0 ? std::max<int64_t>(0, end - window) : 0;
    AttendPartialWith(isa, q + t * q_stride, group, head_dim, scale, keys, values, begin, end,
                      rest, {stats, stats + group, out + t * out_stride});
  }
}

void AttendCausalWindow(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                        float scale, KvRows keys, KvRows values, int64_t pos0, int64_t window,
                        float* scratch, float* out, size_t out_stride) {
  AttendCausalWindowWith(ActiveKernelIsa(), q, q_stride, tokens, group, head_dim, scale, keys,
                         values, pos0, window, scratch, out, out_stride);
}

void AttendCausalWith(KernelIsa isa, const float* q, size_t q_stride, int tokens, int group,
                      int head_dim, float scale, KvRows keys, KvRows values, int64_t pos0,
                      float* scratch, float* out, size_t out_stride) {
  AttendCausalWindowWith(isa, q, q_stride, tokens, group, head_dim, scale, keys, values, pos0, 0,
                         scratch, out, out_stride);
}

void AttendCausal(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                  float scale, KvRows keys, KvRows values, int64_t pos0, float* scratch,
                  float* out, size_t out_stride) {
  AttendCausalWith(ActiveKernelIsa(), q, q_stride, tokens, group, head_dim, scale, keys, values,
                   pos0, scratch, out, out_stride);
}

void MergeAttention(AttentionPiece into, const AttentionPiece& other, int group, int head_dim) {
  for (int g = 0; g < group; ++g) {
    if (other.sum[g] == 0.0f) continue;
    if (into.sum[g] == 0.0f) {
      into.max[g] = other.max[g];
      into.sum[g] = other.sum[g];
      std::memcpy(into.out + g * head_dim, other.out + g * head_dim, head_dim * sizeof(float));
      continue;
    }
    // Each output is a weighted mean; weight them by their shares of the total softmax mass.
    const float max = std::max(into.max[g], other.max[g]);
    const float a = into.sum[g] * std::exp(into.max[g] - max);
    const float b = other.sum[g] * std::exp(other.max[g] - max);
    const float wa = a / (a + b), wb = b / (a + b);
    for (int d = 0; d < head_dim; ++d) {
      into.out[g * head_dim + d] = into.out[g * head_dim + d] * wa + other.out[g * head_dim + d] * wb;
    }
    into.sum[g] = a + b;
    into.max[g] = max;
  }
}

void GeluErfWith(KernelIsa isa, float* x, int64_t n) {
  if (isa == KernelIsa::kAvx2 && internal::GeluErfAvx2(x, n)) return;
  internal::GeluErfScalar(x, n);
}

void GeluErf(float* x, int64_t n) { GeluErfWith(ActiveKernelIsa(), x, n); }

size_t AttendDenseScratchFloats(int64_t n_kv, int head_dim) {
  const int64_t padded = (n_kv + 7) / 8 * 8;  // the AVX2 path's transposed keys, 8 score rows
  return static_cast<size_t>(padded * (head_dim + 8) + head_dim * 8);  // + 8 queries transposed
}

void AttendDenseWith(KernelIsa isa, const float* q, size_t q_stride, const float* k,
                     size_t k_stride, const float* v, size_t v_stride, int64_t n_q, int64_t n_kv,
                     int head_dim, float scale, float* scratch, float* out, size_t out_stride) {
  const internal::DenseAttentionArgs a{q, q_stride, k, k_stride, v, v_stride, n_q, n_kv,
                                       head_dim, scale, scratch, out, out_stride};
  if (isa == KernelIsa::kAvx2 && internal::AttendDenseAvx2(a)) return;
  internal::AttendDenseScalar(a);
}

void AttendDense(const float* q, size_t q_stride, const float* k, size_t k_stride, const float* v,
                 size_t v_stride, int64_t n_q, int64_t n_kv, int head_dim, float scale,
                 float* scratch, float* out, size_t out_stride) {
  AttendDenseWith(ActiveKernelIsa(), q, q_stride, k, k_stride, v, v_stride, n_q, n_kv, head_dim,
                  scale, scratch, out, out_stride);
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  if (ActiveKernelIsa() == KernelIsa::kAvx2 && internal::SwiGluAvx2(gate, up, out, n)) return;
  internal::SwiGluScalar(gate, up, out, n);
}

}  // namespace engram::kernels
