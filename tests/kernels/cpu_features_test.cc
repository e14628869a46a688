#include "kernels/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace engram::kernels {
namespace {

// The detected features agree with what the kernel reports in /proc/cpuinfo.
TEST(CpuFeaturesTest, AgreesWithProcCpuinfo) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = " " + line.substr(line.find(':') + 1) + " ";
      break;
    }
  }
  if (flags.empty()) GTEST_SKIP() << "/proc/cpuinfo has no flags line on this platform";
  auto has = [&flags](const char* name) {
    return flags.find(std::string(" ") + name + " ") != std::string::npos;
  };
  const CpuFeatures& f = GetCpuFeatures();
  EXPECT_EQ(f.avx2, has("avx2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.avx512f, has("avx512f"));
}

TEST(CpuFeaturesTest, StringListsDetectedFeatures) {
  CpuFeatures f;
  EXPECT_EQ(CpuFeatureString(f), "none");
  f.avx2 = f.fma = true;
  EXPECT_EQ(CpuFeatureString(f), "avx2 fma");
}

}  // namespace
}  // namespace engram::kernels
