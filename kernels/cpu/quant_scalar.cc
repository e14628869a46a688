// The scalar reference for kernels/quant.h: one obvious loop per GGML formula
// (ggml-quants.c, dequantize_row_*), against which the SIMD paths are tested. Built with
// -ffp-contract=off so that `a * b + c` is never fused: the AVX2 dequantization reproduces these
// roundings exactly.
#include <cstring>

#include "kernels/half.h"
#include "kernels/internal/quant_blocks.h"

namespace engram::kernels::internal {

namespace {

float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return Fp16ToFp32(h);
}

void DequantBlock(const BlockQ4_0& b, float* y) {
  const float d = LoadF16(b.d);
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((b.qs[j] & 0x0f) - 8) * d;
    y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
  }
}

void DequantBlock(const BlockQ4_1& b, float* y) {
  const float d = LoadF16(b.d);
  const float m = LoadF16(b.m);
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(b.qs[j] & 0x0f) * d + m;
    y[j + 16] = static_cast<float>(b.qs[j] >> 4) * d + m;
  }
}

void DequantBlock(const BlockQ5_0& b, float* y) {
  const float d = LoadF16(b.d);
  uint32_t qh;
  std::memcpy(&qh, b.qh, sizeof(qh));
  for (int j = 0; j < 16; ++j) {
    const int lo = (b.qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
    const int hi = (b.qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>(lo - 16) * d;
    y[j + 16] = static_cast<float>(hi - 16) * d;
  }
}

void DequantBlock(const BlockQ5_1& b, float* y) {
  const float d = LoadF16(b.d);
  const float m = LoadF16(b.m);
  uint32_t qh;
  std::memcpy(&qh, b.qh, sizeof(qh));
  for (int j = 0; j < 16; ++j) {
    const int lo = (b.qs[j] & 0x0f) | static_cast<int>((qh >> j) & 1u) << 4;
    const int hi = (b.qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = static_cast<float>(lo) * d + m;
    y[j + 16] = static_cast<float>(hi) * d + m;
  }
}

void DequantBlock(const BlockQ8_0& b, float* y) {
  const float d = LoadF16(b.d);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

// get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7). Sub-blocks 0-3 sit in the low
// 6 bits of bytes 0-3 (scales) and 4-7 (mins); 4-7 take their low 4 bits from the nibbles of
// bytes 8-11 and their top 2 bits from the top bits of bytes 0-3 and 4-7.
void ScaleMinK4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void DequantBlock(const BlockQ4_K& b, float* y) {
  const float d = LoadF16(b.d);
  const float dmin = LoadF16(b.dmin);
  for (int j = 0; j < 4; ++j) {
    int sc0, m0, sc1, m1;
    ScaleMinK4(2 * j, b.scales, &sc0, &m0);
    ScaleMinK4(2 * j + 1, b.scales, &sc1, &m1);
    const float d0 = d * static_cast<float>(sc0), min0 = dmin * static_cast<float>(m0);
    const float d1 = d * static_cast<float>(sc1), min1 = dmin * static_cast<float>(m1);
    const uint8_t* q = b.qs + 32 * j;
    for (int l = 0; l < 32; ++l) y[64 * j + l] = d0 * static_cast<float>(q[l] & 0x0f) - min0;
    for (int l = 0; l < 32; ++l) y[64 * j + 32 + l] = d1 * static_cast<float>(q[l] >> 4) - min1;
  }
}

void DequantBlock(const BlockQ5_K& b, float* y) {
  const float d = LoadF16(b.d);
  const float dmin = LoadF16(b.dmin);
  for (int j = 0; j < 4; ++j) {
    int sc0, m0, sc1, m1;
    ScaleMinK4(2 * j, b.scales, &sc0, &m0);
    ScaleMinK4(2 * j + 1, b.scales, &sc1, &m1);
    const float d0 = d * static_cast<float>(sc0), min0 = dmin * static_cast<float>(m0);
    const float d1 = d * static_cast<float>(sc1), min1 = dmin * static_cast<float>(m1);
    const uint8_t* q = b.qs + 32 * j;
    for (int l = 0; l < 32; ++l) {
      const int q0 = (q[l] & 0x0f) | ((b.qh[l] >> (2 * j)) & 1) << 4;
      const int q1 = (q[l] >> 4) | ((b.qh[l] >> (2 * j + 1)) & 1) << 4;
      y[64 * j + l] = d0 * static_cast<float>(q0) - min0;
      y[64 * j + 32 + l] = d1 * static_cast<float>(q1) - min1;
    }
  }
}

void DequantBlock(const BlockQ6_K& b, float* y) {
  const float d = LoadF16(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int s = l / 16;
      const int q0 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
      const int q1 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
      const int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      const int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      out[l] = d * static_cast<float>(sc[s + 0]) * static_cast<float>(q0);
      out[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q1);
      out[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q2);
      out[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q3);
    }
  }
}

template <typename Block, int kElems>
void DequantBlocks(const void* src, float* dst, int64_t n) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / kElems; ++i) DequantBlock(blocks[i], dst + i * kElems);
}

template <typename Block, int kElems>
float DotBlocks(const void* row, const float* x, int64_t n) {
  const Block* blocks = static_cast<const Block*>(row);
  float w[kElems];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kElems; ++i, x += kElems) {
    DequantBlock(blocks[i], w);
    float block_sum = 0.0f;  // per-block partial sums keep the f32 rounding error small
    for (int j = 0; j < kElems; ++j) block_sum += w[j] * x[j];
    sum += block_sum;
  }
  return sum;
}

// Plain 16-bit float rows: element i is a uint16_t at byte 2i (memcpy: no alignment assumed).
template <float (*kConvert)(uint16_t)>
void Convert16(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, sizeof(h));
    dst[i] = kConvert(h);
  }
}

// f32, f16 and bf16 rows summed in chunks of 256, like the K-quant blocks.
template <typename Load>
float DotPlain(const float* x, int64_t n, Load load) {
  constexpr int64_t kChunk = 256;
  float sum = 0.0f;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t end = start + kChunk < n ? start + kChunk : n;
    float chunk_sum = 0.0f;
    for (int64_t i = start; i < end; ++i) chunk_sum += load(i) * x[i];
    sum += chunk_sum;
  }
  return sum;
}

}  // namespace

void DequantizeRowScalar(TensorType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::kF16:
      return Convert16<Fp16ToFp32>(src, dst, n);
    case TensorType::kBF16:
      return Convert16<Bf16ToFp32>(src, dst, n);
    case TensorType::kQ4_0:
      return DequantBlocks<BlockQ4_0, 32>(src, dst, n);
    case TensorType::kQ4_1:
      return DequantBlocks<BlockQ4_1, 32>(src, dst, n);
    case TensorType::kQ5_0:
      return DequantBlocks<BlockQ5_0, 32>(src, dst, n);
    case TensorType::kQ5_1:
      return DequantBlocks<BlockQ5_1, 32>(src, dst, n);
    case TensorType::kQ8_0:
      return DequantBlocks<BlockQ8_0, 32>(src, dst, n);
    case TensorType::kQ4_K:
      return DequantBlocks<BlockQ4_K, kQK>(src, dst, n);
    case TensorType::kQ5_K:
      return DequantBlocks<BlockQ5_K, kQK>(src, dst, n);
    case TensorType::kQ6_K:
      return DequantBlocks<BlockQ6_K, kQK>(src, dst, n);
    default:
      return;  // unsupported: the dispatcher has refused it already
  }
}

float DotRowScalar(TensorType type, const void* row, const float* x, int64_t n) {
  const uint8_t* bytes = static_cast<const uint8_t*>(row);
  switch (type) {
    case TensorType::kF32:
      return DotPlain(x, n, [bytes](int64_t i) {
        float v;
        std::memcpy(&v, bytes + 4 * i, sizeof(v));
        return v;
      });
    case TensorType::kF16:
      return DotPlain(x, n, [bytes](int64_t i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, sizeof(h));
        return Fp16ToFp32(h);
      });
    case TensorType::kBF16:
      return DotPlain(x, n, [bytes](int64_t i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, sizeof(h));
        return Bf16ToFp32(h);
      });
    case TensorType::kQ4_0:
      return DotBlocks<BlockQ4_0, 32>(row, x, n);
    case TensorType::kQ4_1:
      return DotBlocks<BlockQ4_1, 32>(row, x, n);
    case TensorType::kQ5_0:
      return DotBlocks<BlockQ5_0, 32>(row, x, n);
    case TensorType::kQ5_1:
      return DotBlocks<BlockQ5_1, 32>(row, x, n);
    case TensorType::kQ8_0:
      return DotBlocks<BlockQ8_0, 32>(row, x, n);
    case TensorType::kQ4_K:
      return DotBlocks<BlockQ4_K, kQK>(row, x, n);
    case TensorType::kQ5_K:
      return DotBlocks<BlockQ5_K, kQK>(row, x, n);
    case TensorType::kQ6_K:
      return DotBlocks<BlockQ6_K, kQK>(row, x, n);
    default:
      return 0.0f;  // unsupported: the dispatcher has refused it already
  }
}

}  // namespace engram::kernels::internal
