// AVX-512 GEMM panel: tiles of 12 tokens × 32 outputs (24 accumulators, 2 weight vectors and the
// broadcast in the 32 zmm registers): per k, 2 weight loads and 12 broadcasts feed 24 FMAs.
#include "kernels/internal/gemm_impl.h"

#include "kernels/gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>

namespace engram::kernels::internal {
namespace {

constexpr int kTile = 12;

// One tile of 12 packed tokens; the first `count` are stored.
void Tile(const GemmPanelArgs& a, const float* xp, int64_t t0, int count) {
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
  const auto* w = static_cast<const float*>(a.panel);
  for (int64_t i = 0; i < a.k; ++i) {
    const __m512 w0 = _mm512_loadu_ps(w + i * kGemmPanelRows);
    const __m512 w1 = _mm512_loadu_ps(w + i * kGemmPanelRows + 16);
    const float* x = xp + i * kTile;
#pragma GCC unroll 12
    for (int t = 0; t < kTile; ++t) {
      const __m512 b = _mm512_set1_ps(x[t]);
      acc[t][0] = _mm512_fmadd_ps(w0, b, acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(w1, b, acc[t][1]);
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

void GemmPanelAvx512(const GemmPanelArgs& a) {
  for (int64_t t = 0; t < a.n; t += kTile) {
    Tile(a, static_cast<const float*>(a.x) + t * a.k, t, static_cast<int>(std::min<int64_t>(kTile, a.n - t)));
  }
}

bool GemmAvx512Built() { return true; }

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
void GemmPanelAvx512(const GemmPanelArgs& a) { GemmPanelScalar(a); }
bool GemmAvx512Built() { return false; }
}  // namespace engram::kernels::internal

#endif
