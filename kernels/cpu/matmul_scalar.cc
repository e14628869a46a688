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

// sum_i w[i] * a[i] over one block, with the weight's integer values as the format defines, and
// the block's contribution to the dot product.
float BlockDot(const BlockQ4_0& w, const int8_t* a, float da, float) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += ((w.qs[j] & 0x0f) - 8) * a[j];
    sum += ((w.qs[j] >> 4) - 8) * a[j + 16];
  }
  return Half(w.d) * da * static_cast<float>(sum);
}

float BlockDot(const BlockQ4_1& w, const int8_t* a, float da, float sa) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += (w.qs[j] & 0x0f) * a[j];
    sum += (w.qs[j] >> 4) * a[j + 16];
  }
  return Half(w.d) * da * static_cast<float>(sum) + Half(w.m) * sa;
}

float BlockDot(const BlockQ8_0& w, const int8_t* a, float da, float) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += w.qs[j] * a[j];
  return Half(w.d) * da * static_cast<float>(sum);
}

template <typename WBlock>
void Run(const IntMatMulArgs& args, bool with_sums) {
  for (int64_t t = 0; t < args.n; ++t) {
    const uint8_t* base = args.a + t * args.a_row_bytes;
    const auto* q = reinterpret_cast<const int8_t*>(base);
    const auto* d = reinterpret_cast<const float*>(base + args.nb * 32);
    const float* s = d + args.nb;
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const WBlock*>(args.w + r * args.w_row_bytes);
      float acc = 0.0f;
      for (int64_t b = 0; b < args.nb; ++b) {
        acc += BlockDot(w[b], q + b * 32, d[b], with_sums ? s[b] : 0.0f);
      }
      args.y[t * args.y_stride + r] = acc;
    }
  }
}

}  // namespace

bool IntMatMulScalar(TensorType weight_type, const IntMatMulArgs& args) {
  switch (weight_type) {
    case TensorType::kQ4_0: Run<BlockQ4_0>(args, false); return true;
    case TensorType::kQ4_1: Run<BlockQ4_1>(args, true); return true;
    case TensorType::kQ8_0: Run<BlockQ8_0>(args, false); return true;
    default: return false;
  }
}

}  // namespace engram::kernels::internal
