// Dequantization and dot products for GGML tensor rows (kernels/tensor_type.h): the two
// primitives every matmul over a GGUF weight is built from.
//
//   std::vector<float> w(n);
//   DequantizeRow(TensorType::kQ4_K, row_bytes, w.data(), n);   // expand a row to floats
//   float y = DotRow(TensorType::kQ4_K, row_bytes, x.data(), n);  // sum_i w[i] * x[i]
//
// Supported types (TensorTypeInfo::supported): f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1,
// q4_K, q5_K, q6_K, with GGML's block layouts and dequantization formulas (ggml-quants.c).
//
// Each function has a portable scalar reference and an AVX2+FMA+F16C version; the plain entry
// points pick one once per process (ActiveKernelIsa). DequantizeRow gives the same bits on every
// path, equal to ggml's dequantize_row_* and gguf-py (tests/kernels/quant_golden_test.cc).
// DotRow paths differ only in rounding (summation order, and the block scale applied to a block's
// sum rather than to each element); both accumulate in f32, per-block partial sums first. The
// measured error is below 2e-7 * sum_i |w[i] * x[i]| for rows of up to 16384 elements.
//
// Preconditions (shared by every function below): `type` is supported; `n` >= 0 is a multiple
// of the type's block size; the quantized buffer holds TensorRowBytes(type, n) bytes, at any
// alignment; the float buffers hold `n` floats and do not overlap the quantized one. Breaking one
// of the first two (or calling an unavailable ISA) aborts with a message; buffer sizes cannot be
// checked. Callers validate untrusted shapes with TensorRowBytes and TensorTypeInfo::supported.
//
// Thread safety: all functions are pure and may run concurrently. They never allocate.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/tensor_type.h"

namespace engram::kernels {

// dst[i] = the i-th element of the row `src`, for i < n.
void DequantizeRow(TensorType type, const void* src, float* dst, int64_t n);

// sum_{i<n} w[i] * x[i], w being the dequantized row `row`; computed block by block in
// registers, without materializing w. Returns 0 for n == 0.
float DotRow(TensorType type, const void* row, const float* x, int64_t n);

// The instruction-set variants of the kernels.
enum class KernelIsa {
  kScalar,  // portable C++; the reference the others are tested against
  kAvx2,    // x86-64 with AVX2, FMA and F16C (Haswell, Zen and later)
};

// "scalar" or "avx2".
std::string_view KernelIsaName(KernelIsa isa);

// Whether `isa` was compiled into this binary and the CPU runs it. kScalar is always available.
bool KernelIsaAvailable(KernelIsa isa);

// The variant DequantizeRow and DotRow use, chosen on first call: kAvx2 when available, else
// kScalar. Setting the environment variable ENGRAM_KERNEL_ISA=scalar before the first call
// forces kScalar (for debugging and benchmarks); other values are ignored.
KernelIsa ActiveKernelIsa();

// The same operations on an explicit variant, for tests and benchmarks that compare paths.
// Additional precondition: KernelIsaAvailable(isa).
void DequantizeRowWith(KernelIsa isa, TensorType type, const void* src, float* dst, int64_t n);
float DotRowWith(KernelIsa isa, TensorType type, const void* row, const float* x, int64_t n);

}  // namespace engram::kernels
