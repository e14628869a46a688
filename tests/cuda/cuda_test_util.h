// Shared by the CUDA kernel tests: the fixture that skips without a GPU, and device vectors.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cuda/runtime.h"
#include "kernels/device.h"

namespace engram::kernels::cuda::testing {

// Every test skips, with the reason, when no GPU is visible.
class CudaKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const GpuProbe probe = ProbeGpus();
    if (probe.devices.empty()) GTEST_SKIP() << "no GPU visible: " << probe.reason;
    Result<StreamHandle> stream = StreamHandle::Create();
    ASSERT_TRUE(stream.ok()) << stream.status().ToString();
    stream_ = std::move(*stream);
  }
  Stream stream() const { return stream_.get(); }
  // Waits for the stream and fails the test on a kernel error.
  void Sync() {
    const Status launch = LastError();
    ASSERT_TRUE(launch.ok()) << launch.ToString();
    const Status s = stream_.Synchronize();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

 private:
  StreamHandle stream_;
};

// A device copy of a host vector (or `count` zeroed elements); Download reads it back.
template <typename T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& host) : count_(host.size()) {
    Result<DeviceBuffer> buffer = DeviceBuffer::Allocate(sizeof(T) * count_);
    EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
    if (!buffer.ok()) return;
    buffer_ = std::move(*buffer);
    EXPECT_TRUE(CopyToDevice(buffer_.data(), host.data(), sizeof(T) * count_).ok());
  }
  explicit DeviceVector(size_t count) : DeviceVector(std::vector<T>(count)) {}

  T* get() const { return buffer_.as<T>(); }
  std::vector<T> Download() const {
    std::vector<T> host(count_);
    EXPECT_TRUE(CopyToHost(host.data(), buffer_.data(), sizeof(T) * count_).ok());
    return host;
  }

 private:
  size_t count_ = 0;
  DeviceBuffer buffer_;
};

}  // namespace engram::kernels::cuda::testing
