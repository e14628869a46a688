// ScaleAdd: y[i] = alpha * x[i] + y[i]. The smallest kernel with a CPU reference and a CUDA
// implementation; it proves the CUDA build, launch and copy path end to end, and is the template
// later kernels follow: a params struct of raw pointers, a CPU function, a CUDA function that
// returns NotSupported where it cannot run so the caller falls back to the CPU.
#pragma once

#include <cstddef>

#include "common/status.h"

namespace engram::kernels {

struct ScaleAddParams {
  const float* x = nullptr;  // [n], host memory
  float* y = nullptr;        // [n], host memory; updated in place; must not overlap x unless x == y
  size_t n = 0;
  float alpha = 1.0f;
};

// CPU reference; always available.
void ScaleAddCpu(const ScaleAddParams& p);

// Runs the same operation on GPU `device`: copies x and y to the device, launches, copies y back.
// Returns kNotSupported when engram was built without CUDA, kUnavailable when no GPU is visible
// or `device` does not exist, kResourceExhausted when device memory runs out. On error y is
// unchanged.
Status ScaleAddCuda(const ScaleAddParams& p, int device = 0);

}  // namespace engram::kernels
