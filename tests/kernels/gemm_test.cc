// The packed GEMM: every path against a double-precision reference over odd shapes (panel and
// token tails, strides, bias or none, panel sub-ranges), and packing from f16 weights.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/half.h"

namespace engram::kernels {
namespace {

struct Shape {
  int64_t rows, k, n;
};

// Normal weights (rows × k), bias and tokens (n rows with 3 floats of padding); outputs get 5
// columns of padding, which no path may write.
struct Problem {
  std::vector<float> w, bias, x;
  size_t x_stride, y_stride;
};

Problem RandomProblem(const Shape& s, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem p{.w = std::vector<float>(s.rows * s.k), .bias = std::vector<float>(s.rows), .x = {},
            .x_stride = static_cast<size_t>(s.k + 3), .y_stride = static_cast<size_t>(s.rows + 5)};
  for (float& v : p.w) v = normal(rng);
  for (float& v : p.bias) v = normal(rng);
  p.x.resize(s.n * p.x_stride);
  for (float& v : p.x) v = normal(rng);
  return p;
}

class GemmTest : public ::testing::TestWithParam<GemmIsa> {};

TEST_P(GemmTest, MatchesDoubleReference) {
  const GemmIsa isa = GetParam();
  if (!GemmIsaAvailable(isa)) GTEST_SKIP() << GemmIsaName(isa) << " not available here";
  std::mt19937 rng(7);
  for (const Shape s : {Shape{1, 1, 1}, Shape{32, 16, 12}, Shape{37, 33, 13}, Shape{64, 384, 29},
                        Shape{100, 70, 1}, Shape{17, 1536, 40}, Shape{96, 5, 300}}) {
    auto [w, bias, x, x_stride, y_stride] = RandomProblem(s, rng);
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

// bf16 matrices: every path against a double reference over the bf16-rounded operands, and
// within bf16's rounding of the f32 product.
TEST_P(GemmTest, Bf16MatchesReferenceOnRoundedOperands) {
  const GemmIsa isa = GetParam();
  if (!GemmIsaAvailable(isa)) GTEST_SKIP() << GemmIsaName(isa) << " not available here";
  std::mt19937 rng(9);
  auto round = [](float v) {  // to bf16, nearest even
    uint32_t b;
    std::memcpy(&b, &v, 4);
    b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&v, &b, 4);
    return v;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{32, 16, 12}, Shape{37, 33, 13}, Shape{64, 384, 29},
                        Shape{17, 1537, 40}, Shape{96, 5, 300}, Shape{40, 64, 33}}) {
    auto [w, bias, x, x_stride, y_stride] = RandomProblem(s, rng);
    const PackedMatrix packed =
        PackMatrix(TensorType::kF32, w.data(), s.k * 4, s.rows, s.k, GemmPrecision::kBf16);
    std::vector<float> y(s.n * y_stride, -7.0f);
    const int64_t mid = packed.panels() / 2;
    GemmWith(isa, packed, x.data(), s.n, x_stride, 0, mid, y.data(), y_stride, bias.data());
    GemmWith(isa, packed, x.data(), s.n, x_stride, mid, packed.panels(), y.data(), y_stride,
             bias.data());
    for (int64_t t = 0; t < s.n; ++t) {
      for (int64_t r = 0; r < s.rows; ++r) {
        double ref = bias[r], exact = bias[r], mag = std::fabs(ref);
        for (int64_t i = 0; i < s.k; ++i) {
          const double p = double(round(w[r * s.k + i])) * round(x[t * x_stride + i]);
          ref += p;
          exact += double(w[r * s.k + i]) * x[t * x_stride + i];
          mag += std::fabs(p);
        }
        ASSERT_NEAR(y[t * y_stride + r], ref, 1e-6 * mag + 1e-6)
            << GemmIsaName(isa) << " rows " << s.rows << " k " << s.k << " at t " << t;
        ASSERT_NEAR(y[t * y_stride + r], exact, 1e-2 * mag + 1e-6);  // bf16: ~2^-8 per product
      }
      for (size_t r = s.rows; r < y_stride; ++r) ASSERT_EQ(y[t * y_stride + r], -7.0f);
    }
  }
}

// int8 matrices: every path gives the scalar reference's bits (the sums are exact integers),
// and each output is within the worst case of the two quantizations of the exact product:
// |Δy| ≤ Σ |x_i| δw + |w_i| δx + δw δx, with δ half of a row's or token's step (max|v| / 127).
TEST_P(GemmTest, Int8MatchesReferenceBitsAndQuantizationBound) {
  const GemmIsa isa = GetParam();
  if (!GemmIsaAvailable(isa)) GTEST_SKIP() << GemmIsaName(isa) << " not available here";
  std::mt19937 rng(11);
  for (const Shape s : {Shape{1, 1, 1}, Shape{32, 16, 12}, Shape{37, 33, 13}, Shape{64, 384, 29},
                        Shape{17, 1537, 40}, Shape{96, 6, 300}, Shape{40, 64, 33}}) {
    auto [w, bias, x, x_stride, y_stride] = RandomProblem(s, rng);
    if (s.n > 1) std::fill_n(x.begin() + x_stride, s.k, 0.0f);  // a zero token
    const PackedMatrix packed =
        PackMatrix(TensorType::kF32, w.data(), s.k * 4, s.rows, s.k, GemmPrecision::kInt8);
    std::vector<float> y(s.n * y_stride, -7.0f), ref(s.n * y_stride, -7.0f);
    const int64_t mid = packed.panels() / 2;
    GemmWith(isa, packed, x.data(), s.n, x_stride, 0, mid, y.data(), y_stride, bias.data());
    GemmWith(isa, packed, x.data(), s.n, x_stride, mid, packed.panels(), y.data(), y_stride,
             bias.data());
    GemmWith(GemmIsa::kScalar, packed, x.data(), s.n, x_stride, 0, packed.panels(), ref.data(),
             y_stride, bias.data());
    auto max_abs = [](const float* v, int64_t k) {
      double m = 0;
      for (int64_t i = 0; i < k; ++i) m = std::max(m, std::fabs(double(v[i])));
      return m;
    };
    for (int64_t t = 0; t < s.n; ++t) {
      const float* xt = x.data() + t * x_stride;
      const double dx = max_abs(xt, s.k) / 127 / 2;
      for (int64_t r = 0; r < s.rows; ++r) {
        const float* wr = w.data() + r * s.k;
        const double dw = max_abs(wr, s.k) / 127 / 2;
        double exact = bias[r], bound = 0, mag = std::fabs(exact);
        for (int64_t i = 0; i < s.k; ++i) {
          exact += double(wr[i]) * xt[i];
          bound += std::fabs(xt[i]) * dw + std::fabs(wr[i]) * dx + dw * dx;
          mag += std::fabs(double(wr[i]) * xt[i]);
        }
        const float got = y[t * y_stride + r];
        ASSERT_EQ(got, ref[t * y_stride + r])
            << GemmIsaName(isa) << " rows " << s.rows << " k " << s.k << " at t " << t << " r " << r;
        ASSERT_NEAR(got, exact, bound * 1.0001 + 1e-5 * mag + 1e-5)
            << GemmIsaName(isa) << " rows " << s.rows << " k " << s.k << " at t " << t;
      }
      for (size_t r = s.rows; r < y_stride; ++r) ASSERT_EQ(y[t * y_stride + r], -7.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, GemmTest,
                         ::testing::Values(GemmIsa::kScalar, GemmIsa::kAvx2, GemmIsa::kAvx512,
                                           GemmIsa::kAvx512Bf16, GemmIsa::kAmxBf16),
                         [](const auto& info) { return std::string(GemmIsaName(info.param)); });

TEST(GemmPack, F16WeightsPackToTheirFloatValues) {
  std::vector<uint16_t> w(40 * 8);
  for (size_t i = 0; i < w.size(); ++i) w[i] = Fp32ToFp16(static_cast<float>(i % 97) * 0.25f - 3.0f);
  const PackedMatrix packed = PackMatrix(TensorType::kF16, w.data(), 8 * 2, 40, 8);
  for (int64_t r = 0; r < 40; ++r) {
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(static_cast<const float*>(packed.panel(r / 32))[i * 32 + r % 32],
                Fp16ToFp32(w[r * 8 + i]));
    }
  }
  // Rows past the end of the last panel are zero.
  EXPECT_EQ(static_cast<const float*>(packed.panel(1))[8], 0.0f);
  EXPECT_EQ(static_cast<const float*>(packed.panel(1))[7 * 32 + 31], 0.0f);
}

}  // namespace
}  // namespace engram::kernels
