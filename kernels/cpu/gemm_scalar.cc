// The reference GEMM panel: the same products and order as the SIMD paths (f32, k ascending).
#include "kernels/internal/gemm_impl.h"

#include <algorithm>
#include <cmath>

#include "kernels/gemm.h"

namespace engram::kernels::internal {

void PackTokens(const float* x, size_t x_stride, int64_t n, int64_t k, int tile, float* out) {
  const float* rows[16];  // tiles are at most 12 rows
  for (int64_t j = 0; j * tile < n; ++j) {
    const int count = static_cast<int>(std::min<int64_t>(tile, n - j * tile));
    for (int t = 0; t < count; ++t) rows[t] = x + (j * tile + t) * x_stride;
    float* o = out + j * k * tile;
    if (count == tile) {  // written in order, read from `tile` rows at once
      for (int64_t i = 0; i < k; ++i) {
        for (int t = 0; t < tile; ++t) o[i * tile + t] = rows[t][i];
      }
    } else {
      for (int64_t i = 0; i < k; ++i) {
        for (int t = 0; t < tile; ++t) o[i * tile + t] = t < count ? rows[t][i] : 0.0f;
      }
    }
  }
}

void GemmPanelScalar(const GemmPanelArgs& a) {
  for (int64_t t = 0; t < a.n; ++t) {
    const float* xt = a.x + t * a.k;
    for (int j = 0; j < a.valid; ++j) {
      float acc = a.bias != nullptr ? a.bias[j] : 0.0f;
      for (int64_t i = 0; i < a.k; ++i) acc = std::fma(xt[i], a.panel[i * kGemmPanelRows + j], acc);
      a.y[t * a.y_stride + j] = acc;
    }
  }
}

}  // namespace engram::kernels::internal
