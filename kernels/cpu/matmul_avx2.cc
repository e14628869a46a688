// AVX2 integer kernels of kernels/matmul.h (compiled with -mavx2 -mfma -mf16c; see
// quant_avx2.cc for the rules such a file follows).
//
// Tiles of 1 weight row × 4 activation rows: each weight block is unpacked once into 32 int8
// lanes and multiplied with the matching blocks of four tokens (vpmaddubsw: unsigned × signed
// bytes -> pairs summed to int16, then vpmaddwd by 1 -> int32), so prefill shares the unpacking
// between tokens. Signed weights use the usual sign trick:
// |w| × (a with w's sign).
#include "kernels/internal/matmul_impl.h"
#include "kernels/internal/quant_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <cstring>

#include "kernels/internal/avx2_helpers.inc"
namespace engram::kernels::internal {
namespace {

// 16 bytes of nibbles -> 32 bytes 0..15 in element order (low nibbles are elements 0-15).
[[gnu::always_inline]] inline __m256i UnpackNibbles(const uint8_t* qs) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(x, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

[[gnu::always_inline]] inline __m256i LoadQ(const int8_t* qs) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
}

// 8 int32 partial sums of u[i] * s[i], u unsigned (0..128), s signed (-127..127), as floats.
[[gnu::always_inline]] inline __m256 DotUnsignedSigned(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// A weight block, unpacked: `q` holds unsigned values (|w| for signed formats, whose signs are
// then moved onto the activations with `sign`), `d` its scale and `m` q4_1's minimum.
struct Unpacked {
  __m256i q;
  __m256i sign;
  __m256 d;
};

struct Q4_0 {
  using W = BlockQ4_0;
  static constexpr bool kSigned = true;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    const __m256i q = _mm256_sub_epi8(UnpackNibbles(w.qs), _mm256_set1_epi8(8));
    return {_mm256_sign_epi8(q, q), q, _mm256_set1_ps(LoadHalf(w.d))};
  }
};

// q5_0's 32 signed values q - 16 from the nibbles and the fifth bits qh: byte j takes byte j/8
// of qh and tests bit j%8; where that bit is clear, 0xF0 ORed onto the nibble gives
// nibble - 16 as an int8 (where it is set, the value is the nibble itself).
[[gnu::always_inline]] inline __m256i Q5Values(const uint8_t* qs, const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
  return _mm256_or_si256(UnpackNibbles(qs),
                         _mm256_andnot_si256(set, _mm256_set1_epi8(static_cast<char>(0xF0))));
}

struct Q5_0 {
  using W = BlockQ5_0;
  static constexpr bool kSigned = true;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    const __m256i q = Q5Values(w.qs, w.qh);
    return {_mm256_sign_epi8(q, q), q, _mm256_set1_ps(LoadHalf(w.d))};
  }
};

struct Q8_0 {
  using W = BlockQ8_0;
  static constexpr bool kSigned = true;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    const __m256i q = LoadQ(w.qs);
    return {_mm256_sign_epi8(q, q), q, _mm256_set1_ps(LoadHalf(w.d))};
  }
};

struct Q4_1 {
  using W = BlockQ4_1;
  static constexpr bool kSigned = false;
  static constexpr bool kHasMin = true;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    return {UnpackNibbles(w.qs), _mm256_setzero_si256(), _mm256_set1_ps(LoadHalf(w.d))};
  }
};

// One activation row's view: int8 values, block scales and (q4_1) block sums.
struct Act {
  const int8_t* q;
  const float* d;
  const float* s;
};

[[gnu::always_inline]] inline Act ActAt(const IntMatMulArgs& args, int64_t t) {
  const uint8_t* base = args.a + t * args.a_row_bytes;
  const auto* d = reinterpret_cast<const float*>(base + args.nb * 32);
  return {reinterpret_cast<const int8_t*>(base), d, d + args.nb};
}

// The float contribution of one weight block to one token: (d_w · d_a) · Σ w·a.
template <typename F>
[[gnu::always_inline]] inline __m256 Step(const Unpacked& u, const Act& a, int64_t b, __m256 acc) {
  const __m256i q = LoadQ(a.q + b * 32);
  const __m256 dot = DotUnsignedSigned(u.q, F::kSigned ? _mm256_sign_epi8(q, u.sign) : q);
  return _mm256_fmadd_ps(_mm256_mul_ps(u.d, _mm256_broadcast_ss(a.d + b)), dot, acc);
}

// The float contribution of one weight block to one token whose int8 block is at q and scale
// at d.
template <typename F>
[[gnu::always_inline]] inline __m256 StepAt(const Unpacked& u, const uint8_t* q, const uint8_t* d,
                                            __m256 acc) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256 dot = DotUnsignedSigned(u.q, F::kSigned ? _mm256_sign_epi8(v, u.sign) : v);
  const __m256 scale = _mm256_mul_ps(u.d, _mm256_broadcast_ss(reinterpret_cast<const float*>(d)));
  return _mm256_fmadd_ps(scale, dot, acc);
}

// One weight row × four activation rows, accumulators in named registers (GCC keeps arrays of
// vectors on the stack here) and the four rows addressed from one walking pointer plus fixed
// strides, so the loop needs few general registers. Each weight block is unpacked once for the
// four tokens.
template <typename F>
void Row4(const IntMatMulArgs& args, int64_t r, int64_t t) {
  const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
  const size_t s1 = args.a_row_bytes, s2 = 2 * s1, s3 = 3 * s1;
  const uint8_t* q = args.a + t * s1;
  const uint8_t* d = q + args.nb * 32;
  __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
  for (int64_t b = 0; b < args.nb; ++b, q += 32, d += 4) {
    const Unpacked u = F::Load(w[b]);
    c0 = StepAt<F>(u, q, d, c0);
    c1 = StepAt<F>(u, q + s1, d + s1, c1);
    c2 = StepAt<F>(u, q + s2, d + s2, c2);
    c3 = StepAt<F>(u, q + s3, d + s3, c3);
  }
  // q4_1's offsets, sum_b m_b * s_b per token, in a separate pass: accumulating them in the
  // loop above spills the scalars to the stack and serialises on store-to-load forwarding.
  float m0 = 0.0f, m1 = 0.0f, m2 = 0.0f, m3 = 0.0f;
  if constexpr (F::kHasMin) {
    const float* s0 = ActAt(args, t).s;
    const float* s1 = ActAt(args, t + 1).s;
    const float* s2 = ActAt(args, t + 2).s;
    const float* s3 = ActAt(args, t + 3).s;
    for (int64_t b = 0; b < args.nb; ++b) {
      const float m = LoadHalf(w[b].m);
      m0 += m * s0[b];
      m1 += m * s1[b];
      m2 += m * s2[b];
      m3 += m * s3[b];
    }
  }
  float* y = args.y + t * args.y_stride + r;
  y[0] = HorizontalSum(c0) + m0;
  y[args.y_stride] = HorizontalSum(c1) + m1;
  y[2 * args.y_stride] = HorizontalSum(c2) + m2;
  y[3 * args.y_stride] = HorizontalSum(c3) + m3;
}

// One weight row × one activation row (decode). One accumulator, blocks in order, q4_1's offsets
// summed in the loop: the same operations in the same order as ggml's vec_dot, so engram's
// products are bit-identical to llama.cpp's (Row4 keeps that order per token too).
template <typename F>
void Row1(const IntMatMulArgs& args, int64_t r, int64_t t) {
  const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
  const Act a = ActAt(args, t);
  __m256 acc = _mm256_setzero_ps();
  float min_sum = 0.0f;
  for (int64_t b = 0; b < args.nb; ++b) {
    // Decode streams every weight once from memory: ask for the bytes ~1 KiB ahead (the next
    // rows) early, so more cache lines are in flight than the hardware prefetcher keeps.
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 2048, _MM_HINT_T0);
    if constexpr (F::kHasMin) min_sum += LoadHalf(w[b].m) * a.s[b];
    acc = Step<F>(F::Load(w[b]), a, b, acc);
  }
  args.y[t * args.y_stride + r] = HorizontalSum(acc) + min_sum;
}

template <typename F>
void Run(const IntMatMulArgs& args) {
  int64_t t = 0;
  for (; t + 4 <= args.n; t += 4) {
    for (int64_t r = args.r0; r < args.r1; ++r) Row4<F>(args, r, t);
  }
  for (; t < args.n; ++t) {
    for (int64_t r = args.r0; r < args.r1; ++r) Row1<F>(args, r, t);
  }
}

}  // namespace

// K-quants × q8_K. A super-block is 8 chunks of 32 elements with one integer scale per chunk
// (q4_K) or per 16 elements (q6_K). Each chunk's products go to 8 int32 lanes (maddubs, then
// madd with the scales: lane l holds elements 4l..4l+3), the super-block's lanes are added with
// one FMA of d_w·d_a, and the row ends with HorizontalSum (+ q4_K's minimums): the operations
// and order of GGML's AVX2 vec_dot, so decode gives llama.cpp's bits; prefill tiles keep the
// same order per token.
namespace {

[[gnu::always_inline]] inline const BlockQ8K* ActK(const IntMatMulArgs& args, int64_t t) {
  return reinterpret_cast<const BlockQ8K*>(args.a + t * args.a_row_bytes);
}

// The int16 pair (2j, 2j + 1) of a 128-bit lane, in every 32-bit slot: a pshufb mask that
// broadcasts int16 element j.
[[gnu::always_inline]] inline __m256i PickWord(int j) {
  return _mm256_set1_epi16(static_cast<int16_t>((2 * j) | ((2 * j + 1) << 8)));
}

// q4_K: the 6-bit scales and mins of the 8 sub-blocks, unpacked from the 12 bytes four at a time
// (bytes 0-3: scales 0-3 and, in their top bits, the high bits of scales 4-7; bytes 4-7 the same
// for the mins; bytes 8-11: the low nibbles of scales 4-7 and mins 4-7). Chunk j is the low (even
// j) or high (odd j) nibbles of qs[32(j/2) ..].
struct Q4K {
  using W = BlockQ4_K;
  static constexpr bool kOffset32 = false;
  struct Scales {
    __m256i sc;    // int16 scales 0-7, in both 128-bit lanes
    __m128i mins;  // int16 mins 0-7
  };
  [[gnu::always_inline]] static Scales Prepare(const W& w) {
    uint32_t b[3];
    std::memcpy(b, w.scales, sizeof(b));
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    const uint32_t sc_lo = b[0] & low6, m_lo = b[1] & low6;
    const uint32_t sc_hi = (b[2] & low4) | (((b[0] >> 6) & low2) << 4);
    const uint32_t m_hi = ((b[2] >> 4) & low4) | (((b[1] >> 6) & low2) << 4);
    const __m128i bytes = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi),
                                         static_cast<int>(m_lo), static_cast<int>(m_hi));
    const __m128i sc = _mm_cvtepu8_epi16(bytes);
    return {_mm256_broadcastsi128_si256(sc), _mm_cvtepu8_epi16(_mm_unpackhi_epi64(bytes, bytes))};
  }
  [[gnu::always_inline]] static __m256i Chunk(const W& w, int j) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (j / 2)));
    const __m256i nib = (j & 1) ? _mm256_srli_epi16(bits, 4) : bits;
    return _mm256_and_si256(nib, _mm256_set1_epi8(0x0f));
  }
  [[gnu::always_inline]] static __m256i Scale(const Scales& s, int j) {
    return _mm256_shuffle_epi8(s.sc, PickWord(j));
  }
};

// q6_K: chunk c is quarter c % 4 of half c / 4 (see BlockQ6_K), values q in 0..63 (the weights
// are q - 32); its two 16-element halves have their own int8 scales.
struct Q6K {
  using W = BlockQ6_K;
  static constexpr bool kOffset32 = true;
  struct Scales {
    __m128i sc;
  };
  [[gnu::always_inline]] static Scales Prepare(const W& w) {
    return {_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales))};
  }
  [[gnu::always_inline]] static __m256i Chunk(const W& w, int c) {
    const int half = c / 4, quarter = c % 4;
    const __m256i ql =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * half + 32 * (quarter % 2)));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * half));
    const __m256i lo = _mm256_and_si256(quarter >= 2 ? _mm256_srli_epi16(ql, 4) : ql,
                                        _mm256_set1_epi8(0x0f));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * quarter), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
  // int16 lanes 0-7 = scales[2c], 8-15 = scales[2c + 1].
  [[gnu::always_inline]] static __m256i Scale(const Scales& s, int c) {
    const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (2 * c + 1),
                                        0x0101010101010101LL * (2 * c));
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s.sc, pick));
  }
};

// One chunk of 32 weights × 32 activations, times its scales, as 8 int32 lanes. q6_K's offset:
// one token at a time as GGML, q·a - 32·a; in the 4-token tiles (kTile) q arrives as the signed
// q - 32 and takes the sign trick, |q - 32| × (a with its sign), whose |·| is shared by the four
// tokens: the same int16 pair sums (|q - 32| <= 32, nothing saturates), one multiply less each.
template <typename F, bool kTile>
[[gnu::always_inline]] inline __m256i ChunkDot(__m256i q, __m256i scale, const int8_t* a) {
  const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  __m256i p;
  if constexpr (F::kOffset32 && kTile) {
    p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(av, q));
  } else if constexpr (F::kOffset32) {
    p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, av),
                         _mm256_maddubs_epi16(_mm256_set1_epi8(32), av));
  } else {
    p = _mm256_maddubs_epi16(q, av);
  }
  return _mm256_madd_epi16(scale, p);
}

// q4_K's minimum term of one super-block for one token, added to GGML's 4-lane acc_m:
// lane l += -d_a·dmin_w · (min_2l·sum_2l + min_2l+1·sum_2l+1), sum_j = a's sum over sub-block j.
[[gnu::always_inline]] inline __m128 AddMins(__m128i mins, const BlockQ4_K& w, const BlockQ8K& a,
                                             __m128 acc) {
  const __m128i s0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums));
  const __m128i s1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums + 8));
  const __m128i prod = _mm_madd_epi16(mins, _mm_hadd_epi16(s0, s1));
  const float dmin = -a.d * LoadHalf(w.dmin);
  return _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc);
}

[[gnu::always_inline]] inline float SumMins(__m128 acc) {
  acc = _mm_add_ps(acc, _mm_movehl_ps(acc, acc));
  acc = _mm_add_ss(acc, _mm_movehdup_ps(acc));
  return _mm_cvtss_f32(acc);
}

// The minimum terms of one weight row for four tokens, in a pass of their own: in RowK4's loop
// their accumulators would spill.
void MinTerms4(const BlockQ4_K* w, const BlockQ8K* const a[4], int64_t nb, float out[4]) {
  __m128 m0 = _mm_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
  for (int64_t b = 0; b < nb; ++b) {
    const __m128i mins = Q4K::Prepare(w[b]).mins;
    m0 = AddMins(mins, w[b], a[0][b], m0);
    m1 = AddMins(mins, w[b], a[1][b], m1);
    m2 = AddMins(mins, w[b], a[2][b], m2);
    m3 = AddMins(mins, w[b], a[3][b], m3);
  }
  out[0] = SumMins(m0);
  out[1] = SumMins(m1);
  out[2] = SumMins(m2);
  out[3] = SumMins(m3);
}

// One weight row × one activation row (decode); q4_K's minimums in the same loop, as GGML.
template <typename F>
void RowK1(const IntMatMulArgs& args, int64_t r, int64_t t) {
  const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
  const BlockQ8K* a = ActK(args, t);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t b = 0; b < args.nb; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + 2048, _MM_HINT_T0);
    const typename F::Scales s = F::Prepare(w[b]);
    if constexpr (!F::kOffset32) acc_m = AddMins(s.mins, w[b], a[b], acc_m);
    __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      sum = _mm256_add_epi32(sum, ChunkDot<F, false>(F::Chunk(w[b], j), F::Scale(s, j), a[b].qs + 32 * j));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[b].d * LoadHalf(w[b].d)), _mm256_cvtepi32_ps(sum), acc);
  }
  float y = HorizontalSum(acc);
  if constexpr (!F::kOffset32) y += SumMins(acc_m);
  args.y[t * args.y_stride + r] = y;
}

// One weight row × four activation rows: each chunk is unpacked once for the four tokens.
template <typename F>
void RowK4(const IntMatMulArgs& args, int64_t r, int64_t t) {
  const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
  const BlockQ8K* const a[4] = {ActK(args, t), ActK(args, t + 1), ActK(args, t + 2),
                                ActK(args, t + 3)};
  __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
  for (int64_t b = 0; b < args.nb; ++b) {
    const typename F::Scales s = F::Prepare(w[b]);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m256i q = F::Chunk(w[b], j);
      if constexpr (F::kOffset32) q = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
      const __m256i scale = F::Scale(s, j);
      s0 = _mm256_add_epi32(s0, ChunkDot<F, true>(q, scale, a[0][b].qs + 32 * j));
      s1 = _mm256_add_epi32(s1, ChunkDot<F, true>(q, scale, a[1][b].qs + 32 * j));
      s2 = _mm256_add_epi32(s2, ChunkDot<F, true>(q, scale, a[2][b].qs + 32 * j));
      s3 = _mm256_add_epi32(s3, ChunkDot<F, true>(q, scale, a[3][b].qs + 32 * j));
    }
    const float dw = LoadHalf(w[b].d);
    c0 = _mm256_fmadd_ps(_mm256_set1_ps(a[0][b].d * dw), _mm256_cvtepi32_ps(s0), c0);
    c1 = _mm256_fmadd_ps(_mm256_set1_ps(a[1][b].d * dw), _mm256_cvtepi32_ps(s1), c1);
    c2 = _mm256_fmadd_ps(_mm256_set1_ps(a[2][b].d * dw), _mm256_cvtepi32_ps(s2), c2);
    c3 = _mm256_fmadd_ps(_mm256_set1_ps(a[3][b].d * dw), _mm256_cvtepi32_ps(s3), c3);
  }
  float mins[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if constexpr (!F::kOffset32) MinTerms4(w, a, args.nb, mins);
  float* y = args.y + t * args.y_stride + r;
  const float sums[4] = {HorizontalSum(c0), HorizontalSum(c1), HorizontalSum(c2),
                         HorizontalSum(c3)};
  for (int i = 0; i < 4; ++i) {
    y[i * args.y_stride] = F::kOffset32 ? sums[i] : sums[i] + mins[i];
  }
}

template <typename F>
void RunK(const IntMatMulArgs& args) {
  int64_t t = 0;
  for (; t + 4 <= args.n; t += 4) {
    for (int64_t r = args.r0; r < args.r1; ++r) RowK4<F>(args, r, t);
  }
  for (; t < args.n; ++t) {
    for (int64_t r = args.r0; r < args.r1; ++r) RowK1<F>(args, r, t);
  }
}

}  // namespace

namespace {

// 8 weights of an f32 or f16 row as floats.
template <bool kHalf>
[[gnu::always_inline]] inline __m256 LoadW(const uint8_t* row, int64_t i) {
  if constexpr (kHalf) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i * 2)));
  } else {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
}

// Float activations: 2 weight rows × 4 tokens per pass (8 accumulators), so each weight vector
// is loaded once for 4 tokens and each activation vector once for 2 rows.
template <bool kHalf>
void FloatTile(const FloatMatMulArgs& a, int64_t r, int64_t t) {
  const uint8_t* w0 = a.w + r * a.w_row_bytes;
  const uint8_t* w1 = w0 + a.w_row_bytes;
  const float* x0 = a.x + t * a.k;
  const float* x1 = x0 + a.k;
  const float* x2 = x1 + a.k;
  const float* x3 = x2 + a.k;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
  __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  for (int64_t i = 0; i < a.k; i += 8) {
    const __m256 u = LoadW<kHalf>(w0, i), v = LoadW<kHalf>(w1, i);
    const __m256 y0 = _mm256_loadu_ps(x0 + i), y1 = _mm256_loadu_ps(x1 + i);
    const __m256 y2 = _mm256_loadu_ps(x2 + i), y3 = _mm256_loadu_ps(x3 + i);
    c00 = _mm256_fmadd_ps(u, y0, c00);
    c01 = _mm256_fmadd_ps(u, y1, c01);
    c02 = _mm256_fmadd_ps(u, y2, c02);
    c03 = _mm256_fmadd_ps(u, y3, c03);
    c10 = _mm256_fmadd_ps(v, y0, c10);
    c11 = _mm256_fmadd_ps(v, y1, c11);
    c12 = _mm256_fmadd_ps(v, y2, c12);
    c13 = _mm256_fmadd_ps(v, y3, c13);
  }
  float* y = a.y + t * a.y_stride + r;
  y[0] = HorizontalSum(c00);
  y[1] = HorizontalSum(c10);
  y[a.y_stride] = HorizontalSum(c01);
  y[a.y_stride + 1] = HorizontalSum(c11);
  y[2 * a.y_stride] = HorizontalSum(c02);
  y[2 * a.y_stride + 1] = HorizontalSum(c12);
  y[3 * a.y_stride] = HorizontalSum(c03);
  y[3 * a.y_stride + 1] = HorizontalSum(c13);
}

template <bool kHalf>
void FloatRun(const FloatMatMulArgs& a) {
  const int64_t t_tiles = a.n / 4 * 4, r_tiles = a.r0 + (a.r1 - a.r0) / 2 * 2;
  for (int64_t t = 0; t < t_tiles; t += 4) {
    for (int64_t r = a.r0; r < r_tiles; r += 2) FloatTile<kHalf>(a, r, t);
  }
  // Edges (odd row, last tokens): one dot at a time.
  for (int64_t t = 0; t < a.n; ++t) {
    for (int64_t r = a.r0; r < a.r1; ++r) {
      if (t < t_tiles && r < r_tiles) continue;
      const uint8_t* w = a.w + r * a.w_row_bytes;
      const float* x = a.x + t * a.k;
      __m256 c = _mm256_setzero_ps();
      for (int64_t i = 0; i < a.k; i += 8) c = _mm256_fmadd_ps(LoadW<kHalf>(w, i), _mm256_loadu_ps(x + i), c);
      a.y[t * a.y_stride + r] = HorizontalSum(c);
    }
  }
}

}  // namespace

bool FloatMatMulAvx2(TensorType weight_type, const FloatMatMulArgs& args) {
  if (args.k % 8 != 0) return false;
  switch (weight_type) {
    case TensorType::kF32: FloatRun<false>(args); return true;
    case TensorType::kF16: FloatRun<true>(args); return true;
    default: return false;
  }
}

bool IntMatMulAvx2(TensorType weight_type, const IntMatMulArgs& args) {
  switch (weight_type) {
    case TensorType::kQ4_0: Run<Q4_0>(args); return true;
    case TensorType::kQ4_1: Run<Q4_1>(args); return true;
    case TensorType::kQ5_0: Run<Q5_0>(args); return true;
    case TensorType::kQ8_0: Run<Q8_0>(args); return true;
    case TensorType::kQ4_K: RunK<Q4K>(args); return true;
    case TensorType::kQ6_K: RunK<Q6K>(args); return true;
    default: return false;
  }
}

}  // namespace engram::kernels::internal

#else  // not built for AVX2: the dispatcher never selects this path

namespace engram::kernels::internal {
bool IntMatMulAvx2(TensorType, const IntMatMulArgs&) { return false; }
bool FloatMatMulAvx2(TensorType, const FloatMatMulArgs&) { return false; }
}  // namespace engram::kernels::internal

#endif
