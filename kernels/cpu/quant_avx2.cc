// AVX2 + FMA + F16C versions of the kernels in kernels/quant.h. This file alone is compiled with
// -mavx2 -mfma -mf16c (kernels/CMakeLists.txt); quant_dispatch.cc calls it only on CPUs that have
// those extensions. Everything here has internal linkage, and it calls no inline function from a
// shared header (only intrinsics and memcpy): an AVX2-compiled copy of such a function could be
// picked by the linker for code that runs on any CPU.
//
// Helpers are always_inline and fixed-count loops are unrolled so that the small arrays of vectors
// they pass around stay in registers; at -O2 GCC otherwise keeps them on the stack (measured: the
// dot products ran about 2x slower).
//
// Unpacking: quantized bytes are widened 8 at a time straight into int32 lanes (vpmovzxbd from
// memory, one shuffle per 8 elements); nibbles and high bits are then split with shifts and masks,
// which run on the ALU ports, not the single shuffle port.
//
// Dequantization uses the scalar reference's exact operations (q * d, then + m or - min; no FMA),
// so its results are bit-identical to quant_scalar.cc. The dot products sum q * x per block
// (or sub-block) and scale that sum once: sum_i (d q_i + m) x_i = d sum_i q_i x_i + m sum_i x_i.
#include "kernels/internal/quant_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <cstring>

#include "kernels/internal/avx2_helpers.inc"
namespace engram::kernels::internal {

namespace {

// 8 bytes at p, zero- or sign-extended into 8 int32 lanes.
[[gnu::always_inline]] inline __m256i LoadU8x8(const void* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p)));
}
[[gnu::always_inline]] inline __m256i LoadI8x8(const void* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p)));
}

[[gnu::always_inline]] inline __m256 ToFloat(__m256i v) { return _mm256_cvtepi32_ps(v); }

// sum over 32 elements of q[i] * x[i] (q as 4 vectors of 8), left as 8 lane sums. Two chains so
// the FMAs of one block overlap.
[[gnu::always_inline]] inline __m256 Dot32(const __m256 q[4], const float* x) {
  __m256 s0 = _mm256_mul_ps(q[0], _mm256_loadu_ps(x));
  __m256 s1 = _mm256_mul_ps(q[1], _mm256_loadu_ps(x + 8));
  s0 = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(x + 16), s0);
  s1 = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(x + 24), s1);
  return _mm256_add_ps(s0, s1);
}

// sum of x[0..31], left as 8 lane sums.
[[gnu::always_inline]] inline __m256 Sum32(const float* x) {
  return _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                       _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
}

// ---- 32-element blocks ----------------------------------------------------------------------

// The 16 bytes of nibbles of a Q4/Q5 block as element groups 0-7, 8-15 (low nibbles) and 16-23,
// 24-31 (high nibbles).
[[gnu::always_inline]] inline void UnpackNibbles(const uint8_t* qs, __m256i q[4]) {
  const __m256i mask = _mm256_set1_epi32(0x0f);
  const __m256i a = LoadU8x8(qs);
  const __m256i b = LoadU8x8(qs + 8);
  q[0] = _mm256_and_si256(a, mask);
  q[1] = _mm256_and_si256(b, mask);
  q[2] = _mm256_srli_epi32(a, 4);
  q[3] = _mm256_srli_epi32(b, 4);
}

// Q5: bit i of the little-endian u32 `qh` becomes bit 4 of element i.
[[gnu::always_inline]] inline void AddFifthBits(const uint8_t* qh, __m256i q[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  const __m256i all = _mm256_set1_epi32(static_cast<int>(bits));
  const __m256i one = _mm256_set1_epi32(1);
  __m256i shift = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) {
    const __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(all, shift), one);
    q[g] = _mm256_or_si256(q[g], _mm256_slli_epi32(bit, 4));
    shift = _mm256_add_epi32(shift, _mm256_set1_epi32(8));
  }
}

[[gnu::always_inline]] inline void ToFloatMinus(const __m256i q[4], int offset, __m256 out[4]) {
  const __m256i off = _mm256_set1_epi32(offset);
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) out[g] = ToFloat(_mm256_sub_epi32(q[g], off));
}

[[gnu::always_inline]] inline void Unpack(const BlockQ4_0& b, __m256 out[4]) {
  __m256i q[4];
  UnpackNibbles(b.qs, q);
  ToFloatMinus(q, 8, out);
}

[[gnu::always_inline]] inline void Unpack(const BlockQ4_1& b, __m256 out[4]) {
  __m256i q[4];
  UnpackNibbles(b.qs, q);
  ToFloatMinus(q, 0, out);
}

[[gnu::always_inline]] inline void Unpack(const BlockQ5_0& b, __m256 out[4]) {
  __m256i q[4];
  UnpackNibbles(b.qs, q);
  AddFifthBits(b.qh, q);
  ToFloatMinus(q, 16, out);
}

[[gnu::always_inline]] inline void Unpack(const BlockQ5_1& b, __m256 out[4]) {
  __m256i q[4];
  UnpackNibbles(b.qs, q);
  AddFifthBits(b.qh, q);
  ToFloatMinus(q, 0, out);
}

[[gnu::always_inline]] inline void Unpack(const BlockQ8_0& b, __m256 out[4]) {
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) out[g] = ToFloat(LoadI8x8(b.qs + 8 * g));
}

// Blocks of 32 whose elements are d * q (kHasMin false) or d * q + m (true).
template <typename Block, bool kHasMin>
void Dequant32(const void* src, float* dst, int64_t n) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / 32; ++i, dst += 32) {
    const Block& b = blocks[i];
    __m256 q[4];
    Unpack(b, q);
    const __m256 d = _mm256_set1_ps(LoadHalf(b.d));
#pragma GCC unroll 8
    for (int g = 0; g < 4; ++g) {
      __m256 y = _mm256_mul_ps(q[g], d);
      if constexpr (kHasMin) y = _mm256_add_ps(y, _mm256_set1_ps(LoadHalf(b.m)));
      _mm256_storeu_ps(dst + 8 * g, y);
    }
  }
}

template <typename Block, bool kHasMin>
float DotRow32(const void* row, const float* x, int64_t n) {
  const Block* blocks = static_cast<const Block*>(row);
  __m256 acc = _mm256_setzero_ps();
  __m256 acc_min = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    const Block& b = blocks[i];
    __m256 q[4];
    Unpack(b, q);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(LoadHalf(b.d)), Dot32(q, x), acc);
    if constexpr (kHasMin) {
      acc_min = _mm256_fmadd_ps(_mm256_set1_ps(LoadHalf(b.m)), Sum32(x), acc_min);
    }
  }
  return HorizontalSum(_mm256_add_ps(acc, acc_min));
}

// ---- K-quants ---------------------------------------------------------------------------------

// get_scale_min_k4 for all 8 sub-blocks, times the super-block scales: the per-sub-block factors
// exactly as the scalar reference computes them (d * sc, dmin * m).
[[gnu::always_inline]] inline void ScalesK4(const uint8_t* q, float d, float dmin, float scale[8],
                                            float min[8]) {
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    if (j < 4) {
      sc = q[j] & 63;
      m = q[j + 4] & 63;
    } else {
      sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
      m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
    scale[j] = d * static_cast<float>(sc);
    min[j] = dmin * static_cast<float>(m);
  }
}

// The 64 elements of sub-blocks 2j and 2j+1 of a Q4_K/Q5_K super-block as unsigned ints:
// lo[] = low nibbles of qs[0..31] (sub-block 2j), hi[] = high nibbles (2j+1).
[[gnu::always_inline]] inline void UnpackK4Pair(const uint8_t* qs, __m256i lo[4], __m256i hi[4]) {
  const __m256i mask = _mm256_set1_epi32(0x0f);
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) {
    const __m256i v = LoadU8x8(qs + 8 * g);
    lo[g] = _mm256_and_si256(v, mask);
    hi[g] = _mm256_srli_epi32(v, 4);
  }
}

// Q5_K: the 5-bit values of all 256 elements, computed with 32-byte operations into q[] (element
// order). Widening them from memory afterwards is cheaper than carrying qh in registers: with it
// live across the four sub-block pairs, the dot product runs out of registers.
[[gnu::always_inline]] inline void UnpackQ5K(const BlockQ5_K& b, uint8_t q[kQK]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * j));
    // 16-bit shifts are fine: every value is masked to its byte before it moves across one.
    const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one);
    const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, low4), _mm256_slli_epi16(h0, 4));
    const __m256i hi =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), _mm256_slli_epi16(h1, 4));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 64 * j), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 64 * j + 32), hi);
  }
}

// Sub-blocks 2j and 2j+1 from the output of UnpackQ5K (q points at element 64j).
[[gnu::always_inline]] inline void LoadPair(const uint8_t* q, __m256i lo[4], __m256i hi[4]) {
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    lo[g] = LoadU8x8(q + 8 * g);
    hi[g] = LoadU8x8(q + 32 + 8 * g);
  }
}

// y = scale * q - min for one 32-element sub-block.
[[gnu::always_inline]] inline void StoreScaledMinus(const __m256i q[4], float scale, float min,
                                                    float* y) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256 m = _mm256_set1_ps(min);
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) {
    _mm256_storeu_ps(y + 8 * g, _mm256_sub_ps(_mm256_mul_ps(s, ToFloat(q[g])), m));
  }
}

// Adds scale * sum q x to acc and min * sum x to acc_min for one 32-element sub-block.
[[gnu::always_inline]] inline void AccumulateScaledMinus(const __m256i q[4], float scale, float min,
                                                         const float* x, __m256* acc,
                                                         __m256* acc_min) {
  __m256 qf[4];
#pragma GCC unroll 8
  for (int g = 0; g < 4; ++g) qf[g] = ToFloat(q[g]);
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), Dot32(qf, x), *acc);
  *acc_min = _mm256_fmadd_ps(_mm256_set1_ps(min), Sum32(x), *acc_min);
}

// Q4_K (kFiveBit false) and Q5_K (true) share everything but the fifth bit.
template <typename Block, bool kFiveBit>
void DequantK4(const void* src, float* dst, int64_t n) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const Block& b = blocks[i];
    float scale[8], min[8];
    ScalesK4(b.scales, LoadHalf(b.d), LoadHalf(b.dmin), scale, min);
    uint8_t q5[kFiveBit ? kQK : 1];
    if constexpr (kFiveBit) UnpackQ5K(b, q5);
#pragma GCC unroll 8
    for (int j = 0; j < 4; ++j) {
      __m256i lo[4], hi[4];
      if constexpr (kFiveBit) {
        LoadPair(q5 + 64 * j, lo, hi);
      } else {
        UnpackK4Pair(b.qs + 32 * j, lo, hi);
      }
      StoreScaledMinus(lo, scale[2 * j], min[2 * j], dst + 64 * j);
      StoreScaledMinus(hi, scale[2 * j + 1], min[2 * j + 1], dst + 64 * j + 32);
    }
  }
}

template <typename Block, bool kFiveBit>
float DotRowK4(const void* row, const float* x, int64_t n) {
  const Block* blocks = static_cast<const Block*>(row);
  // Separate accumulators for even and odd sub-blocks: two FMA chains instead of one.
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 acc_min[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const Block& b = blocks[i];
    float scale[8], min[8];
    ScalesK4(b.scales, LoadHalf(b.d), LoadHalf(b.dmin), scale, min);
    uint8_t q5[kFiveBit ? kQK : 1];
    if constexpr (kFiveBit) UnpackQ5K(b, q5);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m256i lo[4], hi[4];
      if constexpr (kFiveBit) {
        LoadPair(q5 + 64 * j, lo, hi);
      } else {
        UnpackK4Pair(b.qs + 32 * j, lo, hi);
      }
      AccumulateScaledMinus(lo, scale[2 * j], min[2 * j], x + 64 * j, &acc[0], &acc_min[0]);
      AccumulateScaledMinus(hi, scale[2 * j + 1], min[2 * j + 1], x + 64 * j + 32, &acc[1],
                            &acc_min[1]);
    }
  }
  return HorizontalSum(
      _mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc_min[0], acc_min[1])));
}

// Q6_K: d * scales[s] for the 16 sub-blocks of 16, computed as the reference does.
[[gnu::always_inline]] inline void ScalesQ6K(const BlockQ6_K& b, float scale[16]) {
  const float d = LoadHalf(b.d);
#pragma GCC unroll 16
  for (int s = 0; s < 16; ++s) scale[s] = d * static_cast<float>(b.scales[s]);
}

// Q6_K, one half of 128 elements (ql[64], qh[32]), lane group k (0..3): q[r] = q - 32 for
// elements 32r + 8k .. 32r + 8k + 7 of the half (r = quarter 0..3).
[[gnu::always_inline]] inline void UnpackQ6KGroup(const uint8_t* ql, const uint8_t* qh, int k,
                                                  __m256 q[4]) {
  const __m256i low4 = _mm256_set1_epi32(0x0f);
  const __m256i high2 = _mm256_set1_epi32(0x30);
  const __m256i offset = _mm256_set1_epi32(32);
  const __m256i a = LoadU8x8(ql + 8 * k);
  const __m256i b = LoadU8x8(ql + 32 + 8 * k);
  const __m256i h = LoadU8x8(qh + 8 * k);
  const __m256i v[4] = {
      _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_and_si256(_mm256_slli_epi32(h, 4), high2)),
      _mm256_or_si256(_mm256_and_si256(b, low4), _mm256_and_si256(_mm256_slli_epi32(h, 2), high2)),
      _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(h, high2)),
      _mm256_or_si256(_mm256_srli_epi32(b, 4), _mm256_and_si256(_mm256_srli_epi32(h, 2), high2)),
  };
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) q[r] = ToFloat(_mm256_sub_epi32(v[r], offset));
}

void DequantQ6K(const void* src, float* dst, int64_t n) {
  const BlockQ6_K* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const BlockQ6_K& b = blocks[i];
    float scale[16];
    ScalesQ6K(b, scale);
    for (int half = 0; half < 2; ++half) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        __m256 q[4];
        UnpackQ6KGroup(b.ql + 64 * half, b.qh + 32 * half, k, q);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
          const __m256 s = _mm256_set1_ps(scale[8 * half + 2 * r + k / 2]);
          _mm256_storeu_ps(dst + 128 * half + 32 * r + 8 * k, _mm256_mul_ps(s, q[r]));
        }
      }
    }
  }
}

float DotRowQ6K(const void* row, const float* x, int64_t n) {
  const BlockQ6_K* blocks = static_cast<const BlockQ6_K*>(row);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const BlockQ6_K& b = blocks[i];
    float scale[16];
    ScalesQ6K(b, scale);
    for (int half = 0; half < 2; ++half) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        __m256 q[4];
        UnpackQ6KGroup(b.ql + 64 * half, b.qh + 32 * half, k, q);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {  // one chain per quarter
          const __m256 w = _mm256_mul_ps(q[r], _mm256_set1_ps(scale[8 * half + 2 * r + k / 2]));
          acc[r] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 128 * half + 32 * r + 8 * k), acc[r]);
        }
      }
    }
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

// ---- plain rows ---------------------------------------------------------------------------

// 8 f16 or bf16 values at p as floats.
[[gnu::always_inline]] inline __m256 LoadF16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
[[gnu::always_inline]] inline __m256 LoadBf16x8(const uint8_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

[[gnu::always_inline]] inline float LoadBf16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

[[gnu::always_inline]] inline float LoadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, sizeof(f));
  return f;
}

// A plain row with elements of kBytes bytes: LoadVec reads 8, LoadOne reads 1.
template <int kBytes, __m256 (*LoadVec)(const uint8_t*), float (*LoadOne)(const uint8_t*)>
void DequantPlain(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, LoadVec(p + kBytes * i));
  for (; i < n; ++i) dst[i] = LoadOne(p + kBytes * i);
}

template <int kBytes, __m256 (*LoadVec)(const uint8_t*), float (*LoadOne)(const uint8_t*)>
float DotPlain(const void* row, const float* x, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(row);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 8
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(LoadVec(p + kBytes * (i + 8 * k)), _mm256_loadu_ps(x + i + 8 * k),
                               acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    acc[0] = _mm256_fmadd_ps(LoadVec(p + kBytes * i), _mm256_loadu_ps(x + i), acc[0]);
  }
  float sum =
      HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += LoadOne(p + kBytes * i) * x[i];
  return sum;
}

[[gnu::always_inline]] inline __m256 LoadF32x8(const uint8_t* p) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
}

[[gnu::always_inline]] inline float LoadF16(const uint8_t* p) { return LoadHalf(p); }

}  // namespace

bool Avx2KernelsBuilt() { return true; }

void DequantizeRowAvx2(TensorType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::kF16:
      return DequantPlain<2, LoadF16x8, LoadF16>(src, dst, n);
    case TensorType::kBF16:
      return DequantPlain<2, LoadBf16x8, LoadBf16>(src, dst, n);
    case TensorType::kQ4_0:
      return Dequant32<BlockQ4_0, false>(src, dst, n);
    case TensorType::kQ4_1:
      return Dequant32<BlockQ4_1, true>(src, dst, n);
    case TensorType::kQ5_0:
      return Dequant32<BlockQ5_0, false>(src, dst, n);
    case TensorType::kQ5_1:
      return Dequant32<BlockQ5_1, true>(src, dst, n);
    case TensorType::kQ8_0:
      return Dequant32<BlockQ8_0, false>(src, dst, n);
    case TensorType::kQ4_K:
      return DequantK4<BlockQ4_K, false>(src, dst, n);
    case TensorType::kQ5_K:
      return DequantK4<BlockQ5_K, true>(src, dst, n);
    case TensorType::kQ6_K:
      return DequantQ6K(src, dst, n);
    default:
      return;  // unsupported: the dispatcher has refused it already
  }
}

float DotRowAvx2(TensorType type, const void* row, const float* x, int64_t n) {
  switch (type) {
    case TensorType::kF32:
      return DotPlain<4, LoadF32x8, LoadF32>(row, x, n);
    case TensorType::kF16:
      return DotPlain<2, LoadF16x8, LoadF16>(row, x, n);
    case TensorType::kBF16:
      return DotPlain<2, LoadBf16x8, LoadBf16>(row, x, n);
    case TensorType::kQ4_0:
      return DotRow32<BlockQ4_0, false>(row, x, n);
    case TensorType::kQ4_1:
      return DotRow32<BlockQ4_1, true>(row, x, n);
    case TensorType::kQ5_0:
      return DotRow32<BlockQ5_0, false>(row, x, n);
    case TensorType::kQ5_1:
      return DotRow32<BlockQ5_1, true>(row, x, n);
    case TensorType::kQ8_0:
      return DotRow32<BlockQ8_0, false>(row, x, n);
    case TensorType::kQ4_K:
      return DotRowK4<BlockQ4_K, false>(row, x, n);
    case TensorType::kQ5_K:
      return DotRowK4<BlockQ5_K, true>(row, x, n);
    case TensorType::kQ6_K:
      return DotRowQ6K(row, x, n);
    default:
      return 0.0f;  // unsupported: the dispatcher has refused it already
  }
}

}  // namespace engram::kernels::internal

#else  // built without AVX2/FMA/F16C code generation: stand-ins the dispatcher never calls

namespace engram::kernels::internal {

bool Avx2KernelsBuilt() { return false; }

void DequantizeRowAvx2(TensorType type, const void* src, float* dst, int64_t n) {
  DequantizeRowScalar(type, src, dst, n);
}

float DotRowAvx2(TensorType type, const void* row, const float* x, int64_t n) {
  return DotRowScalar(type, row, x, n);
}

}  // namespace engram::kernels::internal

#endif
