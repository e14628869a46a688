// Private to kernels/cpu/attention_*.cc: the per-ISA entry points. No inline functions (see
// quant_blocks.h).
#pragma once

#include "kernels/attention.h"

namespace engram::kernels::internal {

void AttendPartialScalar(const float* q, int group, int head_dim, float scale, KvRows keys,
                         KvRows values, int64_t begin, int64_t end, float* scratch,
                         AttentionPiece piece);
// Returns false when the AVX2 path cannot take these arguments (head_dim not a multiple of 8).
bool AttendPartialAvx2(const float* q, int group, int head_dim, float scale, KvRows keys,
                       KvRows values, int64_t begin, int64_t end, float* scratch,
                       AttentionPiece piece);
void AttendGatheredScalar(const float* q, int group, int head_dim, float scale, KvRows keys,
                          KvRows values, const int32_t* positions, int64_t count, float* scratch,
                          AttentionPiece piece);
// Returns false when the AVX2 path cannot take these arguments (as AttendPartialAvx2).
bool AttendGatheredAvx2(const float* q, int group, int head_dim, float scale, KvRows keys,
                        KvRows values, const int32_t* positions, int64_t count, float* scratch,
                        AttentionPiece piece);
// head_stride 0: out[j] = max over the group (GroupKeyScores); otherwise out[g * head_stride + j]
// = query g's score (KeyScoresPerQuery).
void GroupKeyScoresScalar(const float* q, int group, int head_dim, KvRows keys,
                          const int32_t* positions, int64_t begin, int64_t count,
                          size_t head_stride, float* out);
// Returns false when the AVX2 path cannot take these arguments (head_dim not a multiple of 8).
bool GroupKeyScoresAvx2(const float* q, int group, int head_dim, KvRows keys,
                        const int32_t* positions, int64_t begin, int64_t count, size_t head_stride,
                        float* out);
// Returns false when the AVX2 path cannot take these arguments.
bool AttendCausalAvx2(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                      float scale, KvRows keys, KvRows values, int64_t pos0, int64_t window,
                      float* scratch, float* out, size_t out_stride);
void SwiGluScalar(const float* gate, const float* up, float* out, int64_t n);
bool SwiGluAvx2(const float* gate, const float* up, float* out, int64_t n);
void GeluErfScalar(float* x, int64_t n);
bool GeluErfAvx2(float* x, int64_t n);
struct DenseAttentionArgs {
  const float* q;
  size_t q_stride;
  const float* k;
  size_t k_stride;
  const float* v;
  size_t v_stride;
  int64_t n_q, n_kv;
  int head_dim;
  float scale;
  float* scratch;
  float* out;
  size_t out_stride;
};
void AttendDenseScalar(const DenseAttentionArgs& a);
bool AttendDenseAvx2(const DenseAttentionArgs& a);

}  // namespace engram::kernels::internal
