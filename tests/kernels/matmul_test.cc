// Matrix products on quantized weights: every path against a double-precision reference over
// the same (dequantized) operands, for all tile shapes and row ranges.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/half.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {
namespace {

// Random blocks of `type` whose f16 fields are sane scales.
std::vector<uint8_t> RandomRows(TensorType type, int64_t rows, int64_t k, std::mt19937& rng) {
  const size_t row_bytes = static_cast<size_t>(*TensorRowBytes(type, k));
  std::vector<uint8_t> w(row_bytes * rows);
  for (uint8_t& b : w) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  auto put_half = [&](size_t at, float v) {
    const uint16_t h = Fp32ToFp16(v);
    std::memcpy(&w[at], &h, 2);
  };
  const size_t block_bytes = FindTensorType(static_cast<uint32_t>(type))->block_bytes;
  if (type == TensorType::kF32) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (size_t i = 0; i < w.size() / 4; ++i) {
      const float v = n(rng);
      std::memcpy(&w[i * 4], &v, 4);
    }
  } else if (type == TensorType::kF16) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (size_t i = 0; i < w.size() / 2; ++i) put_half(i * 2, n(rng));
  } else if (type == TensorType::kQ4_0 || type == TensorType::kQ5_0 ||
             type == TensorType::kQ8_0) {
    for (size_t at = 0; at < w.size(); at += block_bytes) put_half(at, scale(rng));
  } else if (type == TensorType::kQ4_1) {
    for (size_t at = 0; at < w.size(); at += block_bytes) {
      put_half(at, scale(rng));
      put_half(at + 2, -8 * scale(rng));
    }
  } else if (type == TensorType::kQ4_K) {
    for (size_t at = 0; at < w.size(); at += block_bytes) {
      put_half(at, scale(rng) / 16);
      put_half(at + 2, scale(rng) / 16);
    }
  } else if (type == TensorType::kQ6_K) {
    for (size_t at = 0; at < w.size(); at += block_bytes) put_half(at + block_bytes - 2, scale(rng));
  }
  return w;
}

class MatMulTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(MatMulTest, EveryPathMatchesTheReference) {
  const TensorType type = GetParam();
  std::mt19937 rng(42);
  const int64_t rows = 37, k = 256;
  const std::vector<uint8_t> w = RandomRows(type, rows, k, rng);
  const size_t row_bytes = static_cast<size_t>(*TensorRowBytes(type, k));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {1, 2, 3, 4, 5, 8, 9}) {
    std::vector<float> x(n * k);
    for (float& v : x) v = normal(rng);
    // Reference: dequantized weights × the activations the kernel sees (after 8-bit rounding
    // for integer paths, which is part of the operation, as in GGML).
    std::vector<uint8_t> acts(n * ActivationRowBytes(type, k));
    PrepareActivations(type, x.data(), n, k, k, acts.data());
    std::vector<float> seen(x);
    if (ActivationTypeFor(type) == TensorType::kQ8_K) {  // block_q8_K: d | qs[256] | bsums
      const size_t arow = ActivationRowBytes(type, k);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < k; ++i) {
          const uint8_t* block = acts.data() + t * arow + (i / 256) * 292;
          float d;
          std::memcpy(&d, block, 4);
          seen[t * k + i] = d * static_cast<int8_t>(block[4 + i % 256]);
        }
      }
    } else if (ActivationTypeFor(type) != TensorType::kF32) {
      const size_t arow = ActivationRowBytes(type, k);
      for (int64_t t = 0; t < n; ++t) {
        const auto* q = reinterpret_cast<const int8_t*>(acts.data() + t * arow);
        const auto* d = reinterpret_cast<const float*>(acts.data() + t * arow + k);
        for (int64_t i = 0; i < k; ++i) seen[t * k + i] = d[i / 32] * q[i];
      }
    }
    std::vector<float> deq(k);
    for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
      if (!KernelIsaAvailable(isa)) continue;
      std::vector<float> y(n * rows, NAN);
      // Two row ranges, as two threads would split them.
      MatMulRowsWith(isa, type, w.data(), row_bytes, k, acts.data(), n, 0, 20, y.data(), rows);
      MatMulRowsWith(isa, type, w.data(), row_bytes, k, acts.data(), n, 20, rows, y.data(), rows);
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(type, w.data() + r * row_bytes, deq.data(), k);
        for (int64_t t = 0; t < n; ++t) {
          double expected = 0.0, magnitude = 0.0;
          for (int64_t i = 0; i < k; ++i) {
            expected += static_cast<double>(deq[i]) * seen[t * k + i];
            magnitude += std::fabs(static_cast<double>(deq[i]) * seen[t * k + i]);
          }
          // q4_1 also uses s = d·Σq rounded to f16 (as GGML's block_q8_1): its error bound.
          double s_rounding = 0.0;
          if (type == TensorType::kQ4_1) {
            const size_t arow = ActivationRowBytes(type, k);
            const auto* sums = reinterpret_cast<const float*>(acts.data() + t * arow + k) + k / 32;
            for (int64_t b = 0; b < k / 32; ++b) {
              uint16_t m;
              std::memcpy(&m, w.data() + r * row_bytes + b * 20 + 2, 2);
              s_rounding += std::fabs(Fp16ToFp32(m) * sums[b]) * (1.0 / 1024);
            }
          }
          EXPECT_NEAR(y[t * rows + r], expected, 1e-5 * magnitude + 1e-6 + s_rounding)
              << TensorTypeName(type) << " " << KernelIsaName(isa) << " n=" << n << " row " << r
              << " token " << t;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatMulTest,
                         ::testing::Values(TensorType::kF32, TensorType::kF16, TensorType::kQ4_0,
                                           TensorType::kQ4_1, TensorType::kQ5_0,
                                           TensorType::kQ8_0, TensorType::kQ4_K,
                                           TensorType::kQ6_K),
                         [](const auto& info) { return std::string(TensorTypeName(info.param)); });

TEST(MatMulActivationsTest, QuantizeAsGgmlDoes) {
  // max |x| maps to ±127; values round to nearest; the scale is rounded to f16.
  std::vector<float> x(32, 0.0f);
  x[0] = 2.54f;
  x[1] = -1.27f;
  x[2] = 0.01f;
  x[3] = 0.03f;
  ASSERT_EQ(ActivationRowBytes(TensorType::kQ4_1, 32), 32u + 4 + 4);  // q | d | s
  std::vector<uint8_t> acts(ActivationRowBytes(TensorType::kQ4_1, 32));
  PrepareActivations(TensorType::kQ4_1, x.data(), 1, 32, 32, acts.data());
  const auto* q = reinterpret_cast<const int8_t*>(acts.data());
  const auto* d = reinterpret_cast<const float*>(acts.data() + 32);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -64);  // -63.5 rounds to even
  EXPECT_EQ(q[2], 0);
  EXPECT_EQ(q[3], 2);    // 1.5 rounds to even
  EXPECT_EQ(d[0], Fp16ToFp32(Fp32ToFp16(2.54f / 127.0f)));
  EXPECT_EQ(d[1], Fp16ToFp32(Fp32ToFp16(2.54f / 127.0f * 65)));  // s = d * sum(q)
}

}  // namespace
}  // namespace engram::kernels
