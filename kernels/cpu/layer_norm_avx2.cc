// AVX2 LayerNorm: two passes over the row in 8-lane partial sums.
#include "kernels/internal/layer_norm_impl.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <cmath>

#include "kernels/internal/avx2_helpers.inc"

namespace engram::kernels::internal {

bool LayerNormAvx2(float* x, const float* residual, const float* weight, const float* bias,
                   int64_t n, float eps) {
  if (n % 8 != 0 || n == 0) return false;
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (residual != nullptr) {
      v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
      _mm256_storeu_ps(x + i, v);
    }
    sum = _mm256_add_ps(sum, v);
  }
  const __m256 mean = _mm256_set1_ps(HorizontalSum(sum) / static_cast<float>(n));
  __m256 sq = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mean);
    sq = _mm256_fmadd_ps(d, d, sq);
  }
  const __m256 inv =
      _mm256_set1_ps(1.0f / std::sqrt(HorizontalSum(sq) / static_cast<float>(n) + eps));
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean), inv);
    _mm256_storeu_ps(x + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(weight + i),
                                            _mm256_loadu_ps(bias + i)));
  }
  return true;
}

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
bool LayerNormAvx2(float*, const float*, const float*, const float*, int64_t, float) {
  return false;
}
}  // namespace engram::kernels::internal

#endif
