// --device on the host side: parsing, the device-memory plan, the decode roofline, and how a
// context picks its device (on a machine without a GPU, or a build without CUDA, the only kind
// CI has: `cuda` is refused with the reason, `auto` runs on the CPU with the same logits).
#include "inference/device_plan.h"

#include <gtest/gtest.h>

#include <vector>

#include "inference/llama_context.h"
#include "kernels/device.h"
#include "tests/inference/tiny_llama_model.h"

namespace engram::inference {
namespace {

bool GpuVisible() { return !kernels::ProbeGpus().devices.empty(); }

TEST(DevicePlanTest, ParsesTheThreeDevices) {
  EXPECT_EQ(*ParseDevice("cpu"), Device::kCpu);
  EXPECT_EQ(*ParseDevice("cuda"), Device::kCuda);
  EXPECT_EQ(*ParseDevice("auto"), Device::kAuto);
  for (Device d : {Device::kCpu, Device::kCuda, Device::kAuto}) {
    EXPECT_EQ(*ParseDevice(DeviceName(d)), d);
  }
  const Result<Device> bad = ParseDevice("tpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("cpu, cuda, auto"), std::string::npos);
}

// The tiny model stores f32 weights: every byte counted by hand from its shape.
TEST(DevicePlanTest, CountsWeightsCacheAndRooflineFromTheShape) {
  testing::TinyLlamaSpec spec;  // 2 layers, embd 64, 4 heads, 2 KV heads, ff 96, vocab 40
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama(spec);
  ASSERT_NE(l.model, nullptr);
  const uint64_t E = 64, kv = 2 * 16, ff = 96, V = 40;
  const uint64_t layer = 4 * (E * E + kv * E + kv * E + E * E + 3 * ff * E + 2 * E);
  const uint64_t weights = 4 * (V * E + E) + 2 * layer;  // tied output: the embedding once

  ContextOptions options;
  options.n_ctx = 100;  // pool: 200 positions, 13 blocks of 16
  const DeviceMemoryPlan plan = PlanDeviceMemory(*l.model, options);
  EXPECT_EQ(plan.weights, weights);
  EXPECT_EQ(plan.kv_cache, 208u * 2 * 2 * 16 * 2 * 2);
  EXPECT_GT(plan.scratch, 0u);
  EXPECT_EQ(plan.total(), plan.weights + plan.kv_cache + plan.scratch);

  // Decode reads every matrix and one embedding row, then 2 bytes per K and V entry attended.
  const uint64_t at0 = DecodeBytesRead(*l.model, 0, TensorType::kF16);
  EXPECT_EQ(at0, 2 * layer + 4 * (V * E) + 4 * E);
  EXPECT_EQ(DecodeBytesRead(*l.model, 1000, TensorType::kF16) - at0, 1000u * 2 * 2 * 16 * 2 * 2);
  EXPECT_EQ(DecodeBytesRead(*l.model, 1000, TensorType::kF32) - at0, 1000u * 2 * 2 * 16 * 2 * 4);

  const std::string why = DescribeShortfall(plan, 208, "NVIDIA H200", 1 << 20);
  EXPECT_NE(why.find("KV cache"), std::string::npos) << why;
  EXPECT_NE(why.find("208 positions"), std::string::npos) << why;
  EXPECT_NE(why.find("NVIDIA H200 has 0.00 GiB free"), std::string::npos) << why;
}

TEST(DevicePlanTest, CudaWithoutAGpuIsRefusedWithTheReason) {
  if (GpuVisible()) GTEST_SKIP() << "a GPU is visible: the refusal is for machines without one";
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama({});
  ASSERT_NE(l.model, nullptr);
  ContextOptions options;
  options.n_ctx = 64;
  options.device = Device::kCuda;
  const auto ctx = LlamaContext::Create(l.model, options);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.status().code(), StatusCode::kUnavailable);
  const std::string text = ctx.status().ToString();
  EXPECT_NE(text.find("--device cpu"), std::string::npos) << text;
  if (!kernels::CudaCompiled()) {
    EXPECT_NE(text.find("built without CUDA"), std::string::npos) << text;
  }
}

TEST(DevicePlanTest, AnF32CacheIsCpuOnly) {
  if (!kernels::CudaCompiled()) GTEST_SKIP() << "built without CUDA";
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama({});
  ASSERT_NE(l.model, nullptr);
  ContextOptions options;
  options.n_ctx = 64;
  options.device = Device::kCuda;
  options.kv_type = TensorType::kF32;
  const auto ctx = LlamaContext::Create(l.model, options);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().ToString().find("KV cache in f16"), std::string::npos)
      << ctx.status().ToString();
}

TEST(DevicePlanTest, AutoWithoutAGpuRunsOnTheCpuWithTheSameLogits) {
  if (GpuVisible()) GTEST_SKIP() << "a GPU is visible: auto would pick it";
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama({});
  ASSERT_NE(l.model, nullptr);
  ContextOptions options;
  options.n_ctx = 64;
  options.n_threads = 1;
  auto cpu = LlamaContext::Create(l.model, options);
  options.device = Device::kAuto;
  auto automatic = LlamaContext::Create(l.model, options);
  ASSERT_TRUE(cpu.ok() && automatic.ok());
  EXPECT_EQ((*automatic)->device(), Device::kCpu);
  EXPECT_EQ((*automatic)->device_name(), "");
  EXPECT_EQ((*automatic)->device_peak_bandwidth(), 0.0);
  const std::vector<int32_t> tokens = {1, 5, 9, 2, 7};
  ASSERT_TRUE((*cpu)->Eval(tokens).ok());
  ASSERT_TRUE((*automatic)->Eval(tokens).ok());
  const std::span<const float> a = (*cpu)->logits(), b = (*automatic)->logits();
  EXPECT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()));
}

}  // namespace
}  // namespace engram::inference
