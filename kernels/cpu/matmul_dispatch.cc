// kernels/matmul.h: activation quantization (one implementation for every path, so the integer
// inputs are identical whichever kernel runs) and the choice of kernel.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/half.h"
#include "kernels/internal/matmul_impl.h"
#include "kernels/matmul.h"

namespace engram::kernels {
namespace {

constexpr int kBlock = 32;
constexpr int kSuperBlock = 256;

float RoundToHalf(float v) { return Fp16ToFp32(Fp32ToFp16(v)); }

// GGML's rounding: d = max|x| / 127, q = round-to-nearest-even(x / d); see ActRow for the layout.
void QuantizeRowQ8(const float* x, int64_t k, bool with_sums, uint8_t* out) {
  const int64_t nb = k / kBlock;
  auto* q = reinterpret_cast<int8_t*>(out);
  auto* d_out = reinterpret_cast<float*>(out + nb * kBlock);
  float* s_out = d_out + nb;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kBlock;
    float amax = 0.0f;
    for (int i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < kBlock; ++i) {
      const int v = static_cast<int>(std::nearbyint(xb[i] * id));
      q[b * kBlock + i] = static_cast<int8_t>(v);
      sum += v;
    }
    d_out[b] = RoundToHalf(d);
    if (with_sums) s_out[b] = RoundToHalf(d * static_cast<float>(sum));
  }
}

// GGML's quantize_row_q8_K_ref: per 256 elements, the signed value of largest magnitude `max`
// (the first one on ties) sets iscale = -127 / max; q = round-to-nearest-even(iscale * x),
// capped at 127; d = 1 / iscale as a float (not rounded to f16). An all-zero block has d = 0.
void QuantizeRowQ8K(const float* x, int64_t k, uint8_t* out) {
  auto* blocks = reinterpret_cast<internal::BlockQ8K*>(out);
  for (int64_t b = 0; b < k / kSuperBlock; ++b) {
    const float* xb = x + b * kSuperBlock;
    internal::BlockQ8K& y = blocks[b];
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < kSuperBlock; ++i) {
      const float ax = std::fabs(xb[i]);
      if (ax > amax) {
        amax = ax;
        max = xb[i];
      }
    }
    std::memset(y.bsums, 0, sizeof(y.bsums));
    if (amax == 0.0f) {
      y.d = 0.0f;
      std::memset(y.qs, 0, sizeof(y.qs));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int i = 0; i < kSuperBlock; ++i) {
      const int v = static_cast<int>(std::nearbyint(iscale * xb[i]));
      y.qs[i] = static_cast<int8_t>(std::min(127, v));
      y.bsums[i / 16] = static_cast<int16_t>(y.bsums[i / 16] + y.qs[i]);
    }
    y.d = 1.0f / iscale;
  }
}

// Elements per block of the activation type `act`.
int64_t ActBlock(TensorType act) { return act == TensorType::kQ8_K ? kSuperBlock : kBlock; }

}  // namespace

TensorType ActivationTypeFor(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
      return TensorType::kQ8_0;
    case TensorType::kQ4_1:
      return TensorType::kQ8_1;
    case TensorType::kQ4_K:
    case TensorType::kQ6_K:
      return TensorType::kQ8_K;
    default:
      return TensorType::kF32;
  }
}

size_t ActivationRowBytes(TensorType weight_type, int64_t k) {
  switch (ActivationTypeFor(weight_type)) {
    case TensorType::kQ8_0: return static_cast<size_t>(k / kBlock) * (kBlock + 4);
    case TensorType::kQ8_1: return static_cast<size_t>(k / kBlock) * (kBlock + 8);
    case TensorType::kQ8_K:
      return static_cast<size_t>(k / kSuperBlock) * sizeof(internal::BlockQ8K);
    default: return static_cast<size_t>(k) * sizeof(float);
  }
}

void PrepareActivations(TensorType weight_type, const float* x, int64_t n, int64_t k,
                        size_t x_stride, uint8_t* out) {
  const size_t row_bytes = ActivationRowBytes(weight_type, k);
  const TensorType act = ActivationTypeFor(weight_type);
  for (int64_t t = 0; t < n; ++t) {
    uint8_t* dst = out + t * row_bytes;
    const float* src = x + t * x_stride;
    if (act == TensorType::kQ8_0 || act == TensorType::kQ8_1) {
      QuantizeRowQ8(src, k, act == TensorType::kQ8_1, dst);
    } else if (act == TensorType::kQ8_K) {
      QuantizeRowQ8K(src, k, dst);
    } else {
      std::memcpy(dst, src, row_bytes);
    }
  }
}

void MatMulRowsWith(KernelIsa isa, TensorType weight_type, const void* w, size_t w_row_bytes,
                    int64_t k, const uint8_t* acts, int64_t n, int64_t row_begin,
                    int64_t row_end, float* y, size_t y_stride) {
  const TensorType act = ActivationTypeFor(weight_type);
  if (act != TensorType::kF32) {
    const internal::IntMatMulArgs args{static_cast<const uint8_t*>(w),
                                       w_row_bytes,
                                       acts,
                                       ActivationRowBytes(weight_type, k),
                                       k / ActBlock(act),
                                       row_begin,
                                       row_end,
                                       n,
                                       y,
                                       y_stride};
    const bool done = isa == KernelIsa::kAvx2 ? internal::IntMatMulAvx2(weight_type, args)
                                              : internal::IntMatMulScalar(weight_type, args);
    if (done) return;
    std::abort();  // ActivationTypeFor promised an integer kernel that is missing
  }
  const auto* base = static_cast<const uint8_t*>(w);
  const auto* x = reinterpret_cast<const float*>(acts);
  if (isa == KernelIsa::kAvx2 &&
      internal::FloatMatMulAvx2(weight_type, {base, w_row_bytes, x, k, row_begin, row_end, n, y,
                                              y_stride})) {
    return;
  }
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      y[t * y_stride + r] = DotRowWith(isa, weight_type, base + r * w_row_bytes, x + t * k, k);
    }
  }
}

void MatMulRows(TensorType weight_type, const void* w, size_t w_row_bytes, int64_t k,
                const uint8_t* acts, int64_t n, int64_t row_begin, int64_t row_end, float* y,
                size_t y_stride) {
  MatMulRowsWith(ActiveKernelIsa(), weight_type, w, w_row_bytes, k, acts, n, row_begin, row_end,
                 y, y_stride);
}

}  // namespace engram::kernels
