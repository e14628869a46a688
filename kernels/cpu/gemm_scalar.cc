// The reference GEMM panels and the token packing (shared by every path).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/gemm.h"
#include "kernels/internal/gemm_impl.h"

namespace engram::kernels::internal {

uint16_t Bf16FromFloat(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float FloatFromBf16(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void PackTokens(const float* x, size_t x_stride, int64_t n, int64_t k, int tile, float* out) {
  const float* rows[16];  // tiles are at most 12 rows
  for (int64_t j = 0; j * tile < n; ++j) {
    const int count = static_cast<int>(std::min<int64_t>(tile, n - j * tile));
    for (int t = 0; t < count; ++t) rows[t] = x + (j * tile + t) * x_stride;
    float* o = out + j * k * tile;
    if (count == tile) {  // written in order, read from `tile` rows at once
      for (int64_t i = 0; i < k; ++i) {
        for (int t = 0; t < tile; ++t) o[i * tile + t] = rows[t][i];
      }
    } else {
      for (int64_t i = 0; i < k; ++i) {
        for (int t = 0; t < tile; ++t) o[i * tile + t] = t < count ? rows[t][i] : 0.0f;
      }
    }
  }
}

void PackTokensBf16(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp, int tile,
                    uint16_t* out) {
  const int64_t k2 = kp / 2;
  for (int64_t j = 0; j * tile < n; ++j) {
    const int count = static_cast<int>(std::min<int64_t>(tile, n - j * tile));
    uint16_t* o = out + j * k2 * tile * 2;
    for (int64_t i2 = 0; i2 < k2; ++i2) {
      for (int t = 0; t < tile; ++t) {
        const float* row = x + (j * tile + t) * x_stride;
        for (int e = 0; e < 2; ++e) {
          const int64_t i = 2 * i2 + e;
          o[(i2 * tile + t) * 2 + e] = t < count && i < k ? Bf16FromFloat(row[i]) : 0;
        }
      }
    }
  }
}

void PackTokensBf16Rows(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp,
                        uint16_t* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * x_stride;
    uint16_t* o = out + t * kp;
    for (int64_t i = 0; i < k; ++i) o[i] = Bf16FromFloat(row[i]);
    for (int64_t i = k; i < kp; ++i) o[i] = 0;
  }
}

void GemmPanelScalar(const GemmPanelArgs& a) {
  const auto* panel = static_cast<const float*>(a.panel);
  const auto* x = static_cast<const float*>(a.x);
  for (int64_t t = 0; t < a.n; ++t) {
    const float* xt = x + t * a.k;
    for (int j = 0; j < a.valid; ++j) {
      float acc = a.bias != nullptr ? a.bias[j] : 0.0f;
      for (int64_t i = 0; i < a.k; ++i) acc = std::fma(xt[i], panel[i * kGemmPanelRows + j], acc);
      a.y[t * a.y_stride + j] = acc;
    }
  }
}

void GemmPanelScalarBf16(const GemmPanelArgs& a) {
  const auto* panel = static_cast<const uint16_t*>(a.panel);
  const auto* x = static_cast<const uint16_t*>(a.x);
  const int64_t k2 = (a.k + 1) / 2;
  for (int64_t t = 0; t < a.n; ++t) {
    const uint16_t* xt = x + t * k2 * 2;
    for (int j = 0; j < a.valid; ++j) {
      float acc = a.bias != nullptr ? a.bias[j] : 0.0f;
      for (int64_t i2 = 0; i2 < k2; ++i2) {  // odd element first, as vdpbf16ps adds them
        const uint16_t* w = panel + (i2 * kGemmPanelRows + j) * 2;
        acc += FloatFromBf16(xt[2 * i2 + 1]) * FloatFromBf16(w[1]);
        acc += FloatFromBf16(xt[2 * i2]) * FloatFromBf16(w[0]);
      }
      a.y[t * a.y_stride + j] = acc;
    }
  }
}

}  // namespace engram::kernels::internal
