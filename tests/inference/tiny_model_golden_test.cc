// Tiny random f32 models of the variants the default model does not exercise (qwen2 with biases
// and neox rope; llama with linear rope scaling; llama with llama3 per-frequency factors),
// against llama.cpp's logits on the same files (scripts/goldens/tiny_models.py). Without
// quantized weights or activations the two engines must agree closely at every position.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "inference/llama_context.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(ENGRAM_TEST_DATA_DIR);

class TinyModelGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModelGoldenTest, LogitsMatchLlamaCpp) {
  std::ifstream in(kData / "logits" / "tiny_models.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json golden = nlohmann::json::parse(in);
  const std::vector<int32_t> tokens = golden["tokens"];
  const auto& expected = golden["models"][GetParam()];
  auto model = LlamaModel::Load((kData / "models" / GetParam()).string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ctx = LlamaContext::Create(*model, {.n_ctx = 64, .n_threads = 2});
  ASSERT_TRUE(ctx.ok());
  ASSERT_TRUE((*ctx)->Eval(tokens, LogitsMode::kAll).ok());
  const int vocab = (*model)->config().n_vocab;
  double max_diff = 0.0, sum_diff = 0.0, max_logit = 0.0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::vector<float> row = expected[t];
    ASSERT_EQ(row.size(), static_cast<size_t>(vocab));
    for (int i = 0; i < vocab; ++i) {
      const double d = std::fabs((*ctx)->logits()[t * vocab + i] - row[i]);
      max_diff = std::max(max_diff, d);
      sum_diff += d;
      max_logit = std::max(max_logit, std::fabs(static_cast<double>(row[i])));
    }
  }
  std::printf("%s: max |dlogit| %.2e, mean %.2e (logits up to %.1f)\n", GetParam().c_str(),
              max_diff, sum_diff / (tokens.size() * vocab), max_logit);
  EXPECT_LT(max_diff, 2e-3 * std::max(1.0, max_logit));
}

INSTANTIATE_TEST_SUITE_P(Models, TinyModelGoldenTest,
                         ::testing::Values("tiny_qwen2.gguf", "tiny_llama_linear.gguf",
                                           "tiny_llama3_freqs.gguf"),
                         [](const auto& info) {
                           return info.param.substr(5, info.param.size() - 10);
                         });

}  // namespace
}  // namespace engram::inference
