// Matrix products of quantized weights with activations: Y = X · Wᵀ, the shape of every linear
// layer in a transformer (W is [rows][k] in its GGUF type, X is [n][k] float, Y is [n][rows]).
//
//   std::vector<uint8_t> acts(n * ActivationRowBytes(w_type, k));
//   PrepareActivations(w_type, x, n, k, k, acts.data());      // once per input
//   MatMulRows(w_type, w, w_row_bytes, k, acts.data(), n,     // any row range: threads split
//              row_begin, row_end, y, y_stride);              // the rows between them
//
// For q4_0, q4_1, q5_0 and q8_0 weights the activations are quantized to 8 bits per 32-element
// block (q8_0, or q8_1 which also stores d·Σq so q4_1's offset costs one multiply per block); for
// q4_K and q6_K to q8_K (256-element blocks with a float scale and 16-element sums, which pay for
// q4_K's minimums). The dot products run on integers, as GGML does: the activation types GGML's
// vec_dot_type names, the same rounding llama.cpp applies, and 4-8x less arithmetic than
// dequantizing. Every other type keeps float activations and uses DotRow.
//
// Single-threaded; callers parallelise over rows. Rows may start at any byte address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {

// The representation activations take for products with `weight_type` weights: kQ8_0, kQ8_1,
// kQ8_K or kF32.
TensorType ActivationTypeFor(TensorType weight_type);

// Bytes of one prepared activation row of k elements (k must be a multiple of the weight type's
// block size). Rows of kQ8_K are GGML's block_q8_K (292 bytes per 256 elements, 4-byte aligned
// fields): keep `out` below 4-byte aligned, as std::vector's storage is.
size_t ActivationRowBytes(TensorType weight_type, int64_t k);

// Converts n rows of k floats (row i at x + i * x_stride) into the representation above, packed
// row after row into `out`, which must hold n * ActivationRowBytes(weight_type, k) bytes.
void PrepareActivations(TensorType weight_type, const float* x, int64_t n, int64_t k,
                        size_t x_stride, uint8_t* out);

// y[t * y_stride + r] = dot(weight row r, activation row t) for r in [row_begin, row_end) and
// t in [0, n). `acts` comes from PrepareActivations with the same weight_type and k.
void MatMulRows(TensorType weight_type, const void* w, size_t w_row_bytes, int64_t k,
                const uint8_t* acts, int64_t n, int64_t row_begin, int64_t row_end, float* y,
                size_t y_stride);
void MatMulRowsWith(KernelIsa isa, TensorType weight_type, const void* w, size_t w_row_bytes,
                    int64_t k, const uint8_t* acts, int64_t n, int64_t row_begin,
                    int64_t row_end, float* y, size_t y_stride);

}  // namespace engram::kernels
