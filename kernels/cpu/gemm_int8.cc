// The int8 GEMM's shared parts: weight rows quantized into panels, tokens quantized as they are
// packed, and the reference panel. Every path reads the same integers, so only the panel kernel
// differs between them, and every path gives the same bits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/internal/gemm_impl.h"

namespace engram::kernels::internal {
namespace {

constexpr int kZeroPoint = 128;  // tokens are stored as q + 128 in [1, 255]

// q[i] = round(x[i] · 127 / max|x|) in [-127, 127]; returns the scale max|x| / 127 (0 for a
// zero row, whose q are all 0).
float QuantizeSymmetric(const float* x, int64_t k, int32_t* q) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < k; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float inv = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    q[i] = std::clamp(static_cast<int32_t>(std::nearbyint(x[i] * inv)), -127, 127);
  }
  return max_abs / 127.0f;
}

}  // namespace

void PackPanelRowInt8(const float* row, int64_t cols, int64_t kq, int j, uint8_t* panel) {
  std::vector<int32_t> q(static_cast<size_t>(cols));
  const float scale = QuantizeSymmetric(row, cols, q.data());
  int32_t sum = 0;
  auto* w = reinterpret_cast<int8_t*>(panel);
  for (int64_t i = 0; i < cols; ++i) {
    w[((i / 4) * kGemmPanelRows + j) * 4 + i % 4] = static_cast<int8_t>(q[i]);
    sum += q[i];
  }
  auto* scales = reinterpret_cast<float*>(panel + kq * kGemmPanelRows);
  auto* zero_terms = reinterpret_cast<int32_t*>(scales + kGemmPanelRows);  // 128 · Σ q
  scales[j] = scale;
  zero_terms[j] = sum * kZeroPoint;
}

void PackTokensInt8(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kq, int tile,
                    uint32_t* out) {
  const int64_t k4 = kq / 4;
  std::vector<int32_t> q(static_cast<size_t>(k));
  std::vector<uint8_t> bytes(static_cast<size_t>(kq));
  for (int64_t j = 0; j * tile < n; ++j) {
    uint32_t* o = out + j * tile * (k4 + 1);
    for (int t = 0; t < tile; ++t) {
      float scale = 0.0f;
      std::fill(bytes.begin(), bytes.end(), static_cast<uint8_t>(kZeroPoint));
      if (j * tile + t < n) {
        scale = QuantizeSymmetric(x + (j * tile + t) * x_stride, k, q.data());
        for (int64_t i = 0; i < k; ++i) bytes[i] = static_cast<uint8_t>(q[i] + kZeroPoint);
      }
      for (int64_t i4 = 0; i4 < k4; ++i4) std::memcpy(o + i4 * tile + t, &bytes[i4 * 4], 4);
      std::memcpy(o + k4 * tile + t, &scale, 4);
    }
  }
}

void GemmPanelScalarInt8(const GemmPanelArgs& a) {
  const auto* w = static_cast<const int8_t*>(a.panel);
  const auto* scales = reinterpret_cast<const float*>(w + a.k * kGemmPanelRows);
  const auto* zero_terms = reinterpret_cast<const int32_t*>(scales + kGemmPanelRows);
  const int64_t k4 = a.k / 4;
  for (int64_t t = 0; t < a.n; ++t) {
    const auto* xt = reinterpret_cast<const uint8_t*>(static_cast<const uint32_t*>(a.x) +
                                                      t * (k4 + 1));
    float token_scale;
    std::memcpy(&token_scale, xt + k4 * 4, 4);
    for (int j = 0; j < a.valid; ++j) {
      int32_t acc = 0;
      for (int64_t i = 0; i < a.k; ++i) {
        acc += static_cast<int32_t>(xt[i]) * w[((i / 4) * kGemmPanelRows + j) * 4 + i % 4];
      }
      const float v = static_cast<float>(acc - zero_terms[j]) * scales[j];
      a.y[t * a.y_stride + j] = std::fma(v, token_scale, a.bias != nullptr ? a.bias[j] : 0.0f);
    }
  }
}

}  // namespace engram::kernels::internal
