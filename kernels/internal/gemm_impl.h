// Private to kernels/cpu/gemm_*.cc: one packed panel (32 outputs) against a block of tokens, per
// ISA; gemm_dispatch.cc does the cache blocking and picks the ISA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engram::kernels::internal {

// Tokens packed in tiles of `tile` rows, transposed: tile j holds k × tile floats, element
// [i][t] = x[(j * tile + t)][i], zero past the last token. One pointer then reaches every
// broadcast of a tile (the row-per-pointer form runs out of registers).
void PackTokens(const float* x, size_t x_stride, int64_t n, int64_t k, int tile, float* out);

struct GemmPanelArgs {
  const float* panel;  // k × 32 floats
  int64_t k;
  const float* x;  // n tokens packed by PackTokens with the kernel's tile (see below)
  int64_t n;
  float* y;  // y[t * y_stride + j] for the panel's j in [0, valid)
  size_t y_stride;
  int valid;          // outputs of this panel that exist (32 except in the last panel)
  const float* bias;  // `valid` floats, or null
};

void GemmPanelScalar(const GemmPanelArgs& a);  // tile 1 (x row-major, stride k)
void GemmPanelAvx2(const GemmPanelArgs& a);    // tile 6
void GemmPanelAvx512(const GemmPanelArgs& a);  // tile 12
bool GemmAvx2Built();
bool GemmAvx512Built();

}  // namespace engram::kernels::internal
