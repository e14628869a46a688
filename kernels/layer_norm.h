// LayerNorm of one row, the normalisation of BERT-family encoders:
//   x[i] = (x[i] + residual[i] - mean) / sqrt(var + eps) * weight[i] + bias[i]
// with mean and (biased) variance over the row's n elements after the residual is added.
// `residual` may be null. Sums are in f32 as PyTorch computes them; the paths differ only in
// summation order.
#pragma once

#include <cstdint>

#include "kernels/quant.h"

namespace engram::kernels {

void LayerNorm(float* x, const float* residual, const float* weight, const float* bias,
               int64_t n, float eps);
void LayerNormWith(KernelIsa isa, float* x, const float* residual, const float* weight,
                   const float* bias, int64_t n, float eps);

}  // namespace engram::kernels
