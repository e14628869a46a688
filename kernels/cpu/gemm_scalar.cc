// The reference GEMM panel: the same products and order as the SIMD paths (f32, k ascending).
#include "kernels/internal/gemm_impl.h"

#include <cmath>

#include "kernels/gemm.h"

namespace engram::kernels::internal {

void GemmPanelScalar(const GemmPanelArgs& a) {
  for (int64_t t = 0; t < a.n; ++t) {
    const float* xt = a.x + t * a.x_stride;
    for (int j = 0; j < a.valid; ++j) {
      float acc = a.bias != nullptr ? a.bias[j] : 0.0f;
      for (int64_t i = 0; i < a.k; ++i) acc = std::fma(xt[i], a.panel[i * kGemmPanelRows + j], acc);
      a.y[t * a.y_stride + j] = acc;
    }
  }
}

}  // namespace engram::kernels::internal
