// kernels/attention.h: GeluTanhGlu, Gemma's gated GELU with llama.cpp's f16 table.
#include <array>
#include <cmath>
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/half.h"

namespace engram::kernels {
namespace {

float GeluTanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoefA = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

// gelu_tanh of every f16 value, as f16 (128 KiB, built on first use).
const std::array<uint16_t, 1 << 16>& GeluTable() {
  static const auto* table = [] {
    auto* t = new std::array<uint16_t, 1 << 16>();
    for (uint32_t i = 0; i < t->size(); ++i) {
      (*t)[i] = Fp32ToFp16(GeluTanh(Fp16ToFp32(static_cast<uint16_t>(i))));
    }
    return t;
  }();
  return *table;
}

}  // namespace

void GeluTanhGlu(const float* gate, const float* up, float* out, int64_t n) {
  const std::array<uint16_t, 1 << 16>& table = GeluTable();
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    float g;
    if (x <= -10.0f) {
      g = 0.0f;
    } else if (x >= 10.0f) {
      g = x;
    } else {
      g = Fp16ToFp32(table[Fp32ToFp16(x)]);
    }
    out[i] = g * up[i];
  }
}

}  // namespace engram::kernels
