// Attention of query vectors over rows of a KV cache, in pieces that can be merged.
//
// A piece covers key rows [begin, end) and yields, per query, the running maximum score m, the
// sum l of exp(score - m) and the unnormalised output o = Σ exp(score - m) · v. Pieces over
// disjoint key sets merge exactly (log-sum-exp), so one decode step can split a long cache
// between threads, and later a sparse policy can attend a window and retrieved keys separately.
//
//   AttendPartial(q, group, dim, scale, keys, values, 0, n, scratch, &piece);   // whole cache
//   FinishAttention(piece, group, dim, out);                                    // out = o / l
//
// Queries of one GQA group share their KV head, so they are processed together: each key row is
// loaded once for the whole group.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {

// Rows of keys or values of one KV head: row i (head_dim elements, f16 or f32) starts at
// data + i * row_stride bytes.
struct KvRows {
  const void* data = nullptr;
  size_t row_stride = 0;
  TensorType type = TensorType::kF16;
};

// One piece of attention for `group` queries: max[g], sum[g], out[g * head_dim + d].
struct AttentionPiece {
  float* max;
  float* sum;
  float* out;
};

// scores[i] = dot(q, key row i) * scale is computed for the group into `scratch`, which must
// hold group * (end - begin) floats. An empty range yields max = -inf, sum = 0, out = 0.
void AttendPartial(const float* q, int group, int head_dim, float scale, KvRows keys,
                   KvRows values, int64_t begin, int64_t end, float* scratch,
                   AttentionPiece piece);
void AttendPartialWith(KernelIsa isa, const float* q, int group, int head_dim, float scale,
                       KvRows keys, KvRows values, int64_t begin, int64_t end, float* scratch,
                       AttentionPiece piece);

// Folds `other` into `into` (both for the same queries).
void MergeAttention(AttentionPiece into, const AttentionPiece& other, int group, int head_dim);

// out[g * head_dim + d] = piece.out / piece.sum: the attention output.
void FinishAttention(const AttentionPiece& piece, int group, int head_dim, float* out);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x): the SwiGLU of llama's FFN.
void SwiGlu(const float* gate, const float* up, float* out, int64_t n);

}  // namespace engram::kernels
