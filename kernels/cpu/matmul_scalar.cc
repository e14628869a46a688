// Portable integer kernels of kernels/matmul.h: the reference the SIMD paths are tested against.
#include <cstring>

#include "kernels/half.h"
#include "kernels/internal/matmul_impl.h"
#include "kernels/internal/quant_blocks.h"

namespace engram::kernels::internal {
namespace {

float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return Fp16ToFp32(h);
}

// sum_i q_w[i] * q_a[i] over one block, with the weight's integer values as the format defines.
int DotQ4_0(const BlockQ4_0& w, const BlockQ8_0& a) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += ((w.qs[j] & 0x0f) - 8) * a.qs[j];
    sum += ((w.qs[j] >> 4) - 8) * a.qs[j + 16];
  }
  return sum;
}

int DotQ4_1(const BlockQ4_1& w, const BlockQ8_1& a) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += (w.qs[j] & 0x0f) * a.qs[j];
    sum += (w.qs[j] >> 4) * a.qs[j + 16];
  }
  return sum;
}

int DotQ8_0(const BlockQ8_0& w, const BlockQ8_0& a) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += w.qs[j] * a.qs[j];
  return sum;
}

template <typename WBlock, typename ABlock, typename BlockDot>
void Run(const IntMatMulArgs& args, BlockDot block_dot) {
  for (int64_t t = 0; t < args.n; ++t) {
    const auto* a = reinterpret_cast<const ABlock*>(args.a + t * args.a_row_bytes);
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const WBlock*>(args.w + r * args.w_row_bytes);
      float acc = 0.0f;
      for (int64_t b = 0; b < args.nb; ++b) acc += block_dot(w[b], a[b]);
      args.y[t * args.y_stride + r] = acc;
    }
  }
}

}  // namespace

bool IntMatMulScalar(TensorType weight_type, const IntMatMulArgs& args) {
  switch (weight_type) {
    case TensorType::kQ4_0:
      Run<BlockQ4_0, BlockQ8_0>(args, [](const BlockQ4_0& w, const BlockQ8_0& a) {
        return Half(w.d) * Half(a.d) * static_cast<float>(DotQ4_0(w, a));
      });
      return true;
    case TensorType::kQ4_1:
      Run<BlockQ4_1, BlockQ8_1>(args, [](const BlockQ4_1& w, const BlockQ8_1& a) {
        return Half(w.d) * Half(a.d) * static_cast<float>(DotQ4_1(w, a)) + Half(w.m) * Half(a.s);
      });
      return true;
    case TensorType::kQ8_0:
      Run<BlockQ8_0, BlockQ8_0>(args, [](const BlockQ8_0& w, const BlockQ8_0& a) {
        return Half(w.d) * Half(a.d) * static_cast<float>(DotQ8_0(w, a));
      });
      return true;
    default:
      return false;
  }
}

}  // namespace engram::kernels::internal
