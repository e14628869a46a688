// kernels/layer_norm.h: the scalar reference and the dispatch.
#include "kernels/layer_norm.h"

#include <cmath>

#include "kernels/internal/layer_norm_impl.h"

namespace engram::kernels {
namespace internal {

void LayerNormScalar(float* x, const float* residual, const float* weight, const float* bias,
                     int64_t n, float eps) {
  if (residual != nullptr) {
    for (int64_t i = 0; i < n; ++i) x[i] += residual[i];
  }
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(n);
  float sq = 0.0f;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = (x[i] - mean) * inv * weight[i] + bias[i];
}

}  // namespace internal

void LayerNormWith(KernelIsa isa, float* x, const float* residual, const float* weight,
                   const float* bias, int64_t n, float eps) {
  if (isa == KernelIsa::kAvx2 && internal::LayerNormAvx2(x, residual, weight, bias, n, eps)) return;
  internal::LayerNormScalar(x, residual, weight, bias, n, eps);
}

void LayerNorm(float* x, const float* residual, const float* weight, const float* bias,
               int64_t n, float eps) {
  LayerNormWith(ActiveKernelIsa(), x, residual, weight, bias, n, eps);
}

}  // namespace engram::kernels
