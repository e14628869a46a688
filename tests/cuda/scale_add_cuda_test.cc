// CUDA kernels against their CPU references. Every test skips, with the reason, when this build
// has no CUDA or no GPU is visible; ctest label `cuda`.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/device.h"
#include "kernels/scale_add.h"

namespace engram::kernels {
namespace {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CudaCompiled())
      GTEST_SKIP() << "engram was built without CUDA (ENGRAM_CUDA=OFF or no nvcc)";
    const GpuProbe probe = ProbeGpus();
    if (probe.devices.empty()) GTEST_SKIP() << "no GPU visible: " << probe.reason;
  }
};

// Awkward lengths (not multiples of the block size, one more than the grid can cover at once).
TEST_F(CudaTest, ScaleAddMatchesCpuReference) {
  for (size_t n : {size_t{1}, size_t{97}, size_t{4099}, size_t{65535} * 256 + 3}) {
    std::vector<float> x(n), y(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(static_cast<int64_t>(i % 1000) - 500);  // integer-valued: exact
      y[i] = static_cast<float>(i % 77);
    }
    std::vector<float> expected = y;
    ScaleAddCpu({x.data(), expected.data(), n, 3.0f});
    const Status s = ScaleAddCuda({x.data(), y.data(), n, 3.0f});
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(y, expected) << "n=" << n;
  }
}

TEST_F(CudaTest, MissingDeviceIsUnavailable) {
  float x = 1, y = 2;
  const Status s = ScaleAddCuda({&x, &y, 1, 1.0f}, /*device=*/1000);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(y, 2.0f);
}

}  // namespace
}  // namespace engram::kernels
