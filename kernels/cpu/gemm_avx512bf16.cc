// AVX512_BF16 GEMM panel: the tile of gemm_avx512.cc on bf16 pairs. Per pair of k, 2 weight
// loads and 12 broadcasts (one 32-bit pair each) feed 24 vdpbf16ps: 2 products per lane each.
#include "kernels/internal/gemm_impl.h"

#include "kernels/gemm.h"

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace engram::kernels::internal {
namespace {

constexpr int kTile = 12;

void Tile(const GemmPanelArgs& a, const uint16_t* xp, int64_t t0, int count) {
  const __mmask16 m0 = a.valid >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << a.valid) - 1);
  const __mmask16 m1 = a.valid >= 32   ? 0xFFFF
                       : a.valid <= 16 ? 0
                                       : static_cast<__mmask16>((1u << (a.valid - 16)) - 1);
  const __m512 b0 = a.bias != nullptr ? _mm512_maskz_loadu_ps(m0, a.bias) : _mm512_setzero_ps();
  const __m512 b1 =
      a.bias != nullptr ? _mm512_maskz_loadu_ps(m1, a.bias + 16) : _mm512_setzero_ps();
  __m512 acc[kTile][2];
#pragma GCC unroll 12
  for (int t = 0; t < kTile; ++t) {
    acc[t][0] = b0;
    acc[t][1] = b1;
  }
  const auto* w = static_cast<const uint16_t*>(a.panel);
  const int64_t k2 = (a.k + 1) / 2;
  for (int64_t i2 = 0; i2 < k2; ++i2) {
    const __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + i2 * 64);
    const __m512bh w1 = (__m512bh)_mm512_loadu_si512(w + i2 * 64 + 32);
    const uint16_t* x = xp + i2 * kTile * 2;
#pragma GCC unroll 12
    for (int t = 0; t < kTile; ++t) {
      int32_t pair;
      std::memcpy(&pair, x + 2 * t, 4);
      const __m512bh b = (__m512bh)_mm512_set1_epi32(pair);
      acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, b);
      acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, b);
    }
  }
#pragma GCC unroll 12
  for (int t = 0; t < kTile; ++t) {
    if (t < count) {
      float* y = a.y + (t0 + t) * a.y_stride;
      _mm512_mask_storeu_ps(y, m0, acc[t][0]);
      _mm512_mask_storeu_ps(y + 16, m1, acc[t][1]);
    }
  }
}

}  // namespace

void GemmPanelAvx512Bf16(const GemmPanelArgs& a) {
  const int64_t k2 = (a.k + 1) / 2;
  for (int64_t t = 0; t < a.n; t += kTile) {
    Tile(a, static_cast<const uint16_t*>(a.x) + t * k2 * 2, t,
         static_cast<int>(std::min<int64_t>(kTile, a.n - t)));
  }
}

bool GemmAvx512Bf16Built() { return true; }

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
void GemmPanelAvx512Bf16(const GemmPanelArgs& a) { GemmPanelScalarBf16(a); }
bool GemmAvx512Bf16Built() { return false; }
}  // namespace engram::kernels::internal

#endif
