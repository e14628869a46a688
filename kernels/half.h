// Scalar conversions between float and the two 16-bit float formats GGUF tensors use:
//   f16  = IEEE 754 binary16 (ggml_fp16_t): 1 sign, 5 exponent, 10 mantissa bits;
//   bf16 = bfloat16 (ggml_bf16_t): the upper 16 bits of a binary32.
// Pure bit manipulation: the results do not depend on the FPU's rounding mode or on
// flush-to-zero settings, and match x86's F16C instructions and ggml's reference conversions
// (except NaN payload bits, which the standards leave open; a NaN always stays a quiet NaN).
//
// For whole rows use DequantizeRow (kernels/quant.h), which has SIMD paths.
#pragma once

#include <bit>
#include <cstdint>

namespace engram::kernels {

// Exact: every f16 value, subnormals included, is representable as a float. Infinities keep
// their sign; a NaN keeps its payload and comes out quiet (as vcvtph2ps does).
inline float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits = 0;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13) | (mantissa != 0 ? 0x00400000u : 0u);
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal f16 (mantissa * 2^-24) is a normal float: shift the leading one into bit 10.
    const int shift = std::countl_zero(mantissa) - 21;
    mantissa <<= shift;
    bits = sign | static_cast<uint32_t>(127 - 14 - shift) << 23 | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// Round to nearest, ties to even. Magnitudes from 65520 up become infinity; those below 2^-14
// become f16 subnormals (or zero below 2^-25, with 2^-25 itself rounding to even, i.e. zero).
inline uint16_t Fp32ToFp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) {  // NaN: keep the top payload bits, force quiet
    return sign | 0x7e00u | static_cast<uint16_t>((a >> 13) & 0x3ffu);
  }
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // 65520 and up (and inf) round to inf
  if (a >= 0x38800000u) {                       // normal f16: rebias, then round 13 bits away
    const uint32_t rebiased = a - (static_cast<uint32_t>(127 - 15) << 23);
    return sign | static_cast<uint16_t>((rebiased + 0xfffu + ((rebiased >> 13) & 1u)) >> 13);
  }
  // Subnormal or zero: the result counts units of 2^-24, i.e. significand >> (126 - exponent).
  const int exponent = static_cast<int>(a >> 23);
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  const uint32_t significand = (a & 0x7fffffu) | 0x800000u;
  const int shift = 126 - exponent;  // 14..24
  uint32_t q = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry into the smallest normal: fine
  return sign | static_cast<uint16_t>(q);
}

// Exact.
inline float Bf16ToFp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

// Round to nearest, ties to even, as ggml_compute_fp32_to_bf16: subnormals are kept (not
// flushed), large finite values may round to infinity, NaN stays NaN (forced quiet).
inline uint16_t Fp32ToBf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace engram::kernels
