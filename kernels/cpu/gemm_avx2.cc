// AVX2 GEMM panel: tiles of 6 tokens × 16 outputs (12 accumulators, 2 weight vectors and one
// broadcast in the 16 ymm registers); a 32-row panel is two such halves.
#include "kernels/internal/gemm_impl.h"

#include "kernels/gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <algorithm>

namespace engram::kernels::internal {
namespace {

constexpr int kTile = 6;

// One tile of 6 packed tokens against half `half` of the panel; the first `count` are stored.
void Tile(const GemmPanelArgs& a, const float* xp, int64_t t0, int count, int half) {
  __m256 acc[kTile][2];
  const int base = half * 16;
  const int valid = a.valid - base;  // outputs of this half that exist (may be >= 16)
  float bias[16] = {};
  if (a.bias != nullptr) {
    for (int j = 0; j < 16 && j < valid; ++j) bias[j] = a.bias[base + j];
  }
#pragma GCC unroll 6
  for (int t = 0; t < kTile; ++t) {
    acc[t][0] = _mm256_loadu_ps(bias);
    acc[t][1] = _mm256_loadu_ps(bias + 8);
  }
  const float* w = static_cast<const float*>(a.panel) + base;
  for (int64_t i = 0; i < a.k; ++i) {
    const __m256 w0 = _mm256_loadu_ps(w + i * kGemmPanelRows);
    const __m256 w1 = _mm256_loadu_ps(w + i * kGemmPanelRows + 8);
    const float* x = xp + i * kTile;
#pragma GCC unroll 6
    for (int t = 0; t < kTile; ++t) {
      const __m256 b = _mm256_broadcast_ss(x + t);
      acc[t][0] = _mm256_fmadd_ps(w0, b, acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(w1, b, acc[t][1]);
    }
  }
#pragma GCC unroll 6
  for (int t = 0; t < kTile; ++t) {
    if (t >= count) continue;
    float* y = a.y + (t0 + t) * a.y_stride + base;
    if (valid >= 16) {
      _mm256_storeu_ps(y, acc[t][0]);
      _mm256_storeu_ps(y + 8, acc[t][1]);
    } else {
      float tmp[16];
      _mm256_storeu_ps(tmp, acc[t][0]);
      _mm256_storeu_ps(tmp + 8, acc[t][1]);
      for (int j = 0; j < valid; ++j) y[j] = tmp[j];
    }
  }
}

}  // namespace

void GemmPanelAvx2(const GemmPanelArgs& a) {
  for (int half = 0; half < 2 && half * 16 < a.valid; ++half) {
    for (int64_t t = 0; t < a.n; t += kTile) {
      Tile(a, static_cast<const float*>(a.x) + t * a.k, t, static_cast<int>(std::min<int64_t>(kTile, a.n - t)), half);
    }
  }
}

bool GemmAvx2Built() { return true; }

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
void GemmPanelAvx2(const GemmPanelArgs& a) { GemmPanelScalar(a); }
bool GemmAvx2Built() { return false; }
}  // namespace engram::kernels::internal

#endif
