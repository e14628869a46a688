// Attention of query vectors over rows of a KV cache, in pieces that can be merged.
//
// A piece covers key rows [begin, end) and yields, per query, the attention output over those
// keys alone (softmax-weighted values) with the maximum score m and the sum l of exp(score - m),
// i.e. the log-sum-exp of its scores. Pieces over disjoint key sets merge exactly, so one decode
// step can split a long cache between threads, and a sparse policy can attend a window and
// retrieved keys separately.
//
//   AttendPartial(q, group, dim, scale, keys, values, 0, n, scratch, piece);   // whole cache
//   MergeAttention(piece, other_piece, group, dim);                             // add more keys
//
// Queries of one GQA group share their KV head, so they are processed together: each key row is
// loaded once for the whole group.
//
// Rounding follows llama.cpp's attention over an f16 cache (ggml's mul_mat converts the other
// operand to the cache's type): with f16 keys the query is rounded to f16 before the dot
// products, and with f16 values the normalised softmax weights are rounded to f16 before they
// weight the values. On models with 8-bit activations a difference of one f16 step there can
// change which way a later activation rounds, so engram follows llama.cpp's roundings (how close
// that gets is measured in docs/benchmarks.md).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {

// Rows of keys or values of one KV head (head_dim elements each, f16 or f32).
//
// Contiguous (blocks == nullptr): row i starts at data + i * row_stride bytes.
// Paged (a paged KV cache): row i lives in physical block blocks[i >> block_shift], at
// data + blocks[i >> block_shift] * block_stride + (i & ((1 << block_shift) - 1)) * row_stride.
// Kernels reach rows only through Row(), so both layouts run the same arithmetic.
struct KvRows {
  const void* data = nullptr;
  size_t row_stride = 0;
  TensorType type = TensorType::kF16;
  const int32_t* blocks = nullptr;  // block table of a paged cache; null: contiguous
  size_t block_stride = 0;          // bytes between physical blocks
  int block_shift = 0;              // log2(rows per block)

  const uint8_t* Row(int64_t i) const {
    const auto* base = static_cast<const uint8_t*>(data);
    if (blocks == nullptr) return base + static_cast<size_t>(i) * row_stride;
    const int64_t in_block = i & ((int64_t{1} << block_shift) - 1);
    return base + static_cast<size_t>(blocks[i >> block_shift]) * block_stride +
           static_cast<size_t>(in_block) * row_stride;
  }
};

// One piece of attention for `group` queries: max[g] and sum[g] as above, and the normalised
// output out[g * head_dim + d]. An empty piece has sum 0.
struct AttentionPiece {
  float* max;
  float* sum;
  float* out;
};

// `scratch` must hold group * (end - begin + head_dim) floats. An empty range yields an empty
// piece (max = -inf, sum = 0, out = 0).
void AttendPartial(const float* q, int group, int head_dim, float scale, KvRows keys,
                   KvRows values, int64_t begin, int64_t end, float* scratch,
                   AttentionPiece piece);
void AttendPartialWith(KernelIsa isa, const float* q, int group, int head_dim, float scale,
                       KvRows keys, KvRows values, int64_t begin, int64_t end, float* scratch,
                       AttentionPiece piece);

// AttendPartial over an arbitrary set of key rows: positions[0 .. count) (any order, no
// repeats). This is what sparse policies attend (Quest's pages, RetrievalAttention's retrieved
// keys); its piece merges with pieces over disjoint rows. Same roundings as AttendPartial, so
// gathering every row of a range gives AttendPartial's result. `scratch` must hold
// group * (count + head_dim) floats.
void AttendGathered(const float* q, int group, int head_dim, float scale, KvRows keys,
                    KvRows values, const int32_t* positions, int64_t count, float* scratch,
                    AttentionPiece piece);
void AttendGatheredWith(KernelIsa isa, const float* q, int group, int head_dim, float scale,
                        KvRows keys, KvRows values, const int32_t* positions, int64_t count,
                        float* scratch, AttentionPiece piece);

// Scores of key rows for a GQA group, for choosing keys: out[j] = max over the group's queries g
// of q_g · key(row j), unscaled, with the query used as given (no f16 rounding). Rows are
// positions[0 .. count) or, when positions is null, rows [begin, begin + count).
void GroupKeyScores(const float* q, int group, int head_dim, KvRows keys,
                    const int32_t* positions, int64_t begin, int64_t count, float* out);
void GroupKeyScoresWith(KernelIsa isa, const float* q, int group, int head_dim, KvRows keys,
                        const int32_t* positions, int64_t begin, int64_t count, float* out);

// As GroupKeyScores, one score per query: out[g * count + j] = q_g · key(row j), unscaled. One
// pass over the rows serves the whole group.
void KeyScoresPerQuery(const float* q, int group, int head_dim, KvRows keys,
                       const int32_t* positions, int64_t begin, int64_t count, float* out);
void KeyScoresPerQueryWith(KernelIsa isa, const float* q, int group, int head_dim, KvRows keys,
                           const int32_t* positions, int64_t begin, int64_t count, float* out);

// Causal attention for a block of consecutive query tokens that share one KV head (prefill):
// token t of the block sits at position pos0 + t and attends rows [0, pos0 + t + 1); its `group`
// query heads are at q + t * q_stride (group * head_dim floats) and its outputs go to
// out + t * out_stride. Same arithmetic and roundings as AttendPartial per token, but keys and
// values are loaded once for the whole block. `scratch` must hold
// AttendCausalScratchFloats(tokens, group, head_dim, pos0 + tokens) floats.
size_t AttendCausalScratchFloats(int tokens, int group, int head_dim, int64_t n_keys);
void AttendCausal(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                  float scale, KvRows keys, KvRows values, int64_t pos0, float* scratch,
                  float* out, size_t out_stride);
void AttendCausalWith(KernelIsa isa, const float* q, size_t q_stride, int tokens, int group,
                      int head_dim, float scale, KvRows keys, KvRows values, int64_t pos0,
                      float* scratch, float* out, size_t out_stride);
// As AttendCausal for a sliding-window layer: token t attends rows
// [max(0, pos0 + t + 1 - window), pos0 + t + 1); window 0: no limit (AttendCausal). Same scratch.
void AttendCausalWindow(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                        float scale, KvRows keys, KvRows values, int64_t pos0, int64_t window,
                        float* scratch, float* out, size_t out_stride);
void AttendCausalWindowWith(KernelIsa isa, const float* q, size_t q_stride, int tokens,
                            int group, int head_dim, float scale, KvRows keys, KvRows values,
                            int64_t pos0, int64_t window, float* scratch, float* out,
                            size_t out_stride);
// The number of query tokens a block should hold for the AVX2 kernel to keep its 12 query rows
// in registers (at least 1).
int AttendCausalBlockTokens(int group);

// Folds `other` into `into` (both for the same queries): `into` becomes the attention over the
// union of their keys.
void MergeAttention(AttentionPiece into, const AttentionPiece& other, int group, int head_dim);

// Full (bidirectional) attention of an encoder over f32 rows, one head: for each query i in
// [0, n_q), out[i] = Σ_j softmax_j(scale · q_i·k_j) v_j over keys j in [0, n_kv). Rows are
// head_dim floats at q + i * q_stride, k + j * k_stride, v + j * v_stride, out + i * out_stride.
// `scratch` holds AttendDenseScratchFloats(n_kv, head_dim) floats. Plain f32 softmax (no f16
// roundings: encoders keep no cache).
size_t AttendDenseScratchFloats(int64_t n_kv, int head_dim);
void AttendDense(const float* q, size_t q_stride, const float* k, size_t k_stride, const float* v,
                 size_t v_stride, int64_t n_q, int64_t n_kv, int head_dim, float scale,
                 float* scratch, float* out, size_t out_stride);
void AttendDenseWith(KernelIsa isa, const float* q, size_t q_stride, const float* k,
                     size_t k_stride, const float* v, size_t v_stride, int64_t n_q, int64_t n_kv,
                     int head_dim, float scale, float* scratch, float* out, size_t out_stride);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x): the SwiGLU of llama's FFN.
void SwiGlu(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu_tanh(gate[i]) * up[i], gelu_tanh(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))):
// Gemma's GeGLU. As llama.cpp computes it on the CPU: the gate is rounded to f16 and looked up in
// a table of f16 results (exact above 10, zero below -10), so the logits match it.
void GeluTanhGlu(const float* gate, const float* up, float* out, int64_t n);

// x[i] = x[i] · Φ(x[i]) = 0.5 x (1 + erf(x / √2)), in place: BERT's exact (erf) GELU. The SIMD
// path's erf has an absolute error below 2e-7.
void GeluErf(float* x, int64_t n);
void GeluErfWith(KernelIsa isa, float* x, int64_t n);

}  // namespace engram::kernels
