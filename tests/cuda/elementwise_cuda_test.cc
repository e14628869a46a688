// The element-wise CUDA kernels (kernels/cuda/elementwise.cu) against CPU references: RmsNorm
// and Rope against copies of inference/llama_context.cc's loops, Glu against kernels::SwiGlu and
// kernels::GeluTanhGlu, Add and AddBias against plain loops. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cuda/ops.h"
#include "tests/cuda/cuda_test_util.h"

namespace engram::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::DeviceVector;

std::vector<float> Uniform(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// inference/llama_context.cc's RmsNorm: squares summed in double.
void RmsNormReference(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

class ElementwiseCudaTest : public CudaKernelTest {};

// The GPU sums squares in f32 (at most 8 terms per thread, then a 256-leaf tree): the sum's
// relative error stays below ~21 · 2^-24 ≈ 1.3e-6 even in the worst case (all terms positive),
// which halves through the square root; with the final two roundings each element is within
// ~1.2e-6 of the double-sum reference. 2e-6 relative leaves margin and still catches any
// indexing or reduction bug (those are off by whole elements).
TEST_F(ElementwiseCudaTest, RmsNormMatchesCpu) {
  constexpr float kEps = 1e-5f;
  for (const int64_t width : {int64_t{576}, int64_t{640}, int64_t{2048}}) {
    for (const int64_t rows : {int64_t{1}, int64_t{37}}) {
      for (const bool in_place : {false, true}) {
        // Strided rows (as rows of a wider buffer): the gaps must stay untouched.
        const int64_t x_stride = width + 13;
        const int64_t out_stride = in_place ? x_stride : width + 7;
        const std::vector<float> x = Uniform(static_cast<size_t>(rows * x_stride), -2.0f, 2.0f,
                                             static_cast<uint32_t>(width + rows));
        const std::vector<float> weight = Uniform(static_cast<size_t>(width), 0.5f, 1.5f, 7);
        std::vector<float> expected =
            in_place ? x : std::vector<float>(static_cast<size_t>(rows * out_stride), -7.0f);
        for (int64_t r = 0; r < rows; ++r) {
          RmsNormReference(x.data() + r * x_stride, weight.data(), width, kEps,
                           expected.data() + r * out_stride);
        }

        DeviceVector<float> dx(x), dweight(weight);
        DeviceVector<float> dout(std::vector<float>(static_cast<size_t>(rows * out_stride), -7.0f));
        float* out = in_place ? dx.get() : dout.get();
        RmsNorm(dx.get(), x_stride, dweight.get(), rows, width, kEps, out, out_stride, stream());
        Sync();
        const std::vector<float> got = in_place ? dx.Download() : dout.Download();

        ASSERT_EQ(got.size(), expected.size());
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], expected[i], 2e-6f * std::fabs(expected[i]))
              << "width " << width << " rows " << rows << " in_place " << in_place << " at " << i;
        }
      }
    }
  }
}

// The q/k-norm shape of cuda_forward.cc: in place, one row per head (width = head_dim, below one
// block of threads), and more rows than one grid (65535 blocks) covers, so blocks loop.
TEST_F(ElementwiseCudaTest, RmsNormManyShortRowsInPlace) {
  constexpr float kEps = 1e-6f;
  constexpr int64_t kWidth = 64, kRows = 65535 + 2;
  const std::vector<float> x = Uniform(static_cast<size_t>(kRows * kWidth), -2.0f, 2.0f, 12);
  const std::vector<float> weight = Uniform(static_cast<size_t>(kWidth), 0.5f, 1.5f, 13);
  std::vector<float> expected(x.size());
  for (int64_t r = 0; r < kRows; ++r) {
    RmsNormReference(x.data() + r * kWidth, weight.data(), kWidth, kEps,
                     expected.data() + r * kWidth);
  }
  DeviceVector<float> dx(x), dweight(weight);
  RmsNorm(dx.get(), kWidth, dweight.get(), kRows, kWidth, kEps, dx.get(), kWidth, stream());
  ASSERT_NO_FATAL_FAILURE(Sync());
  const std::vector<float> got = dx.Download();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], expected[i], 2e-6f * std::fabs(expected[i])) << "at " << i;
  }
}

// llama_context.cc's Rope loop for one row of `heads` heads.
void RopeReference(float* row, int heads, int head_dim, int rope_dim, bool neox, const float* cs,
                   const float* sn) {
  const int half = rope_dim / 2;
  for (int h = 0; h < heads; ++h) {
    float* x = row + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const int a = neox ? i : 2 * i;
      const int b = neox ? i + half : 2 * i + 1;
      const float x0 = x[a], x1 = x[b];
      x[a] = x0 * cs[i] - x1 * sn[i];
      x[b] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

struct RopeCase {
  int heads;
  int head_dim;
  int rope_dim;
  bool neox;
};

// The kernel rounds each product and the sum separately, as the CPU does, so results agree bit
// for bit. Where the host compiler may fuse x0·c − x1·s into an FMA (__FP_FAST_FMAF: aarch64
// GCC contracts by default) the reference itself moves by up to 2^-23 · (|x0| + |x1|) (|c|,
// |s| <= 1), so that is the tolerance there.
TEST_F(ElementwiseCudaTest, RopeMatchesCpu) {
  constexpr int64_t kRows = 7;
  for (const RopeCase& c : {RopeCase{3, 64, 64, false}, RopeCase{3, 64, 64, true},
                            RopeCase{4, 128, 32, false}, RopeCase{4, 128, 32, true},
                            RopeCase{9, 64, 64, true}}) {
    const int half = c.rope_dim / 2;
    const int64_t row_stride = int64_t{c.heads} * c.head_dim + 5;  // a gap after each row
    std::vector<float> v = Uniform(static_cast<size_t>(kRows * row_stride), -3.0f, 3.0f,
                                   static_cast<uint32_t>(c.head_dim + c.rope_dim));
    std::vector<float> cos_table(static_cast<size_t>(kRows * half));
    std::vector<float> sin_table(cos_table.size());
    for (int64_t t = 0; t < kRows; ++t) {
      for (int i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(100 + 37 * t) * std::pow(10000.0, -2.0 * i / c.rope_dim);
        cos_table[t * half + i] = static_cast<float>(std::cos(angle));
        sin_table[t * half + i] = static_cast<float>(std::sin(angle));
      }
    }
    std::vector<float> expected = v;
    for (int64_t t = 0; t < kRows; ++t) {
      RopeReference(expected.data() + t * row_stride, c.heads, c.head_dim, c.rope_dim, c.neox,
                    cos_table.data() + t * half, sin_table.data() + t * half);
    }

    DeviceVector<float> dv(v), dcos(cos_table), dsin(sin_table);
    Rope(dv.get(), kRows, row_stride, c.heads, c.head_dim, c.rope_dim, c.neox, dcos.get(),
         dsin.get(), stream());
    Sync();
    const std::vector<float> got = dv.Download();

    for (size_t i = 0; i < got.size(); ++i) {
#ifdef __FP_FAST_FMAF
      // Bounded by the largest input magnitude (3): 2^-23 · 6.
      ASSERT_NEAR(got[i], expected[i], 6.0f * 0x1p-23f) << "at " << i;
#else
      ASSERT_EQ(got[i], expected[i]) << "heads " << c.heads << " head_dim " << c.head_dim
                                     << " rope_dim " << c.rope_dim << " neox " << c.neox
                                     << " at " << i;
#endif
    }
  }
}

// Awkward lengths, and one longer than a 65535-block grid covers in one sweep.
constexpr int64_t kCounts[] = {1, 97, 4099, int64_t{65535} * 256 + 3};

// The GPU's expf is within 2 ulp and the CPU's (std::exp, or the AVX2 polynomial) about as
// close; silu = g / (1 + e^-g) passes a relative error of e^-g through damped, so the results
// stay within a few ulp: 1e-6 relative.
TEST_F(ElementwiseCudaTest, SiluGluMatchesSwiGlu) {
  for (const int64_t count : kCounts) {
    const std::vector<float> gate = Uniform(static_cast<size_t>(count), -12.0f, 12.0f, 1);
    const std::vector<float> up = Uniform(static_cast<size_t>(count), -2.0f, 2.0f, 2);
    std::vector<float> expected(gate.size());
    SwiGlu(gate.data(), up.data(), expected.data(), count);

    DeviceVector<float> dgate(gate), dup(up), dout(gate.size());
    Glu(dgate.get(), dup.get(), dout.get(), count, /*gelu_tanh=*/false, stream());
    Sync();
    const std::vector<float> got = dout.Download();
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], expected[i], 1e-6f * std::fabs(expected[i]) + 1e-30f)
          << "count " << count << " at " << i << " gate " << gate[i];
    }
  }
}

// The CPU (as llama.cpp's CPU backend) rounds the gate to f16 and reads gelu from an f16 table;
// the GPU (as llama.cpp's CUDA backend) evaluates the formula in f32. The gate's rounding
// (relative 2^-11) moves gelu by at most max|gelu'| · 2^-11 · |x| ≈ 1.13 · 4.9e-4 · |x|, the
// f16 result by another 2^-11 · |gelu(x)| <= 4.9e-4 · |x|: |Δ| <= 1.04e-3 · |x| · |up|, plus
// 2^-24 · |up| where the gate is an f16 subnormal. A tolerance relative to the result would not
// do: for x in (-3, -1.7) gelu(x) is small while its slope is not, and the difference reaches
// several 1e-3 of the result (a sweep of [-12, 12] in steps of 5e-6 measured a maximum
// of 0.96e-3 · |x|). Hence 1.2e-3 · |x| · |up| + 1e-7 · |up|. Beyond ±10 the CPU returns exactly
// x or 0 and the formula agrees within 1e-6.
TEST_F(ElementwiseCudaTest, GeluGluMatchesGeluTanhGlu) {
  for (const int64_t count : {int64_t{1}, int64_t{97}, int64_t{100003}}) {
    const std::vector<float> gate = Uniform(static_cast<size_t>(count), -12.0f, 12.0f, 3);
    const std::vector<float> up = Uniform(static_cast<size_t>(count), -2.0f, 2.0f, 4);
    std::vector<float> expected(gate.size());
    GeluTanhGlu(gate.data(), up.data(), expected.data(), count);

    DeviceVector<float> dgate(gate), dup(up);
    Glu(dgate.get(), dup.get(), dgate.get(), count, /*gelu_tanh=*/true, stream());  // in place
    Sync();
    const std::vector<float> got = dgate.Download();
    for (size_t i = 0; i < got.size(); ++i) {
      const float tolerance = (1.2e-3f * std::fabs(gate[i]) + 1e-7f) * std::fabs(up[i]) + 1e-30f;
      ASSERT_NEAR(got[i], expected[i], tolerance) << "at " << i << " gate " << gate[i];
    }
  }
}

TEST_F(ElementwiseCudaTest, SiluGluInPlace) {
  const std::vector<float> gate = Uniform(1000, -6.0f, 6.0f, 5);
  const std::vector<float> up = Uniform(1000, -2.0f, 2.0f, 6);
  std::vector<float> expected(gate.size());
  SwiGlu(gate.data(), up.data(), expected.data(), 1000);
  DeviceVector<float> dgate(gate), dup(up);
  Glu(dgate.get(), dup.get(), dgate.get(), 1000, /*gelu_tanh=*/false, stream());
  Sync();
  const std::vector<float> got = dgate.Download();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], expected[i], 1e-6f * std::fabs(expected[i]) + 1e-30f) << "at " << i;
  }
}

// One f32 addition each: exact.
TEST_F(ElementwiseCudaTest, AddIsExact) {
  for (const int64_t count : kCounts) {
    const std::vector<float> x = Uniform(static_cast<size_t>(count), -100.0f, 100.0f, 8);
    const std::vector<float> y = Uniform(static_cast<size_t>(count), -1.0f, 1.0f, 9);
    std::vector<float> expected = x;
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += y[i];

    DeviceVector<float> dx(x), dy(y);
    Add(dx.get(), dy.get(), count, stream());
    Sync();
    ASSERT_EQ(dx.Download(), expected) << "count " << count;
  }
}

TEST_F(ElementwiseCudaTest, AddBiasIsExact) {
  struct Shape {
    int64_t rows, width;
  };
  // Widths below, at and above one block of threads; more rows than fit in one grid row.
  for (const Shape s : {Shape{1, 1}, Shape{3, 255}, Shape{17, 256}, Shape{5, 1000},
                        Shape{70000, 3}}) {
    const std::vector<float> x =
        Uniform(static_cast<size_t>(s.rows * s.width), -100.0f, 100.0f, 10);
    const std::vector<float> bias = Uniform(static_cast<size_t>(s.width), -1.0f, 1.0f, 11);
    std::vector<float> expected = x;
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t i = 0; i < s.width; ++i) expected[r * s.width + i] += bias[i];
    }

    DeviceVector<float> dx(x), dbias(bias);
    AddBias(dx.get(), dbias.get(), s.rows, s.width, stream());
    Sync();
    ASSERT_EQ(dx.Download(), expected) << "rows " << s.rows << " width " << s.width;
  }
}

}  // namespace
}  // namespace engram::kernels::cuda
