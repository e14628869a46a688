// Private to kernels/cpu/matmul_*.cc: the q8 activation blocks and the per-ISA integer kernels
// that matmul_dispatch.cc chooses between. Same rules as quant_blocks.h: no inline functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace engram::kernels::internal {

// Activations for q4_1 weights: x = d * q, and s = d * sum(q) (both f16), q in -127..127.
struct BlockQ8_1 {
  uint8_t d[2];
  uint8_t s[2];
  int8_t qs[32];
};

// One integer kernel: weight rows [r0, r1) × activation rows [0, n) of nb blocks each.
struct IntMatMulArgs {
  const uint8_t* w;
  size_t w_row_bytes;
  const uint8_t* a;
  size_t a_row_bytes;
  int64_t nb;
  int64_t r0, r1, n;
  float* y;
  size_t y_stride;
};

// Returns false when the type has no integer kernel on that path.
bool IntMatMulScalar(TensorType weight_type, const IntMatMulArgs& args);
bool IntMatMulAvx2(TensorType weight_type, const IntMatMulArgs& args);

}  // namespace engram::kernels::internal
