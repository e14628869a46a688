// AVX2 attention pieces and SwiGLU (kernels/attention.h); compiled with -mavx2 -mfma -mf16c
// (rules as in quant_avx2.cc).
#include "kernels/internal/attention_impl.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/internal/avx2_helpers.inc"

namespace engram::kernels::internal {
namespace {

constexpr int kMaxHeadDim = 256;

[[gnu::always_inline]] inline __m256 Load8(const KvRows& rows, const uint8_t* row, int d) {
  if (rows.type == TensorType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + d * 2)));
  }
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + d);
}

// The rows as a kernel instantiation addresses them. A contiguous instantiation (kPaged false,
// chosen when no block table is given) works on a copy whose block table is known to be null, so
// Row()'s test folds away and its loops keep the plain stride arithmetic; a paged one reads the
// table (Row() still handles a null one, so it takes any layout).
template <bool kPaged>
[[gnu::always_inline]] inline KvRows Layout(const KvRows& rows) {
  KvRows r = rows;
  if constexpr (!kPaged) r.blocks = nullptr;
  return r;
}

// Row j of a piece's rows: positions[j] when gathering, else begin + j. A template parameter
// rather than a test per row, so the range path keeps its plain index arithmetic.
template <bool kGathered>
[[gnu::always_inline]] inline int64_t RowOf(const int32_t* positions, int64_t begin, int64_t j) {
  if constexpr (kGathered) {
    return positions[j];
  } else {
    return begin + j;
  }
}

// scores[g * n + j] = scale * dot(q_g, key_j) for the whole group, one pass over the keys.
template <int kGroup, bool kGathered, bool kPaged>
void Scores(const float* q, int group, int head_dim, float scale, const KvRows& keys_in,
            const int32_t* positions, int64_t begin, int64_t n, float* scores) {
  const KvRows keys = Layout<kPaged>(keys_in);
  const int g_count = kGroup > 0 ? kGroup : group;
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t* row = keys.Row(RowOf<kGathered>(positions, begin, j));
    __m256 acc[kGroup > 0 ? kGroup : 1];
    if constexpr (kGroup > 0) {
      for (int g = 0; g < kGroup; ++g) acc[g] = _mm256_setzero_ps();
      for (int d = 0; d < head_dim; d += 8) {
        const __m256 k = Load8(keys, row, d);
        for (int g = 0; g < kGroup; ++g) {
          acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * head_dim + d), k, acc[g]);
        }
      }
      for (int g = 0; g < kGroup; ++g) scores[g * n + j] = HorizontalSum(acc[g]) * scale;
    } else {
      for (int g = 0; g < g_count; ++g) {
        __m256 a = _mm256_setzero_ps();
        for (int d = 0; d < head_dim; d += 8) {
          a = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * head_dim + d), Load8(keys, row, d), a);
        }
        scores[g * n + j] = HorizontalSum(a) * scale;
      }
    }
  }
}

using ScoresFn = void (*)(const float*, int, int, float, const KvRows&, const int32_t*, int64_t,
                         int64_t, float*);

// The body of AttendPartialAvx2 and AttendGatheredAvx2 (arguments already checked), n rows found
// by RowOf. One body for both, so gathering every row of a range gives AttendPartial's bits.
template <bool kGathered, bool kPaged>
void AttendRows(const float* q, int group, int head_dim, float scale, const KvRows& keys,
                const KvRows& values_in, const int32_t* positions, int64_t begin, int64_t n,
                float* scratch, AttentionPiece piece) {
  const KvRows values = Layout<kPaged>(values_in);
  if (n <= 0) {
    for (int g = 0; g < group; ++g) {
      piece.max[g] = -std::numeric_limits<float>::infinity();
      piece.sum[g] = 0.0f;
      std::memset(piece.out + g * head_dim, 0, head_dim * sizeof(float));
    }
    return;
  }
  // llama.cpp's rounding (see attention.h): the query in the keys' type.
  float* q_rounded = scratch + static_cast<size_t>(group) * n;
  if (keys.type == TensorType::kF16) {
    for (int i = 0; i < group * head_dim; i += 8) {
      const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT);
      _mm256_storeu_ps(q_rounded + i, _mm256_cvtph_ps(h));
    }
    q = q_rounded;
  }
  constexpr ScoresFn kScores[] = {Scores<0, kGathered, kPaged>, Scores<1, kGathered, kPaged>,
                                  Scores<2, kGathered, kPaged>, Scores<3, kGathered, kPaged>,
                                  Scores<4, kGathered, kPaged>};
  kScores[group <= 4 ? group : 0](q, group, head_dim, scale, keys, positions, begin, n, scratch);
  for (int g = 0; g < group; ++g) {
    float* scores = scratch + g * n;
    // Max, then p = e^(s - max) in place, and their sum.
    __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(scores + j));
    float max = HorizontalMax(vmax);
    for (; j < n; ++j) max = scores[j] > max ? scores[j] : max;
    const __m256 m = _mm256_set1_ps(max);
    __m256 vsum = _mm256_setzero_ps();
    j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 p = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(scores + j), m));
      _mm256_storeu_ps(scores + j, p);
      vsum = _mm256_add_ps(vsum, p);
    }
    float sum = HorizontalSum(vsum);
    if (j < n) {
      // The tail through a padded vector, so every p comes from the same exp.
      alignas(32) float tail[8];
      const int64_t rest = n - j;
      for (int i = 0; i < 8; ++i) tail[i] = i < rest ? scores[j + i] - max : -100.0f;
      _mm256_store_ps(tail, ExpAvx2(_mm256_load_ps(tail)));
      for (int64_t i = 0; i < rest; ++i) {
        scores[j + i] = tail[i];
        sum += tail[i];
      }
    }
    piece.max[g] = max;
    piece.sum[g] = sum;
    // Normalised weights, rounded to the values' type as llama.cpp does (see attention.h).
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 p = _mm256_mul_ps(_mm256_loadu_ps(scores + j), inv);
      if (values.type == TensorType::kF16) {
        p = _mm256_cvtph_ps(_mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT));
      }
      _mm256_storeu_ps(scores + j, p);
    }
    for (; j < n; ++j) {
      float p = scores[j] * (1.0f / sum);
      if (values.type == TensorType::kF16) p = _cvtsh_ss(_cvtss_sh(p, _MM_FROUND_TO_NEAREST_INT));
      scores[j] = p;
    }
    // out = Σ p_j v_j, 64 dimensions (8 registers) at a time.
    for (int d0 = 0; d0 < head_dim; d0 += 64) {
      const int width = head_dim - d0 < 64 ? head_dim - d0 : 64;
      __m256 acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
      for (int64_t jj = 0; jj < n; ++jj) {
        const __m256 p = _mm256_set1_ps(scores[jj]);
        const uint8_t* row = values.Row(RowOf<kGathered>(positions, begin, jj));
        for (int i = 0; i < width / 8; ++i) {
          acc[i] = _mm256_fmadd_ps(p, Load8(values, row, d0 + i * 8), acc[i]);
        }
      }
      for (int i = 0; i < width / 8; ++i) {
        _mm256_storeu_ps(piece.out + g * head_dim + d0 + i * 8, acc[i]);
      }
    }
  }
}

// out[j] = max over kGroup queries of q_g · key(row j), or, when `fold`, max(out[j], that).
template <int kGroup, bool kGathered, bool kPaged>
void GroupMaxDots(const float* q, int head_dim, const KvRows& keys_in, const int32_t* positions,
                  int64_t begin, int64_t n, bool fold, size_t head_stride, float* out) {
  const KvRows keys = Layout<kPaged>(keys_in);
  int64_t j = 0;
  // Four rows at a time: their keys are widened to f32 once into a small buffer, then each query
  // runs four independent FMA chains (one per row) and one transposing reduction gives the four
  // sums. One row at a time, a query's single chain waits on FMA latency.
  alignas(32) float rows4[4 * kMaxHeadDim];
  for (; j + 4 <= n && head_dim <= kMaxHeadDim; j += 4) {
    if constexpr (kGathered) {
      // Gathered rows are scattered over the cache and usually not in any CPU cache: ask for
      // the rows two batches ahead, so several memory loads are in flight at once.
      for (int64_t r = j + 8; r < std::min(j + 12, n); ++r) {
        const uint8_t* ahead = keys.Row(RowOf<kGathered>(positions, begin, r));
        for (size_t b = 0; b < keys.row_stride; b += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead + b), _MM_HINT_T0);
        }
      }
    }
    for (int r = 0; r < 4; ++r) {
      const uint8_t* row = keys.Row(RowOf<kGathered>(positions, begin, j + r));
      for (int d = 0; d < head_dim; d += 8) {
        _mm256_store_ps(rows4 + r * head_dim + d, Load8(keys, row, d));
      }
    }
    __m128 best = _mm_set1_ps(-std::numeric_limits<float>::infinity());
    for (int g = 0; g < kGroup; ++g) {
      const float* qg = q + g * head_dim;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < head_dim; d += 8) {
        const __m256 qv = _mm256_loadu_ps(qg + d);
        a0 = _mm256_fmadd_ps(qv, _mm256_load_ps(rows4 + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_load_ps(rows4 + head_dim + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_load_ps(rows4 + 2 * head_dim + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_load_ps(rows4 + 3 * head_dim + d), a3);
      }
      const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
      const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
      if (head_stride != 0) {
        _mm_storeu_ps(out + g * head_stride + j, sums);
      } else {
        best = _mm_max_ps(best, sums);
      }
    }
    if (head_stride == 0) {
      _mm_storeu_ps(out + j, fold ? _mm_max_ps(_mm_loadu_ps(out + j), best) : best);
    }
  }
  for (; j < n; ++j) {
    const uint8_t* row = keys.Row(RowOf<kGathered>(positions, begin, j));
    __m256 acc[kGroup];
    for (int g = 0; g < kGroup; ++g) acc[g] = _mm256_setzero_ps();
    for (int d = 0; d < head_dim; d += 8) {
      const __m256 k = Load8(keys, row, d);
      for (int g = 0; g < kGroup; ++g) {
        acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * head_dim + d), k, acc[g]);
      }
    }
    if (head_stride != 0) {  // one score per query
      for (int g = 0; g < kGroup; ++g) out[g * head_stride + j] = HorizontalSum(acc[g]);
      continue;
    }
    float best = HorizontalSum(acc[0]);
    for (int g = 1; g < kGroup; ++g) best = std::max(best, HorizontalSum(acc[g]));
    out[j] = fold ? std::max(out[j], best) : best;
  }
}

template <bool kGathered, bool kPaged>
void GroupKeyScoresRows(const float* q, int group, int head_dim, const KvRows& keys,
                        const int32_t* positions, int64_t begin, int64_t count,
                        size_t head_stride, float* out) {
  // Up to four queries share each key load (four accumulators plus the key stay in registers);
  // larger groups take further passes over a tile of rows small enough to stay in L1.
  constexpr int64_t kTile = 64;
  using MaxDotsFn = void (*)(const float*, int, const KvRows&, const int32_t*, int64_t, int64_t,
                             bool, size_t, float*);
  constexpr MaxDotsFn kMaxDots[] = {nullptr, GroupMaxDots<1, kGathered, kPaged>,
                                    GroupMaxDots<2, kGathered, kPaged>,
                                    GroupMaxDots<3, kGathered, kPaged>,
                                    GroupMaxDots<4, kGathered, kPaged>};
  for (int64_t j0 = 0; j0 < count; j0 += kTile) {
    const int64_t n = std::min(kTile, count - j0);
    const int32_t* pos = kGathered ? positions + j0 : positions;
    for (int g0 = 0; g0 < group; g0 += 4) {
      kMaxDots[std::min(4, group - g0)](q + static_cast<size_t>(g0) * head_dim, head_dim, keys,
                                        pos, begin + j0, n, /*fold=*/g0 > 0, head_stride,
                                        out + j0 + g0 * head_stride);
    }
  }
}

using AttendRowsFn = void (*)(const float*, int, int, float, const KvRows&, const KvRows&,
                             const int32_t*, int64_t, int64_t, float*, AttentionPiece);

template <bool kGathered>
AttendRowsFn PickAttendRows(const KvRows& keys, const KvRows& values) {
  const bool paged = keys.blocks != nullptr || values.blocks != nullptr;
  return paged ? AttendRows<kGathered, true> : AttendRows<kGathered, false>;
}

}  // namespace

bool AttendPartialAvx2(const float* q, int group, int head_dim, float scale, KvRows keys,
                       KvRows values, int64_t begin, int64_t end, float* scratch,
                       AttentionPiece piece) {
  if (head_dim % 8 != 0 || head_dim > kMaxHeadDim) return false;
  PickAttendRows<false>(keys, values)(q, group, head_dim, scale, keys, values, nullptr, begin,
                                      end - begin, scratch, piece);
  return true;
}

bool AttendGatheredAvx2(const float* q, int group, int head_dim, float scale, KvRows keys,
                        KvRows values, const int32_t* positions, int64_t count, float* scratch,
                        AttentionPiece piece) {
  if (head_dim % 8 != 0 || head_dim > kMaxHeadDim) return false;
  PickAttendRows<true>(keys, values)(q, group, head_dim, scale, keys, values, positions, 0, count,
                                     scratch, piece);
  return true;
}

bool GroupKeyScoresAvx2(const float* q, int group, int head_dim, KvRows keys,
                        const int32_t* positions, int64_t begin, int64_t count, size_t head_stride,
                        float* out) {
  if (head_dim % 8 != 0 || group <= 0) return false;
  using Fn = void (*)(const float*, int, int, const KvRows&, const int32_t*, int64_t, int64_t,
                     size_t, float*);
  constexpr Fn kRows[2][2] = {{GroupKeyScoresRows<false, false>, GroupKeyScoresRows<false, true>},
                              {GroupKeyScoresRows<true, false>, GroupKeyScoresRows<true, true>}};
  kRows[positions != nullptr][keys.blocks != nullptr](q, group, head_dim, keys, positions, begin,
                                                      count, head_stride, out);
  return true;
}

namespace {

constexpr int kLanes = 16;  // score lanes per key: up to 12 queries, padded to two vectors

// The horizontal sums of four vectors as one __m128: a transposing reduction, four sums for the
// price of about one and a half.
[[gnu::always_inline]] inline __m128 Sum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// Four queries' dot products with one key (already in registers), reduced to one __m128.
template <int kChunks>
[[gnu::always_inline]] inline __m128 Dot4(const float* q, int head_dim, const __m256 k[kChunks]) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int c = 0; c < kChunks; ++c) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c * 8), k[c], a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + head_dim + c * 8), k[c], a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 2 * head_dim + c * 8), k[c], a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 3 * head_dim + c * 8), k[c], a3);
  }
  return Sum4(a0, a1, a2, a3);
}

// scores[j * kLanes + i] = scale * q_i · key_j for the padded query rows, all keys.
template <int kChunks, bool kPaged>
void BlockScores(const float* q, int quads, int head_dim, float scale, const KvRows& keys_in,
                 int64_t first, int64_t n, float* scores) {
  const KvRows keys = Layout<kPaged>(keys_in);
  const __m128 s = _mm_set1_ps(scale);
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t* row = keys.Row(first + j);
    __m256 k[kChunks];
    for (int c = 0; c < kChunks; ++c) k[c] = Load8(keys, row, c * 8);
    for (int quad = 0; quad < quads; ++quad) {
      _mm_storeu_ps(scores + j * kLanes + quad * 4,
                    _mm_mul_ps(Dot4<kChunks>(q + quad * 4 * head_dim, head_dim, k), s));
    }
  }
}

// As BlockScores for head dims too wide to keep a key in registers (any multiple of 8): each
// quad of queries streams the key row from L1, one 8-lane accumulator per query.
template <bool kPaged>
void BlockScoresWide(const float* q, int quads, int head_dim, float scale, const KvRows& keys_in,
                     int64_t first, int64_t n, float* scores) {
  const KvRows keys = Layout<kPaged>(keys_in);
  const __m128 s = _mm_set1_ps(scale);
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t* row = keys.Row(first + j);
    for (int quad = 0; quad < quads; ++quad) {
      const float* qq = q + quad * 4 * head_dim;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < head_dim; d += 8) {
        const __m256 k = Load8(keys, row, d);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qq + d), k, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qq + head_dim + d), k, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(qq + 2 * head_dim + d), k, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(qq + 3 * head_dim + d), k, a3);
      }
      _mm_storeu_ps(scores + j * kLanes + quad * 4, _mm_mul_ps(Sum4(a0, a1, a2, a3), s));
    }
  }
}

// out_i = sum_j p[j][i] * value_j for kQ query rows, 8 dimensions at a time (kQ accumulators).
template <int kQ, bool kPaged>
void BlockValues(const float* p, int head_dim, const KvRows& values_in, int64_t first, int64_t n,
                 float* out) {
  const KvRows values = Layout<kPaged>(values_in);
  for (int d = 0; d < head_dim; d += 8) {
    __m256 acc[kQ];
    for (int i = 0; i < kQ; ++i) acc[i] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const __m256 v = Load8(values, values.Row(first + j), d);
      const float* pj = p + j * kLanes;
      for (int i = 0; i < kQ; ++i) acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(pj + i), v, acc[i]);
    }
    for (int i = 0; i < kQ; ++i) _mm256_storeu_ps(out + i * head_dim + d, acc[i]);
  }
}

using BlockValuesFn = void (*)(const float*, int, const KvRows&, int64_t, int64_t, float*);
template <bool kPaged>
constexpr BlockValuesFn kBlockValues[] = {
    nullptr,                 BlockValues<1, kPaged>,  BlockValues<2, kPaged>,
    BlockValues<3, kPaged>,  BlockValues<4, kPaged>,  BlockValues<5, kPaged>,
    BlockValues<6, kPaged>,  BlockValues<7, kPaged>,  BlockValues<8, kPaged>,
    BlockValues<9, kPaged>,  BlockValues<10, kPaged>, BlockValues<11, kPaged>,
    BlockValues<12, kPaged>};

}  // namespace

bool AttendCausalAvx2(const float* q, size_t q_stride, int tokens, int group, int head_dim,
                      float scale, KvRows keys, KvRows values, int64_t pos0, int64_t window,
                      float* scratch, float* out, size_t out_stride) {
  const int queries = tokens * group;
  if (queries > 12 || head_dim % 8 != 0 || head_dim > kMaxHeadDim) return false;
  const int64_t end = pos0 + tokens;
  // Keys [first, end): the first token's window start (later tokens' windows start later).
  const int64_t first = window > 0 ? std::max<int64_t>(0, pos0 + 1 - window) : 0;
  const int64_t n = end - first;
  // Query rows, padded to 16 and rounded to the keys' type as in AttendPartial.
  float* qbuf = scratch;
  float* scores = scratch + kLanes * head_dim;
  std::memset(qbuf, 0, sizeof(float) * kLanes * head_dim);
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < group * head_dim; i += 8) {
      __m256 v = _mm256_loadu_ps(q + t * q_stride + i);
      if (keys.type == TensorType::kF16) {
        v = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
      }
      _mm256_storeu_ps(qbuf + t * group * head_dim + i, v);
    }
  }
  const int quads = (queries + 3) / 4;
  const bool paged = keys.blocks != nullptr || values.blocks != nullptr;
  if (head_dim == 64) {
    (paged ? BlockScores<8, true> : BlockScores<8, false>)(qbuf, quads, head_dim, scale, keys,
                                                          first, n, scores);
  } else if (head_dim == 32) {
    (paged ? BlockScores<4, true> : BlockScores<4, false>)(qbuf, quads, head_dim, scale, keys,
                                                          first, n, scores);
  } else {
    (paged ? BlockScoresWide<true> : BlockScoresWide<false>)(qbuf, quads, head_dim, scale, keys,
                                                            first, n, scores);
  }
  // Query row i belongs to token i / group, which sees keys j <= pos0 + i / group and, in a
  // window, j > pos0 + i / group - window.
  alignas(32) int32_t token_of[kLanes];
  for (int i = 0; i < kLanes; ++i) token_of[i] = i < queries ? i / group : tokens;
  const __m256i tok0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(token_of));
  const __m256i tok1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(token_of + 8));
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  // Masked: lane i of key j past its token, or (window) before its token's window. Only the
  // last `tokens - 1` keys, and in a window the first `tokens - 1`, have any.
  const int64_t window_edge = window > 0 ? pos0 + 1 - window : std::numeric_limits<int32_t>::min();
  auto masked = [&](int64_t j, __m256i tok) {
    const __m256i late = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(j - pos0)), tok);
    if (window <= 0 || j - window_edge >= tokens) return _mm256_castsi256_ps(late);
    const __m256i early =
        _mm256_cmpgt_epi32(tok, _mm256_set1_epi32(static_cast<int32_t>(j - window_edge)));
    return _mm256_castsi256_ps(_mm256_or_si256(late, early));
  };
  auto maybe_masked = [&](int64_t j) {
    return j > pos0 || (window > 0 && j - window_edge < tokens);
  };
  for (int64_t j = first; j < end; ++j) {
    if (!maybe_masked(j)) continue;
    float* sj = scores + (j - first) * kLanes;
    _mm256_storeu_ps(sj, _mm256_blendv_ps(_mm256_loadu_ps(sj), neg_inf, masked(j, tok0)));
    _mm256_storeu_ps(sj + 8, _mm256_blendv_ps(_mm256_loadu_ps(sj + 8), neg_inf, masked(j, tok1)));
  }
  // Softmax down each lane: max, e^(s - max) (masked lanes exactly 0), sum, normalise and round
  // to the values' type.
  __m256 m0 = neg_inf, m1 = neg_inf;
  for (int64_t j = 0; j < n; ++j) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(scores + j * kLanes));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(scores + j * kLanes + 8));
  }
  __m256 sum0 = _mm256_setzero_ps(), sum1 = sum0;
  for (int64_t j = 0; j < n; ++j) {
    float* sj = scores + j * kLanes;
    __m256 p0 = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(sj), m0));
    __m256 p1 = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(sj + 8), m1));
    if (maybe_masked(first + j)) {
      p0 = _mm256_andnot_ps(masked(first + j, tok0), p0);
      p1 = _mm256_andnot_ps(masked(first + j, tok1), p1);
    }
    _mm256_storeu_ps(sj, p0);
    _mm256_storeu_ps(sj + 8, p1);
    sum0 = _mm256_add_ps(sum0, p0);
    sum1 = _mm256_add_ps(sum1, p1);
  }
  const __m256 inv0 = _mm256_div_ps(_mm256_set1_ps(1.0f), sum0);
  const __m256 inv1 = _mm256_div_ps(_mm256_set1_ps(1.0f), sum1);
  for (int64_t j = 0; j < n; ++j) {
    float* sj = scores + j * kLanes;
    __m256 p0 = _mm256_mul_ps(_mm256_loadu_ps(sj), inv0);
    __m256 p1 = _mm256_mul_ps(_mm256_loadu_ps(sj + 8), inv1);
    if (values.type == TensorType::kF16) {
      p0 = _mm256_cvtph_ps(_mm256_cvtps_ph(p0, _MM_FROUND_TO_NEAREST_INT));
      p1 = _mm256_cvtph_ps(_mm256_cvtps_ph(p1, _MM_FROUND_TO_NEAREST_INT));
    }
    _mm256_storeu_ps(sj, p0);
    _mm256_storeu_ps(sj + 8, p1);
  }
  // Outputs into qbuf's rows (free now), then to their tokens.
  (paged ? kBlockValues<true> : kBlockValues<false>)[queries](scores, head_dim, values, first, n,
                                                             qbuf);
  for (int t = 0; t < tokens; ++t) {
    std::memcpy(out + t * out_stride, qbuf + t * group * head_dim,
                sizeof(float) * group * head_dim);
  }
  return true;
}

bool SwiGluAvx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = ExpAvx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    alignas(32) float v[8] = {-gate[i]};
    _mm256_store_ps(v, ExpAvx2(_mm256_load_ps(v)));
    out[i] = gate[i] / (1.0f + v[0]) * up[i];
  }
  return true;
}

bool GeluErfAvx2(float* x, int64_t n) {
  // erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): erf(z) = 1 - t·P(t)·e^(-z²) for
  // z >= 0 with t = 1 / (1 + p z), odd in z.
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  auto gelu = [&](__m256 v) {
    const __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
    const __m256 az = _mm256_andnot_ps(sign_mask, z);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, one));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = ExpAvx2(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(az, az)));
    const __m256 erf_abs = _mm256_fnmadd_ps(p, e, one);
    const __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sign_mask));
    return _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float tail[8] = {};
    for (int64_t j = i; j < n; ++j) tail[j - i] = x[j];
    _mm256_store_ps(tail, gelu(_mm256_load_ps(tail)));
    for (int64_t j = i; j < n; ++j) x[j] = tail[j - i];
  }
  return true;
}

namespace {

// For R queries at once: out_r[0 .. 8 CN) = Σ_j p_r[j] v_j[0 .. 8 CN) (p already normalised),
// R × CN accumulators in registers. Two queries share each value load and give the FMAs
// independent chains (one query alone is bound by the FMA latency).
template <int CN, int R>
void WeightedValues(const float* const* p, const float* v, size_t v_stride, int64_t n,
                    float* const* out) {
  __m256 o[R][CN];
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < CN; ++c) o[r][c] = _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < n; ++j) {
    __m256 vv[CN];
#pragma GCC unroll 4
    for (int c = 0; c < CN; ++c) vv[c] = _mm256_loadu_ps(v + j * v_stride + 8 * c);
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      const __m256 w = _mm256_broadcast_ss(p[r] + j);
#pragma GCC unroll 4
      for (int c = 0; c < CN; ++c) o[r][c] = _mm256_fmadd_ps(w, vv[c], o[r][c]);
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < CN; ++c) _mm256_storeu_ps(out[r] + 8 * c, o[r][c]);
  }
}

template <int R>
void WeightedValuesAll(const float* const* p, const float* v, size_t v_stride, int64_t n,
                       int chunks, float* const* out) {
  for (int c0 = 0; c0 < chunks; c0 += 4) {
    float* o[R];
    for (int r = 0; r < R; ++r) o[r] = out[r] + 8 * c0;
    const float* vc = v + 8 * c0;
    switch (std::min(4, chunks - c0)) {
      case 4: WeightedValues<4, R>(p, vc, v_stride, n, o); break;
      case 3: WeightedValues<3, R>(p, vc, v_stride, n, o); break;
      case 2: WeightedValues<2, R>(p, vc, v_stride, n, o); break;
      default: WeightedValues<1, R>(p, vc, v_stride, n, o); break;
    }
  }
}

}  // namespace

bool AttendDenseAvx2(const DenseAttentionArgs& a) {
  if (a.head_dim % 8 != 0 || a.head_dim > 256) return false;
  const int dim = a.head_dim, chunks = dim / 8;
  // Keys transposed to kt[d][j] (j padded to whole vectors with zeros), and each block of 8
  // queries to qt[d][8], so the scores of 8 queries against 8 keys are 8 vectors built by
  // broadcast FMAs, with no horizontal sums.
  const int64_t padded = (a.n_kv + 7) / 8 * 8;
  float* kt = a.scratch;
  float* scores = kt + dim * padded;  // 8 queries × padded
  float* qt = scores + 8 * padded;    // dim × 8
  for (int64_t j = 0; j < padded; ++j) {
    for (int d = 0; d < dim; ++d) kt[d * padded + j] = j < a.n_kv ? a.k[j * a.k_stride + d] : 0.0f;
  }
  for (int64_t i0 = 0; i0 < a.n_q; i0 += 8) {
    const int nq = static_cast<int>(std::min<int64_t>(8, a.n_q - i0));
    for (int d = 0; d < dim; ++d) {
      for (int r = 0; r < 8; ++r) qt[d * 8 + r] = r < nq ? a.q[(i0 + r) * a.q_stride + d] * a.scale : 0.0f;
    }
    for (int64_t c = 0; c < padded; c += 8) {
      __m256 acc[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
      for (int d = 0; d < dim; ++d) {
        const __m256 kv = _mm256_loadu_ps(kt + d * padded + c);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(qt + d * 8 + r), kv, acc[r]);
      }
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) _mm256_storeu_ps(scores + r * padded + c, acc[r]);
    }
    for (int r = 0; r < nq; ++r) {
      float* sr = scores + r * padded;
      __m256 mx = _mm256_set1_ps(-INFINITY);
      int64_t j = 0;
      for (; j + 8 <= a.n_kv; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sr + j));
      float m = HorizontalMax(mx);
      for (; j < a.n_kv; ++j) m = std::max(m, sr[j]);
      const __m256 mv = _mm256_set1_ps(m);
      __m256 sum = _mm256_setzero_ps();
      for (int64_t j = 0; j + 8 <= padded; j += 8) {
        const __m256 e = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(sr + j), mv));
        _mm256_storeu_ps(sr + j, e);
        if (j + 8 <= a.n_kv) sum = _mm256_add_ps(sum, e);
      }
      float total = HorizontalSum(sum);
      for (int64_t j = a.n_kv / 8 * 8; j < a.n_kv; ++j) total += sr[j];  // the partial vector
      const __m256 inv = _mm256_set1_ps(1.0f / total);
      for (int64_t j = 0; j + 8 <= padded; j += 8) {
        _mm256_storeu_ps(sr + j, _mm256_mul_ps(_mm256_loadu_ps(sr + j), inv));
      }
    }
    // Weighted values, two queries at a time.
    int r = 0;
    for (; r + 2 <= nq; r += 2) {
      const float* p[2] = {scores + r * padded, scores + (r + 1) * padded};
      float* out[2] = {a.out + (i0 + r) * a.out_stride, a.out + (i0 + r + 1) * a.out_stride};
      WeightedValuesAll<2>(p, a.v, a.v_stride, a.n_kv, chunks, out);
    }
    if (r < nq) {
      const float* p[1] = {scores + r * padded};
      float* out[1] = {a.out + (i0 + r) * a.out_stride};
      WeightedValuesAll<1>(p, a.v, a.v_stride, a.n_kv, chunks, out);
    }
  }
  return true;
}

}  // namespace engram::kernels::internal

#else  // not built for AVX2: the dispatcher falls back to the scalar path

namespace engram::kernels::internal {
bool AttendPartialAvx2(const float*, int, int, float, KvRows, KvRows, int64_t, int64_t, float*,
                       AttentionPiece) {
  return false;
}
bool AttendCausalAvx2(const float*, size_t, int, int, int, float, KvRows, KvRows, int64_t, int64_t,
                      float*, float*, size_t) {
  return false;
}
bool AttendGatheredAvx2(const float*, int, int, float, KvRows, KvRows, const int32_t*, int64_t,
                        float*, AttentionPiece) {
  return false;
}
bool GroupKeyScoresAvx2(const float*, int, int, KvRows, const int32_t*, int64_t, int64_t, size_t,
                        float*) {
  return false;
}
bool SwiGluAvx2(const float*, const float*, float*, int64_t) { return false; }
bool GeluErfAvx2(float*, int64_t) { return false; }
bool AttendDenseAvx2(const DenseAttentionArgs&) { return false; }
}  // namespace engram::kernels::internal

#endif
