// The packed GEMM: every path against a double-precision reference over odd shapes (panel and
// token tails, strides, bias or none, panel sub-ranges), and packing from f16 weights.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/half.h"

namespace engram::kernels {
namespace {

struct Shape {
  int64_t rows, k, n;
};

class GemmTest : public ::testing::TestWithParam<GemmIsa> {};

TEST_P(GemmTest, MatchesDoubleReference) {
  const GemmIsa isa = GetParam();
  if (!GemmIsaAvailable(isa)) GTEST_SKIP() << GemmIsaName(isa) << " not available here";
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape s : {Shape{1, 1, 1}, Shape{32, 16, 12}, Shape{37, 33, 13}, Shape{64, 384, 29},
                        Shape{100, 70, 1}, Shape{17, 1536, 40}, Shape{96, 5, 300}}) {
    std::vector<float> w(s.rows * s.k), bias(s.rows);
    for (float& v : w) v = normal(rng);
    for (float& v : bias) v = normal(rng);
    const size_t x_stride = s.k + 3, y_stride = s.rows + 5;
    std::vector<float> x(s.n * x_stride);
    for (float& v : x) v = normal(rng);
    const PackedMatrix packed = PackMatrix(TensorType::kF32, w.data(), s.k * 4, s.rows, s.k);
    ASSERT_EQ(packed.panels(), (s.rows + 31) / 32);
    for (const bool with_bias : {false, true}) {
      std::vector<float> y(s.n * y_stride, -7.0f);
      // Two calls over a split of the panels, as two threads would make them.
      const int64_t mid = packed.panels() / 2;
      const float* b = with_bias ? bias.data() : nullptr;
      GemmWith(isa, packed, x.data(), s.n, x_stride, 0, mid, y.data(), y_stride, b);
      GemmWith(isa, packed, x.data(), s.n, x_stride, mid, packed.panels(), y.data(), y_stride, b);
      for (int64_t t = 0; t < s.n; ++t) {
        for (int64_t r = 0; r < s.rows; ++r) {
          double ref = with_bias ? bias[r] : 0.0, mag = std::fabs(ref);
          for (int64_t i = 0; i < s.k; ++i) {
            ref += static_cast<double>(w[r * s.k + i]) * x[t * x_stride + i];
            mag += std::fabs(static_cast<double>(w[r * s.k + i]) * x[t * x_stride + i]);
          }
          ASSERT_NEAR(y[t * y_stride + r], ref, 1e-6 * mag + 1e-6)
              << GemmIsaName(isa) << " rows " << s.rows << " k " << s.k << " n " << s.n
              << " at t " << t << " r " << r;
        }
        for (size_t r = s.rows; r < y_stride; ++r) {
          ASSERT_EQ(y[t * y_stride + r], -7.0f) << "wrote past the rows at t " << t;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, GemmTest,
                         ::testing::Values(GemmIsa::kScalar, GemmIsa::kAvx2, GemmIsa::kAvx512),
                         [](const auto& info) { return std::string(GemmIsaName(info.param)); });

TEST(GemmPack, F16WeightsPackToTheirFloatValues) {
  std::vector<uint16_t> w(40 * 8);
  for (size_t i = 0; i < w.size(); ++i) w[i] = Fp32ToFp16(static_cast<float>(i % 97) * 0.25f - 3.0f);
  const PackedMatrix packed = PackMatrix(TensorType::kF16, w.data(), 8 * 2, 40, 8);
  for (int64_t r = 0; r < 40; ++r) {
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(packed.panel(r / 32)[i * 32 + r % 32], Fp16ToFp32(w[r * 8 + i]));
    }
  }
  // Rows past the end of the last panel are zero.
  EXPECT_EQ(packed.panel(1)[8], 0.0f);
  EXPECT_EQ(packed.panel(1)[7 * 32 + 31], 0.0f);
}

}  // namespace
}  // namespace engram::kernels
