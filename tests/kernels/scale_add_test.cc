#include "kernels/scale_add.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/device.h"

namespace engram::kernels {
namespace {

TEST(ScaleAddTest, CpuReferenceComputesAxpy) {
  // Integer-valued floats: every result is exact, so equality is the right comparison.
  std::vector<float> x = {1, 2, 3, -4, 0};
  std::vector<float> y = {10, 20, 30, 40, 50};
  ScaleAddCpu({x.data(), y.data(), x.size(), 2.0f});
  EXPECT_EQ(y, (std::vector<float>{12, 24, 36, 32, 50}));
}

TEST(ScaleAddTest, CpuInPlaceWhenXIsY) {
  std::vector<float> v = {1, 2, 3};
  ScaleAddCpu({v.data(), v.data(), v.size(), 1.0f});
  EXPECT_EQ(v, (std::vector<float>{2, 4, 6}));
}

// Without a usable GPU the CUDA entry point must refuse cleanly, leaving y untouched, so callers
// can fall back to the CPU. (With a GPU, tests/cuda covers the real run.)
TEST(ScaleAddTest, CudaPathRefusesCleanlyWithoutAGpu) {
  if (CudaCompiled() && !ProbeGpus().devices.empty()) GTEST_SKIP() << "a GPU is visible";
  std::vector<float> x = {1, 2}, y = {3, 4};
  const Status s = ScaleAddCuda({x.data(), y.data(), x.size(), 1.0f});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), CudaCompiled() ? StatusCode::kUnavailable : StatusCode::kNotSupported)
      << s.ToString();
  EXPECT_EQ(y, (std::vector<float>{3, 4}));
}

TEST(DeviceTest, ProbeExplainsAnEmptyDeviceList) {
  const GpuProbe probe = ProbeGpus();
  if (probe.devices.empty()) {
    EXPECT_FALSE(probe.reason.empty());
  } else {
    EXPECT_TRUE(CudaCompiled());
    for (const GpuDevice& d : probe.devices) {
      EXPECT_FALSE(d.name.empty());
      EXPECT_GT(d.total_memory_bytes, 0u);
    }
  }
  EXPECT_EQ(CudaArchitectures().empty(), !CudaCompiled());
}

}  // namespace
}  // namespace engram::kernels
