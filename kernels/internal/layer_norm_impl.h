// Private to kernels/cpu/layer_norm*.cc.
#pragma once

#include <cstdint>

namespace engram::kernels::internal {

void LayerNormScalar(float* x, const float* residual, const float* weight, const float* bias,
                     int64_t n, float eps);
// False when not built for AVX2 or n is not a multiple of 8 (the caller then runs the scalar path).
bool LayerNormAvx2(float* x, const float* residual, const float* weight, const float* bias,
                   int64_t n, float eps);

}  // namespace engram::kernels::internal
