// Private to kernels/cpu/gemm_*.cc: one packed panel (32 outputs) against a block of tokens, per
// ISA; gemm_dispatch.cc does the cache blocking and picks the ISA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engram::kernels::internal {

struct GemmPanelArgs {
  const float* panel;  // k × 32 floats
  int64_t k;
  const float* x;  // n rows of k floats, row t at x + t * x_stride
  size_t x_stride;
  int64_t n;
  float* y;  // y[t * y_stride + j] for the panel's j in [0, valid)
  size_t y_stride;
  int valid;          // outputs of this panel that exist (32 except in the last panel)
  const float* bias;  // `valid` floats, or null
};

void GemmPanelScalar(const GemmPanelArgs& a);
void GemmPanelAvx2(const GemmPanelArgs& a);
void GemmPanelAvx512(const GemmPanelArgs& a);
bool GemmAvx2Built();
bool GemmAvx512Built();

}  // namespace engram::kernels::internal
