// The whole forward pass on the GPU (--device cuda) against the CPU path: random tiny models
// (llama's and qwen2's layouts) through prefill, graph-captured decode steps, rewinds, forks
// and batched decode, cache files across devices; and the default model against llama.cpp's
// goldens. Skips without a GPU; ctest label `cuda`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/default_models.h"
#include "inference/llama_context.h"
#include "kernels/device.h"
#include "tests/inference/tiny_llama_model.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ForwardCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const kernels::GpuProbe probe = kernels::ProbeGpus();
    if (probe.devices.empty()) GTEST_SKIP() << "no GPU visible: " << probe.reason;
  }
};

std::unique_ptr<LlamaContext> MakeContext(std::shared_ptr<const LlamaModel> model, Device device,
                                          int64_t n_ctx = 256) {
  ContextOptions options;
  options.n_ctx = n_ctx;
  options.n_threads = 2;
  options.device = device;
  auto ctx = LlamaContext::Create(std::move(model), options);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  if (!ctx.ok()) return nullptr;
  EXPECT_EQ((*ctx)->device(), device);
  return std::move(*ctx);
}

struct Diff {
  double max_abs = 0.0;
  double scale = 0.0;  // max |logit| of the CPU's
  int top1_differs = 0;
};

// GPU logits against the CPU's, row by row (n_vocab each); a top-1 difference counts only
// where the CPU's top two are further apart than the tolerance.
Diff Compare(std::span<const float> gpu, std::span<const float> cpu, int vocab, double tol) {
  Diff d;
  EXPECT_EQ(gpu.size(), cpu.size());
  for (size_t row = 0; row * vocab < cpu.size(); ++row) {
    const auto c = cpu.subspan(row * vocab, vocab), g = gpu.subspan(row * vocab, vocab);
    std::vector<float> sorted(c.begin(), c.end());
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    const auto top_c = std::max_element(c.begin(), c.end()) - c.begin();
    const auto top_g = std::max_element(g.begin(), g.end()) - g.begin();
    if (top_c != top_g && sorted[0] - sorted[1] > tol) ++d.top1_differs;
    for (int i = 0; i < vocab; ++i) {
      d.max_abs = std::max(d.max_abs, static_cast<double>(std::fabs(g[i] - c[i])));
      d.scale = std::max(d.scale, static_cast<double>(std::fabs(c[i])));
    }
  }
  return d;
}

std::vector<float> Copy(std::span<const float> v) { return {v.begin(), v.end()}; }

// Prefill goes through tensor cores (inputs rounded to f16): 2% of the logit scale. Decode
// steps multiply in f32: 0.5%.
constexpr double kPrefillTol = 0.02, kDecodeTol = 0.005;

void ExpectClose(std::span<const float> gpu, std::span<const float> cpu, int vocab, double tol,
                 const std::string& what) {
  const Diff d = Compare(gpu, cpu, vocab, tol);
  EXPECT_LE(d.max_abs, tol * (1.0 + d.scale)) << what;
  EXPECT_EQ(d.top1_differs, 0) << what;
}

class TinyForwardCudaTest : public ForwardCudaTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(TinyForwardCudaTest, PrefillDecodeRewindAndBatchMatchTheCpu) {
  testing::TinyLlamaSpec spec;
  spec.arch = GetParam();
  spec.n_embd = 256;  // head_dim 64, as the default model
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama(spec);
  ASSERT_NE(l.model, nullptr);
  auto gpu = MakeContext(l.model, Device::kCuda);
  auto cpu = MakeContext(l.model, Device::kCpu);
  ASSERT_TRUE(gpu && cpu);
  const int vocab = l.model->config().n_vocab;
  std::vector<int32_t> prompt(40);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7 + 3) % vocab);

  ASSERT_TRUE(gpu->Eval(prompt, LogitsMode::kAll).ok());
  ASSERT_TRUE(cpu->Eval(prompt, LogitsMode::kAll).ok());
  ExpectClose(gpu->logits(), cpu->logits(), vocab, kPrefillTol, "prefill");
  for (int step = 0; step < 12; ++step) {  // the captured graph, replayed as the cache grows
    const int32_t token = (step * 5 + 1) % vocab;
    ASSERT_TRUE(gpu->Eval({&token, 1}).ok());
    ASSERT_TRUE(cpu->Eval({&token, 1}).ok());
    ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol, "decode " + std::to_string(step));
  }
  gpu->Rewind(17);
  cpu->Rewind(17);
  const int32_t again = 9;
  ASSERT_TRUE(gpu->Eval({&again, 1}).ok());
  ASSERT_TRUE(cpu->Eval({&again, 1}).ok());
  ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol, "after rewind");

  // Three sequences sharing the prefix, decoded together (copy-on-write of the shared tail).
  std::vector<BatchEntry> gpu_batch{{gpu->sequence(), 2}}, cpu_batch{{cpu->sequence(), 2}};
  for (int b = 1; b < 3; ++b) {
    gpu_batch.push_back({*gpu->Fork(), 3 + b});
    cpu_batch.push_back({*cpu->Fork(), 3 + b});
  }
  for (int step = 0; step < 4; ++step) {
    ASSERT_TRUE(gpu->DecodeBatch(gpu_batch).ok());
    ASSERT_TRUE(cpu->DecodeBatch(cpu_batch).ok());
    ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol, "batch " + std::to_string(step));
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, TinyForwardCudaTest, ::testing::Values("llama", "qwen2"));

// A cache saved from the GPU loads on the CPU (and back) and continues identically.
TEST_F(ForwardCudaTest, CacheFilesCrossDevices) {
  testing::TinyLlamaSpec spec;
  spec.n_embd = 256;
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama(spec);
  ASSERT_NE(l.model, nullptr);
  auto gpu = MakeContext(l.model, Device::kCuda);
  auto cpu = MakeContext(l.model, Device::kCpu);
  ASSERT_TRUE(gpu && cpu);
  const int vocab = l.model->config().n_vocab;
  std::vector<int32_t> prompt(50);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 3 + 1) % vocab);
  ASSERT_TRUE(gpu->Eval(prompt).ok());
  const fs::path file = fs::temp_directory_path() / "engram-forward-cuda-test.kv";
  ASSERT_TRUE(gpu->SaveCache(file.string()).ok());
  ASSERT_TRUE(cpu->LoadCache(file.string()).ok());
  auto gpu2 = MakeContext(l.model, Device::kCuda);
  ASSERT_TRUE(gpu2->LoadCache(file.string()).ok());
  const int32_t next = 4;
  ASSERT_TRUE(gpu->Eval({&next, 1}).ok());
  ASSERT_TRUE(cpu->Eval({&next, 1}).ok());
  ASSERT_TRUE(gpu2->Eval({&next, 1}).ok());
  ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol, "GPU cache on the CPU");
  EXPECT_EQ(Copy(gpu2->logits()), Copy(gpu->logits())) << "GPU cache reloaded on the GPU";
  fs::remove(file);
}

std::unique_ptr<LlamaContext> MakeSparseContext(std::shared_ptr<const LlamaModel> model,
                                                Device device, AttentionKind kind,
                                                bool offload = false) {
  ContextOptions options;
  options.n_ctx = 1024;
  options.n_threads = 2;
  options.device = device;
  options.kv_offload = offload;
  options.attention.kind = kind;
  options.attention.budget = 0.1;
  options.attention.sinks = 4;
  options.attention.window = 32;
  auto ctx = LlamaContext::Create(std::move(model), options);
  EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
  return ctx.ok() ? std::move(*ctx) : nullptr;
}

// Window chooses the same keys on both devices, so the logits agree as decode steps do. Quest
// on the GPU ranks pages by the raw bound (the CPU by the bound relative to each query head's
// best page) and retrieval scores candidate pages exactly instead of probing the CPU's index:
// both are held to full attention's top-1 instead.
TEST_F(ForwardCudaTest, SparseDecodePoliciesOnTheGpu) {
  testing::TinyLlamaSpec spec;
  spec.n_embd = 256;
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama(spec);
  ASSERT_NE(l.model, nullptr);
  const int vocab = l.model->config().n_vocab;
  std::vector<int32_t> prompt(600);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 11 + 5) % vocab);
  for (AttentionKind kind : {AttentionKind::kWindow}) {
    auto gpu = MakeSparseContext(l.model, Device::kCuda, kind);
    auto cpu = MakeSparseContext(l.model, Device::kCpu, kind);
    ASSERT_TRUE(gpu && cpu);
    ASSERT_TRUE(gpu->Eval(prompt).ok());
    ASSERT_TRUE(cpu->Eval(prompt).ok());
    for (int step = 0; step < 6; ++step) {
      const int32_t token = (step * 3 + 2) % vocab;
      ASSERT_TRUE(gpu->Eval({&token, 1}).ok());
      ASSERT_TRUE(cpu->Eval({&token, 1}).ok());
      ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol,
                  std::string(AttentionKindName(kind)) + " step " + std::to_string(step));
    }
  }
  for (AttentionKind kind : {AttentionKind::kQuest, AttentionKind::kRetrieval}) {
    auto sparse = MakeSparseContext(l.model, Device::kCuda, kind);
    auto full = MakeContext(l.model, Device::kCpu, 1024);
    ASSERT_TRUE(sparse && full);
    ASSERT_TRUE(sparse->Eval(prompt).ok());
    ASSERT_TRUE(full->Eval(prompt).ok());
    int same = 0;
    for (int step = 0; step < 10; ++step) {
      const int32_t token = (step * 3 + 2) % vocab;
      ASSERT_TRUE(sparse->Eval({&token, 1}).ok());
      ASSERT_TRUE(full->Eval({&token, 1}).ok());
      const auto a = sparse->logits(), b = full->logits();
      same += std::max_element(a.begin(), a.end()) - a.begin() ==
              std::max_element(b.begin(), b.end()) - b.begin();
    }
    EXPECT_GE(same, 8) << AttentionKindName(kind) << " on the GPU against full attention";
  }
}

// Offloaded: the cache in host memory, the GPU attending sinks and window, the CPU the keys its
// index retrieves. The CPU's retrieval path makes the same choice, so the logits agree.
TEST_F(ForwardCudaTest, OffloadedRetrievalMatchesTheCpu) {
  testing::TinyLlamaSpec spec;
  spec.n_embd = 256;
  const testing::LoadedTinyLlama l = testing::LoadTinyLlama(spec);
  ASSERT_NE(l.model, nullptr);
  const int vocab = l.model->config().n_vocab;
  auto gpu = MakeSparseContext(l.model, Device::kCuda, AttentionKind::kRetrieval, true);
  auto cpu = MakeSparseContext(l.model, Device::kCpu, AttentionKind::kRetrieval);
  ASSERT_TRUE(gpu && cpu);
  std::vector<int32_t> prompt(700);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 5 + 1) % vocab);
  ASSERT_TRUE(gpu->Eval(prompt).ok());  // prefill on the CPU
  ASSERT_TRUE(cpu->Eval(prompt).ok());
  for (int step = 0; step < 40; ++step) {  // past a block boundary and an index batch
    const int32_t token = (step * 7 + 3) % vocab;
    ASSERT_TRUE(gpu->Eval({&token, 1}).ok());
    ASSERT_TRUE(cpu->Eval({&token, 1}).ok());
    ExpectClose(gpu->logits(), cpu->logits(), vocab, kDecodeTol, "offload step " + std::to_string(step));
  }
  const DecodeStats stats = gpu->decode_stats();
  EXPECT_GT(stats.offload_cpu_seconds, 0.0);
  std::printf("offloaded decode: %.2f ms/step, CPU attention %.0f%%, waiting for the GPU %.0f%%\n",
              1000.0 * stats.seconds / std::max<int64_t>(1, stats.steps),
              100.0 * stats.offload_cpu_seconds / stats.seconds,
              100.0 * stats.offload_wait_seconds / stats.seconds);
}

// The default model on the GPU against llama.cpp's goldens (scripts/goldens/llamacpp_logits.py)
// and against the CPU path: top-1 at every recorded position, max |Δlogit| printed.
TEST_F(ForwardCudaTest, DefaultModelMatchesLlamaCppGoldens) {
  Result<fs::path> path = DefaultModelPath("generator");
  if (!path.ok()) GTEST_SKIP() << path.status().ToString();
  auto model = LlamaModel::Load(path->string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::ifstream in(fs::path(ENGRAM_TEST_DATA_DIR) / "logits" / "smollm2_q4_1.json");
  const json golden = json::parse(in);
  auto gpu = MakeContext(*model, Device::kCuda, 512);
  auto cpu = MakeContext(*model, Device::kCpu, 512);
  ASSERT_TRUE(gpu && cpu);
  const int vocab = (*model)->config().n_vocab;
  int positions = 0, same = 0, ties = 0;
  double max_vs_llamacpp = 0.0, max_vs_cpu = 0.0;
  for (const json& prompt : golden["prompts"]) {
    if (prompt.contains("at")) continue;  // the long prompt's sampled positions: CPU test
    const std::vector<int32_t> tokens = prompt["tokens"];
    gpu->Rewind(0);
    cpu->Rewind(0);
    ASSERT_TRUE(gpu->Eval(tokens, LogitsMode::kAll).ok());
    ASSERT_TRUE(cpu->Eval(tokens, LogitsMode::kAll).ok());
    max_vs_cpu = std::max(max_vs_cpu, Compare(gpu->logits(), cpu->logits(), vocab, 0).max_abs);
    for (size_t t = 0; t < tokens.size(); ++t) {
      const json& pos = prompt["positions"][t];
      const auto ours = gpu->logits().subspan(t * vocab, vocab);
      const std::vector<int32_t> ids = pos["top_ids"];
      const std::vector<float> theirs = pos["top_logits"];
      ++positions;
      const auto top = std::max_element(ours.begin(), ours.end()) - ours.begin();
      if (top == ids[0]) {
        ++same;
      } else if (pos["top2_gap"].get<float>() < 0.05f) {
        ++ties;
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        max_vs_llamacpp = std::max(max_vs_llamacpp,
                                   static_cast<double>(std::fabs(ours[ids[i]] - theirs[i])));
      }
    }
  }
  std::printf("default model on %s: top-1 %d/%d identical to llama.cpp (%d more at near-ties), "
              "max |dlogit| %.4f vs llama.cpp, %.4f vs engram's CPU path\n",
              gpu->device_name().c_str(), same, positions, ties, max_vs_llamacpp, max_vs_cpu);
  EXPECT_EQ(same + ties, positions);
}

}  // namespace
}  // namespace engram::inference
