// The encoder's small kernels (dense attention, erf GELU, LayerNorm): every path against a
// double-precision reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/layer_norm.h"

namespace engram::kernels {
namespace {

class EncoderKernelsTest : public ::testing::TestWithParam<KernelIsa> {
 protected:
  void SetUp() override {
    if (!KernelIsaAvailable(GetParam())) GTEST_SKIP() << "not available here";
  }
  std::mt19937 rng_{11};
  std::normal_distribution<float> normal_{0.0f, 1.0f};
};

TEST_P(EncoderKernelsTest, AttendDenseMatchesSoftmaxAttention) {
  for (const int dim : {32, 64, 24}) {
    for (const int64_t n : {1, 7, 8, 9, 33, 130}) {
      const size_t stride = 3 * dim + 5;  // q | k | v interleaved per token, as the embedder has
      std::vector<float> qkv(n * stride);
      for (float& v : qkv) v = 2.0f * normal_(rng_);
      std::vector<float> scratch(AttendDenseScratchFloats(n, dim)), out(n * (dim + 1), 9.0f);
      const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
      AttendDenseWith(GetParam(), qkv.data(), stride, qkv.data() + dim, stride,
                      qkv.data() + 2 * dim, stride, n, n, dim, scale, scratch.data(), out.data(),
                      dim + 1);
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> s(n);
        double max = -1e300, sum = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0.0;
          for (int d = 0; d < dim; ++d) dot += double(qkv[i * stride + d]) * qkv[j * stride + dim + d];
          s[j] = dot * scale;
          max = std::max(max, s[j]);
        }
        for (double& v : s) sum += (v = std::exp(v - max));
        for (int d = 0; d < dim; ++d) {
          double ref = 0.0;
          for (int64_t j = 0; j < n; ++j) ref += s[j] / sum * qkv[j * stride + 2 * dim + d];
          ASSERT_NEAR(out[i * (dim + 1) + d], ref, 2e-5) << "dim " << dim << " n " << n;
        }
        ASSERT_EQ(out[i * (dim + 1) + dim], 9.0f) << "wrote past the row";
      }
    }
  }
}

TEST_P(EncoderKernelsTest, GeluErfIsExact) {
  std::vector<float> x;
  for (int i = -2000; i <= 2000; ++i) x.push_back(static_cast<float>(i) * 0.005f);
  for (float v : {-30.0f, -9.0f, 9.0f, 30.0f, 1e-30f, -1e-30f}) x.push_back(v);
  std::vector<float> y = x;
  GeluErfWith(GetParam(), y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = 0.5 * x[i] * (1.0 + std::erf(double(x[i]) / std::sqrt(2.0)));
    ASSERT_NEAR(y[i], ref, 2e-7 * std::max(1.0f, std::fabs(x[i])) + 1e-7) << "x = " << x[i];
  }
}

TEST_P(EncoderKernelsTest, LayerNormWithResidual) {
  for (const int64_t n : {384, 8, 13}) {
    std::vector<float> x(n), r(n), w(n), b(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = 3.0f + normal_(rng_);
      r[i] = normal_(rng_);
      w[i] = normal_(rng_);
      b[i] = normal_(rng_);
    }
    for (const bool with_residual : {false, true}) {
      std::vector<float> y = x;
      LayerNormWith(GetParam(), y.data(), with_residual ? r.data() : nullptr, w.data(), b.data(),
                    n, 1e-12f);
      double mean = 0.0, var = 0.0;
      std::vector<double> v(n);
      for (int64_t i = 0; i < n; ++i) mean += (v[i] = x[i] + (with_residual ? r[i] : 0.0));
      mean /= n;
      for (double e : v) var += (e - mean) * (e - mean);
      var /= n;
      for (int64_t i = 0; i < n; ++i) {
        const double ref = (v[i] - mean) / std::sqrt(var + 1e-12) * w[i] + b[i];
        ASSERT_NEAR(y[i], ref, 1e-5 * (1.0 + std::fabs(w[i]))) << "n " << n << " i " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, EncoderKernelsTest,
                         ::testing::Values(KernelIsa::kScalar, KernelIsa::kAvx2),
                         [](const auto& info) { return std::string(KernelIsaName(info.param)); });

}  // namespace
}  // namespace engram::kernels
