// Private to kernels/cpu/matmul_*.cc: the q8 activation blocks and the per-ISA integer kernels
// that matmul_dispatch.cc chooses between. Same rules as quant_blocks.h: no inline functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace engram::kernels::internal {

// A prepared activation row of nb 32-element blocks, x = d[b] * q[b][i], q in -127..127:
//   int8_t q[nb][32] | float d[nb] | float s[nb] (only for q4_1 weights: s = d * sum(q))
// d and s are rounded to f16 and back, as GGML stores them in block_q8_0/block_q8_1, so the
// products are the ones llama.cpp computes; they are kept as floats so the kernels do not
// convert them once per weight row.
struct ActRow {
  const int8_t* q;
  const float* d;
  const float* s;
};

// A prepared activation row for q4_K / q6_K weights is nb of GGML's block_q8_K, 256 elements
// each: x = d * qs[i], with d a full float and qs in -127..127 (quantize_row_q8_K_ref's
// rounding: the scale is set by the signed value of largest magnitude, which maps to -127), and
// bsums[j] = the sum of qs[16j .. 16j+15].
struct BlockQ8K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8K) == 292);

// One integer kernel: weight rows [r0, r1) × activation rows [0, n) of nb blocks each.
struct IntMatMulArgs {
  const uint8_t* w;
  size_t w_row_bytes;
  const uint8_t* a;
  size_t a_row_bytes;
  int64_t nb;  // blocks per row: 32-element q8_0/q8_1 blocks, or 256-element q8_K blocks
  int64_t r0, r1, n;
  float* y;
  size_t y_stride;
};

// Float activations (n rows of k floats, contiguous) against f32/f16 weight rows [r0, r1).
struct FloatMatMulArgs {
  const uint8_t* w;
  size_t w_row_bytes;
  const float* x;
  int64_t k;
  int64_t r0, r1, n;
  float* y;
  size_t y_stride;
};
// Returns false when the AVX2 path does not take these (other types, k not a multiple of 8).
bool FloatMatMulAvx2(TensorType weight_type, const FloatMatMulArgs& args);

// Returns false when the type has no integer kernel on that path.
bool IntMatMulScalar(TensorType weight_type, const IntMatMulArgs& args);
bool IntMatMulAvx2(TensorType weight_type, const IntMatMulArgs& args);

}  // namespace engram::kernels::internal
