// Private to kernels/cpu/quant_*.cc: GGML's block layouts (ggml-common.h) for the supported
// quantized types, and the per-ISA entry points quant_dispatch.cc chooses between.
//
// Blocks are declared with byte arrays only (f16 fields as uint8_t[2]), so they have alignment 1
// and a row may start at any address, e.g. inside a mapped file. Read f16 fields with memcpy.
//
// This header must stay free of inline functions: quant_avx2.cc is compiled with -mavx2, and an
// inline function it instantiated could be picked by the linker for code running on any CPU.
#pragma once

#include <cstdint>

#include "kernels/tensor_type.h"

namespace engram::kernels::internal {

constexpr int kQK = 256;  // QK_K: elements per K-quant super-block

// x = d * (q - 8), q in 0..15. qs[j] holds element j (low nibble) and j + 16 (high nibble).
struct BlockQ4_0 {
  uint8_t d[2];
  uint8_t qs[16];
};

// x = d * q + m, q in 0..15; nibbles as Q4_0.
struct BlockQ4_1 {
  uint8_t d[2];
  uint8_t m[2];
  uint8_t qs[16];
};

// x = d * (q - 16), q in 0..31: low 4 bits as Q4_0, bit 4 of element j is bit j of qh
// (little-endian u32).
struct BlockQ5_0 {
  uint8_t d[2];
  uint8_t qh[4];
  uint8_t qs[16];
};

// x = d * q + m, q in 0..31; bits as Q5_0.
struct BlockQ5_1 {
  uint8_t d[2];
  uint8_t m[2];
  uint8_t qh[4];
  uint8_t qs[16];
};

// x = d * q, q in -128..127.
struct BlockQ8_0 {
  uint8_t d[2];
  int8_t qs[32];
};

// 8 sub-blocks of 32: x = d * sc[s] * q - dmin * m[s], q in 0..15, with 6-bit sc/m packed in
// `scales` (get_scale_min_k4). Sub-blocks 2j and 2j+1 are the low and high nibbles of
// qs[32j .. 32j+31].
struct BlockQ4_K {
  uint8_t d[2];
  uint8_t dmin[2];
  uint8_t scales[12];
  uint8_t qs[kQK / 2];
};

// As Q4_K with q in 0..31: bit 4 of element l of sub-block s is bit s of qh[l].
struct BlockQ5_K {
  uint8_t d[2];
  uint8_t dmin[2];
  uint8_t scales[12];
  uint8_t qh[kQK / 8];
  uint8_t qs[kQK / 2];
};

// 16 sub-blocks of 16: x = d * scales[s] * (q - 32), q in 0..63 (low 4 bits in ql, high 2 in qh).
// Each half of 128 elements uses ql[64], qh[32], scales[8]; element l (0..31) of its four
// 32-element quarters takes ql[l] low, ql[l+32] low, ql[l] high, ql[l+32] high nibble, and
// bits 0-1, 2-3, 4-5, 6-7 of qh[l].
struct BlockQ6_K {
  uint8_t ql[kQK / 2];
  uint8_t qh[kQK / 4];
  int8_t scales[kQK / 16];
  uint8_t d[2];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Per-ISA entry points; same contract as DequantizeRow / DotRow in kernels/quant.h, with the
// preconditions already checked by the dispatcher.
void DequantizeRowScalar(TensorType type, const void* src, float* dst, int64_t n);
float DotRowScalar(TensorType type, const void* row, const float* x, int64_t n);

// False when quant_avx2.cc was built without AVX2/FMA/F16C code generation (a non-x86 target):
// then the two functions below are stand-ins that must not be called.
bool Avx2KernelsBuilt();
void DequantizeRowAvx2(TensorType type, const void* src, float* dst, int64_t n);
float DotRowAvx2(TensorType type, const void* row, const float* x, int64_t n);

}  // namespace engram::kernels::internal
