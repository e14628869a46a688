// AVX512_VNNI int8 GEMM panel: the 12 tokens × 32 outputs tile of gemm_avx512.cc on quads of k.
// Per quad, 2 weight loads (32 rows × 4 int8) and 12 broadcasts (4 uint8 each) feed 24
// vpdpbusd, 4 products per lane each: 4× the f32 tile's products per instruction. The sums are
// exact int32; the epilogue rescales them as the reference does, so every path gives the same bits.
#include "kernels/internal/gemm_impl.h"

#include "kernels/gemm.h"

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace engram::kernels::internal {
namespace {

constexpr int kTile = 12;

void Tile(const GemmPanelArgs& a, const uint32_t* xp, int64_t t0, int count) {
  const __mmask16 m0 = a.valid >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << a.valid) - 1);
  const __mmask16 m1 = a.valid >= 32   ? 0xFFFF
                       : a.valid <= 16 ? 0
                                       : static_cast<__mmask16>((1u << (a.valid - 16)) - 1);
  __m512i acc[kTile][2];
#pragma GCC unroll 12
  for (int t = 0; t < kTile; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_si512();
  const auto* w = static_cast<const int32_t*>(a.panel);
  const int64_t k4 = a.k / 4;
  for (int64_t i4 = 0; i4 < k4; ++i4) {
    const __m512i w0 = _mm512_loadu_si512(w + i4 * 32);
    const __m512i w1 = _mm512_loadu_si512(w + i4 * 32 + 16);
    const uint32_t* x = xp + i4 * kTile;
#pragma GCC unroll 12
    for (int t = 0; t < kTile; ++t) {
      const __m512i b = _mm512_set1_epi32(static_cast<int32_t>(x[t]));
      acc[t][0] = _mm512_dpbusd_epi32(acc[t][0], b, w0);
      acc[t][1] = _mm512_dpbusd_epi32(acc[t][1], b, w1);
    }
  }
  const auto* scales = reinterpret_cast<const float*>(w + k4 * 32);
  const auto* zero_terms = reinterpret_cast<const int32_t*>(scales + kGemmPanelRows);
  const __m512 s0 = _mm512_loadu_ps(scales), s1 = _mm512_loadu_ps(scales + 16);
  const __m512i c0 = _mm512_loadu_si512(zero_terms), c1 = _mm512_loadu_si512(zero_terms + 16);
  const __m512 b0 = a.bias != nullptr ? _mm512_maskz_loadu_ps(m0, a.bias) : _mm512_setzero_ps();
  const __m512 b1 =
      a.bias != nullptr ? _mm512_maskz_loadu_ps(m1, a.bias + 16) : _mm512_setzero_ps();
  const auto* token_scales = reinterpret_cast<const float*>(xp + k4 * kTile);
#pragma GCC unroll 12
  for (int t = 0; t < kTile; ++t) {
    if (t < count) {
      const __m512 st = _mm512_set1_ps(token_scales[t]);
      const __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[t][0], c0)), s0);
      const __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[t][1], c1)), s1);
      float* y = a.y + (t0 + t) * a.y_stride;
      _mm512_mask_storeu_ps(y, m0, _mm512_fmadd_ps(v0, st, b0));
      _mm512_mask_storeu_ps(y + 16, m1, _mm512_fmadd_ps(v1, st, b1));
    }
  }
}

}  // namespace

void GemmPanelAvx512Vnni(const GemmPanelArgs& a) {
  const int64_t tile_words = (a.k / 4 + 1) * kTile;
  for (int64_t t = 0; t < a.n; t += kTile) {
    Tile(a, static_cast<const uint32_t*>(a.x) + t / kTile * tile_words, t,
         static_cast<int>(std::min<int64_t>(kTile, a.n - t)));
  }
}

// PackTokensInt8 with AVX-512: the same max, multiply, round to nearest even and clamp, so the
// same integers. A tile's tokens are quantized 16 columns at a time, and each group of 4
// tokens' 4 quads is transposed in registers, so the [i4][t] layout is written in 16-byte
// stores rather than one 4-byte store per quad.
void PackTokensInt8Avx512(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kq,
                          int tile, uint32_t* out) {
  if (tile % 4 != 0) return PackTokensInt8(x, x_stride, n, k, kq, tile, out);
  const int64_t k4 = kq / 4;
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  const __m512i zero_point = _mm512_set1_epi32(128);
  auto columns = [k](int64_t i, bool real) -> __mmask16 {  // the real columns of [i, i + 16)
    if (!real || i >= k) return 0;
    return k - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - i)) - 1);
  };
  for (int64_t j = 0; j * tile < n; ++j) {
    uint32_t* o = out + j * tile * (k4 + 1);
    const float* rows[16];
    __m512 inv[16];
    for (int t = 0; t < tile; ++t) {
      rows[t] = x + (j * tile + t) * x_stride;
      __m512 max_abs = _mm512_setzero_ps();
      for (int64_t i = 0; i < k; i += 16) {
        const __mmask16 m = columns(i, j * tile + t < n);
        max_abs = _mm512_max_ps(max_abs, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, rows[t] + i)));
      }
      const float top = _mm512_reduce_max_ps(max_abs);
      inv[t] = _mm512_set1_ps(top > 0.0f ? 127.0f / top : 0.0f);
      const float scale = top / 127.0f;
      std::memcpy(o + k4 * tile + t, &scale, 4);
    }
    for (int64_t i = 0; i < kq; i += 16) {
      const int64_t quads = std::min<int64_t>(4, k4 - i / 4);
      for (int t0 = 0; t0 < tile; t0 += 4) {
        __m128i b[4];  // 16 bytes (4 quads) of tokens t0..t0+3
        for (int r = 0; r < 4; ++r) {
          const int t = t0 + r;
          const __mmask16 m = columns(i, j * tile + t < n);
          const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, rows[t] + i), inv[t]));
          b[r] = _mm512_cvtepi32_epi8(
              _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), zero_point));
        }
        // 4 × 4 transpose of 32-bit words: c[e] holds quad e of the 4 tokens.
        const __m128i a01 = _mm_unpacklo_epi32(b[0], b[1]), a23 = _mm_unpacklo_epi32(b[2], b[3]);
        const __m128i c01 = _mm_unpackhi_epi32(b[0], b[1]), c23 = _mm_unpackhi_epi32(b[2], b[3]);
        const __m128i c[4] = {_mm_unpacklo_epi64(a01, a23), _mm_unpackhi_epi64(a01, a23),
                              _mm_unpacklo_epi64(c01, c23), _mm_unpackhi_epi64(c01, c23)};
        for (int64_t e = 0; e < quads; ++e) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(o + (i / 4 + e) * tile + t0), c[e]);
        }
      }
    }
  }
}

bool GemmAvx512VnniBuilt() { return true; }

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
void GemmPanelAvx512Vnni(const GemmPanelArgs& a) { GemmPanelScalarInt8(a); }
void PackTokensInt8Avx512(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kq,
                          int tile, uint32_t* out) {
  PackTokensInt8(x, x_stride, n, k, kq, tile, out);
}
bool GemmAvx512VnniBuilt() { return false; }
}  // namespace engram::kernels::internal

#endif
