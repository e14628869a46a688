// AVX2 integer kernels of kernels/matmul.h (compiled with -mavx2 -mfma -mf16c; see
// quant_avx2.cc for the rules such a file follows).
//
// Each weight block is unpacked once into 32 int8 lanes and multiplied with the matching block
// of up to four activation rows (vpmaddubsw: unsigned × signed bytes -> pairs summed to int16,
// then vpmaddwd by 1 -> int32), so in prefill the unpacking is shared by four tokens. Signed
// weights use the usual sign trick: |w| × (a with w's sign).
#include "kernels/internal/matmul_impl.h"
#include "kernels/internal/quant_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <cstring>

namespace engram::kernels::internal {
namespace {

[[gnu::always_inline]] inline float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

[[gnu::always_inline]] inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

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

// 8 int32 partial sums of u[i] * s[i], u unsigned (0..127 or 0..15), s signed.
[[gnu::always_inline]] inline __m256 DotUnsignedSigned(__m256i u, __m256i s) {
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// A weight block, unpacked: |q| and q's sign (signed formats) or q (unsigned), its scale d and
// for q4_1 its minimum m.
struct Unpacked {
  __m256i q;      // unsigned magnitudes (signed formats) or the unsigned values (q4_1)
  __m256i sign;   // the signed values themselves, for _mm256_sign_epi8; unused for q4_1
  float d, m;
};

struct Q4_0 {
  using W = BlockQ4_0;
  using A = BlockQ8_0;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    const __m256i q = _mm256_sub_epi8(UnpackNibbles(w.qs), _mm256_set1_epi8(8));
    return {_mm256_sign_epi8(q, q), q, Half(w.d), 0.0f};
  }
};

struct Q8_0 {
  using W = BlockQ8_0;
  using A = BlockQ8_0;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    const __m256i q = LoadQ(w.qs);
    return {_mm256_sign_epi8(q, q), q, Half(w.d), 0.0f};
  }
};

struct Q4_1 {
  using W = BlockQ4_1;
  using A = BlockQ8_1;
  static constexpr bool kHasMin = true;
  [[gnu::always_inline]] static Unpacked Load(const W& w) {
    return {UnpackNibbles(w.qs), _mm256_setzero_si256(), Half(w.d), Half(w.m)};
  }
};

template <typename F>
[[gnu::always_inline]] inline __m256 BlockDot(const Unpacked& u, const typename F::A& a) {
  const __m256i q = LoadQ(a.qs);
  if constexpr (F::kHasMin) return DotUnsignedSigned(u.q, q);
  return DotUnsignedSigned(u.q, _mm256_sign_epi8(q, u.sign));
}

// One weight row against kT activation rows at once.
template <typename F, int kT>
[[gnu::always_inline]] inline void RowTile(const typename F::W* w, const uint8_t* a,
                                           size_t a_row_bytes, int64_t nb, float* out[kT]) {
  __m256 acc[kT];
  float min_acc[kT];
  const typename F::A* rows[kT];
  for (int t = 0; t < kT; ++t) {
    acc[t] = _mm256_setzero_ps();
    min_acc[t] = 0.0f;
    rows[t] = reinterpret_cast<const typename F::A*>(a + t * a_row_bytes);
  }
  for (int64_t b = 0; b < nb; ++b) {
    const Unpacked u = F::Load(w[b]);
#pragma GCC unroll 4
    for (int t = 0; t < kT; ++t) {
      const typename F::A& ab = rows[t][b];
      const __m256 scale = _mm256_set1_ps(u.d * Half(ab.d));
      acc[t] = _mm256_fmadd_ps(scale, BlockDot<F>(u, ab), acc[t]);
      if constexpr (F::kHasMin) min_acc[t] += u.m * Half(ab.s);
    }
  }
  for (int t = 0; t < kT; ++t) *out[t] = HorizontalSum(acc[t]) + min_acc[t];
}

template <typename F>
void Run(const IntMatMulArgs& args) {
  constexpr int kTile = 4;
  int64_t t = 0;
  for (; t + kTile <= args.n; t += kTile) {
    const uint8_t* a = args.a + t * args.a_row_bytes;
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
      float* out[kTile];
      for (int i = 0; i < kTile; ++i) out[i] = args.y + (t + i) * args.y_stride + r;
      RowTile<F, kTile>(w, a, args.a_row_bytes, args.nb, out);
    }
  }
  for (; t < args.n; ++t) {
    const uint8_t* a = args.a + t * args.a_row_bytes;
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const typename F::W*>(args.w + r * args.w_row_bytes);
      float* out[1] = {args.y + t * args.y_stride + r};
      RowTile<F, 1>(w, a, args.a_row_bytes, args.nb, out);
    }
  }
}

}  // namespace

bool IntMatMulAvx2(TensorType weight_type, const IntMatMulArgs& args) {
  switch (weight_type) {
    case TensorType::kQ4_0: Run<Q4_0>(args); return true;
    case TensorType::kQ4_1: Run<Q4_1>(args); return true;
    case TensorType::kQ8_0: Run<Q8_0>(args); return true;
    default: return false;
  }
}

}  // namespace engram::kernels::internal

#else  // not built for AVX2: the dispatcher never selects this path

namespace engram::kernels::internal {
bool IntMatMulAvx2(TensorType, const IntMatMulArgs&) { return false; }
}  // namespace engram::kernels::internal

#endif
