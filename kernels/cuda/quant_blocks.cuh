// Device-side dequantization of GGML weight rows, 32 elements ("a chunk") at a time: the one
// primitive the CUDA matmul and embedding kernels are built from. Private to kernels/cuda.
//
//   float w[32];
//   DequantChunk<TensorType::kQ4_K>(row, c, w);   // elements [32c, 32c + 32) of `row`
//
// Layouts and formulas are GGML's, exactly as kernels/cpu/quant_scalar.cc (block structs in
// kernels/internal/quant_blocks.h): every value equals kernels::DequantizeRow's bit for bit. The
// CPU reference is built with -ffp-contract=off, so the arithmetic here uses __fmul_rn /
// __fadd_rn / __fsub_rn, which nvcc never fuses into an FMA.
//
// Rows may start at any byte address (a q4_0 row is 18 * cols / 32 bytes). Multi-byte fields are
// read with the widest load their address allows, decided at run time per load: 16-byte loads
// when 16-aligned (f32/f16/bf16 rows and q4_K quants in GGUF data), else 4-, 2- or 1-byte loads.
//
// Supported: f32, f16, bf16, q4_0, q4_1, q5_0, q8_0, q4_K, q6_K (IsChunkType). K-quants keep
// 256-element super-blocks: chunk c is sub-range c % 8 of super-block c / 8.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/tensor_type.h"

namespace engram::kernels::cuda::internal {

// The types DequantChunk is specialised for (cuda::MatMulSupported).
constexpr bool IsChunkType(TensorType t) {
  return t == TensorType::kF32 || t == TensorType::kF16 || t == TensorType::kBF16 ||
         t == TensorType::kQ4_0 || t == TensorType::kQ4_1 || t == TensorType::kQ5_0 ||
         t == TensorType::kQ8_0 || t == TensorType::kQ4_K || t == TensorType::kQ6_K;
}

// Little-endian u32 at any address.
__device__ __forceinline__ uint32_t LoadU32(const uint8_t* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if ((a & 3) == 0) return *reinterpret_cast<const uint32_t*>(p);
  if ((a & 1) == 0) {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
    return static_cast<uint32_t>(h[0]) | static_cast<uint32_t>(h[1]) << 16;
  }
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// kWords little-endian u32 from 4 * kWords bytes at any address.
template <int kWords>
__device__ __forceinline__ void LoadWords(const uint8_t* p, uint32_t (&w)[kWords]) {
  static_assert(kWords % 4 == 0, "whole 16-byte vectors");
  if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
    const uint4* v = reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int i = 0; i < kWords / 4; ++i) {
      const uint4 q = v[i];
      w[4 * i] = q.x;
      w[4 * i + 1] = q.y;
      w[4 * i + 2] = q.z;
      w[4 * i + 3] = q.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < kWords; ++i) w[i] = LoadU32(p + 4 * i);
  }
}

__device__ __forceinline__ float HalfBitsToFloat(uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xffffu)));
}

// An f16 field (GGML block scales) at any address; exact.
__device__ __forceinline__ float LoadF16(const uint8_t* p) {
  return HalfBitsToFloat(static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8);
}

// Byte j (0..4*kWords-1) of a word array.
template <int kWords>
__device__ __forceinline__ uint32_t ByteOf(const uint32_t (&w)[kWords], int j) {
  return (w[j / 4] >> (8 * (j % 4))) & 0xffu;
}

// Elements [32 * chunk, 32 * chunk + 32) of `row` into out[0..31].
template <TensorType T>
__device__ __forceinline__ void DequantChunk(const uint8_t* row, int chunk, float (&out)[32]);

template <>
__device__ __forceinline__ void DequantChunk<TensorType::kF32>(const uint8_t* row, int chunk,
                                                               float (&out)[32]) {
  uint32_t w[32];
  LoadWords(row + 128 * static_cast<int64_t>(chunk), w);
#pragma unroll
  for (int j = 0; j < 32; ++j) out[j] = __uint_as_float(w[j]);
}

template <>
__device__ __forceinline__ void DequantChunk<TensorType::kF16>(const uint8_t* row, int chunk,
                                                               float (&out)[32]) {
  uint32_t w[16];
  LoadWords(row + 64 * static_cast<int64_t>(chunk), w);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    out[2 * j] = HalfBitsToFloat(w[j]);
    out[2 * j + 1] = HalfBitsToFloat(w[j] >> 16);
  }
}

template <>
__device__ __forceinline__ void DequantChunk<TensorType::kBF16>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  uint32_t w[16];
  LoadWords(row + 64 * static_cast<int64_t>(chunk), w);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    out[2 * j] = __uint_as_float(w[j] << 16);
    out[2 * j + 1] = __uint_as_float(w[j] & 0xffff0000u);
  }
}

// q4_0 (18 bytes: d, qs[16]): x = (q - 8) * d; qs[j] holds element j (low) and j + 16 (high).
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ4_0>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 18 * static_cast<int64_t>(chunk);
  const float d = LoadF16(b);
  uint32_t qs[4];
  LoadWords(b + 2, qs);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int q = static_cast<int>(ByteOf(qs, j));
    out[j] = __fmul_rn(static_cast<float>((q & 0x0f) - 8), d);
    out[j + 16] = __fmul_rn(static_cast<float>((q >> 4) - 8), d);
  }
}

// q4_1 (20 bytes: d, m, qs[16]): x = q * d + m.
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ4_1>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 20 * static_cast<int64_t>(chunk);
  const float d = LoadF16(b);
  const float m = LoadF16(b + 2);
  uint32_t qs[4];
  LoadWords(b + 4, qs);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int q = static_cast<int>(ByteOf(qs, j));
    out[j] = __fadd_rn(__fmul_rn(static_cast<float>(q & 0x0f), d), m);
    out[j + 16] = __fadd_rn(__fmul_rn(static_cast<float>(q >> 4), d), m);
  }
}

// q5_0 (22 bytes: d, qh[4], qs[16]): x = (q - 16) * d, bit 4 of element j is bit j of qh.
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ5_0>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 22 * static_cast<int64_t>(chunk);
  const float d = LoadF16(b);
  const uint32_t qh = LoadU32(b + 2);
  uint32_t qs[4];
  LoadWords(b + 6, qs);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int q = static_cast<int>(ByteOf(qs, j));
    const int lo = (q & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
    const int hi = (q >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    out[j] = __fmul_rn(static_cast<float>(lo - 16), d);
    out[j + 16] = __fmul_rn(static_cast<float>(hi - 16), d);
  }
}

// q8_0 (34 bytes: d, int8 qs[32]): x = q * d.
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ8_0>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 34 * static_cast<int64_t>(chunk);
  const float d = LoadF16(b);
  uint32_t qs[8];
  LoadWords(b + 2, qs);
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int q = static_cast<int8_t>(static_cast<uint8_t>(ByteOf(qs, j)));
    out[j] = __fmul_rn(static_cast<float>(q), d);
  }
}

// q4_K (144 bytes: d, dmin, scales[12], qs[128]). Sub-block s of 32: x = d*sc[s] * q - dmin*m[s],
// the 6-bit sc/m unpacked as get_scale_min_k4; sub-blocks 2j, 2j+1 are the low/high nibbles of
// qs[32j .. 32j+31].
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ4_K>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 144 * static_cast<int64_t>(chunk / 8);
  const int s = chunk % 8;
  const float d = LoadF16(b);
  const float dmin = LoadF16(b + 2);
  const uint8_t* scales = b + 4;
  int sc, m;
  if (s < 4) {
    sc = scales[s] & 63;
    m = scales[s + 4] & 63;
  } else {
    sc = (scales[s + 4] & 0x0f) | ((scales[s - 4] >> 6) << 4);
    m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
  }
  const float ds = __fmul_rn(d, static_cast<float>(sc));
  const float ms = __fmul_rn(dmin, static_cast<float>(m));
  uint32_t qs[8];
  LoadWords(b + 16 + 32 * (s / 2), qs);
  const int shift = 4 * (s % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = static_cast<int>((ByteOf(qs, l) >> shift) & 0x0fu);
    out[l] = __fsub_rn(__fmul_rn(ds, static_cast<float>(q)), ms);
  }
}

// q6_K (210 bytes: ql[128], qh[64], int8 scales[16], d). Two halves of 128; in half h, element
// l of quarter u (u = 0..3) is ql[64h + l + 32(u&1)] nibble u>>1, with bits 2u..2u+1 of
// qh[32h + l] on top; x = d * scales[8h + l/16 + 2u] * (q - 32).
template <>
__device__ __forceinline__ void DequantChunk<TensorType::kQ6_K>(const uint8_t* row, int chunk,
                                                                float (&out)[32]) {
  const uint8_t* b = row + 210 * static_cast<int64_t>(chunk / 8);
  const int s = chunk % 8;
  const int h = s / 4, u = s % 4;
  const float d = LoadF16(b + 208);
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * u);
  const float ds0 = __fmul_rn(d, static_cast<float>(scales[0]));  // l < 16
  const float ds1 = __fmul_rn(d, static_cast<float>(scales[1]));  // l >= 16
  uint32_t ql[8], qh[8];
  LoadWords(b + 64 * h + 32 * (u & 1), ql);
  LoadWords(b + 128 + 32 * h, qh);
  const int ql_shift = 4 * (u >> 1), qh_shift = 2 * u;
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = static_cast<int>(((ByteOf(ql, l) >> ql_shift) & 0x0fu) |
                                   ((ByteOf(qh, l) >> qh_shift) & 3u) << 4) -
                  32;
    out[l] = __fmul_rn(l < 16 ? ds0 : ds1, static_cast<float>(q));
  }
}

}  // namespace engram::kernels::cuda::internal
