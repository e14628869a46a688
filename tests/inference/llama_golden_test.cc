// The default model's logits against llama.cpp's (llama-cpp-python, logits_all=True, same GGUF;
// goldens by scripts/goldens/llamacpp_logits.py): top-1 agreement at every position, logit and
// KL figures, and greedy continuations. Also the same model converted to F16 by the gguf
// package (scripts/make_f16_model.sh), which separates quantization effects from bugs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/default_models.h"
#include "common/paths.h"
#include "inference/llama_context.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kGoldenDir = fs::path(ENGRAM_TEST_DATA_DIR) / "logits";
// Positions where llama.cpp's own top-2 logits are this close count as ties.
constexpr float kTieGap = 1e-3f;

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read golden file " << path;
  return json::parse(in);
}

Result<fs::path> ModelPath(const std::string& file) {
  if (file == "SmolLM2-135M-Instruct.Q4_1.gguf") return DefaultModelPath("generator");
  Result<fs::path> dir = ResolveModelsDir();
  if (!dir.ok()) return dir.status();
  const fs::path path = *dir / file;
  if (!fs::exists(path)) {
    const std::string fetch = file.starts_with("gemma-3") ? "scripts/fetch_models.sh --with gemma3"
                                                         : "scripts/make_f16_model.sh (scripts/setup.sh does)";
    return Status::NotFound("model '" + path.string() + "' is missing; run " + fetch);
  }
  return path;
}

std::shared_ptr<const LlamaModel> LoadModel(const std::string& file) {
  Result<fs::path> path = ModelPath(file);
  EXPECT_TRUE(path.ok()) << path.status().ToString();
  if (!path.ok()) return nullptr;
  auto model = LlamaModel::Load(path->string());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

int32_t Argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

double LogSumExp(std::span<const float> v) {
  const float max = *std::max_element(v.begin(), v.end());
  double sum = 0.0;
  for (float x : v) sum += std::exp(static_cast<double>(x) - max);
  return max + std::log(sum);
}

struct Figures {
  int positions = 0, top1_same = 0, top1_ties = 0;
  double max_abs = 0.0, sum_abs = 0.0, sum_kl = 0.0, max_kl = 0.0;
  long compared = 0;
};

// The same figures for llama.cpp with flash attention against llama.cpp without: two valid
// orders of the same float operations. On a model with 8-bit activations a last-bit difference
// in attention can flip an activation's rounding, and that spreads, so this is the envelope
// within which no implementation can be told apart from llama.cpp itself.
struct Envelope {
  int top1_same = 0, positions = 0;
  double mean_abs = 0.0, max_abs = 0.0, mean_kl = 0.0;
};

Envelope ReadEnvelope(const std::string& golden_file) {
  const json e = ReadJson(kGoldenDir / golden_file)["llama_cpp_flash_attn_vs_default"];
  return {e["top1_same"], e["positions"], e["mean_abs"], e["max_abs"], e["mean_kl"]};
}

// One recorded position: engram's logits there against llama.cpp's.
void ComparePosition(const json& pos, std::span<const float> ours, const std::string& where,
                     Figures& f) {
  const std::vector<int32_t> ids = pos["top_ids"];
  const std::vector<float> theirs = pos["top_logits"];
  const int32_t top = Argmax(ours);
  ++f.positions;
  if (top == ids[0]) {
    ++f.top1_same;
  } else if (pos["top2_gap"].get<float>() < kTieGap) {
    ++f.top1_ties;
  } else {
    std::printf("  %s: engram's top-1 %d, llama.cpp's %d (its top-2 gap %.4f)\n", where.c_str(),
                top, ids[0], pos["top2_gap"].get<float>());
  }
  // |Δlogit| and KL(llama.cpp ‖ engram) over llama.cpp's top tokens.
  const double lse_ours = LogSumExp(ours);
  const double lse_theirs = pos["logsumexp"].get<double>();
  double kl = 0.0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const double d = std::fabs(ours[ids[i]] - theirs[i]);
    f.max_abs = std::max(f.max_abs, d);
    f.sum_abs += d;
    ++f.compared;
    const double lp = theirs[i] - lse_theirs, lq = ours[ids[i]] - lse_ours;
    kl += std::exp(lp) * (lp - lq);
  }
  f.sum_kl += kl;
  f.max_kl = std::max(f.max_kl, kl);
}

// A prompt's logits at every position, or (with "at", for long prompts) at the listed ones:
// then the prompt is evaluated in pieces ending at each, keeping only the last logits.
void ComparePrompt(const json& prompt, LlamaContext& ctx, int vocab, Figures& f) {
  const std::vector<int32_t> tokens = prompt["tokens"];
  const std::string name = prompt["name"];
  ctx.Rewind(0);
  if (!prompt.contains("at")) {
    EXPECT_TRUE(ctx.Eval(tokens, LogitsMode::kAll).ok());
    for (size_t t = 0; t < tokens.size(); ++t) {
      ComparePosition(prompt["positions"][t], ctx.logits().subspan(t * vocab, vocab),
                      name + " position " + std::to_string(t), f);
    }
    return;
  }
  const std::vector<size_t> at = prompt["at"];
  for (size_t j = 0; j < at.size(); ++j) {
    const size_t begin = static_cast<size_t>(ctx.position());
    EXPECT_TRUE(ctx.Eval(std::span(tokens).subspan(begin, at[j] + 1 - begin)).ok());
    ComparePosition(prompt["positions"][j], ctx.logits(),
                    name + " position " + std::to_string(at[j]), f);
  }
}

Figures CompareLogits(const std::string& golden_file, int threads) {
  const json golden = ReadJson(kGoldenDir / golden_file);
  Figures f;
  const auto model = LoadModel(golden["model"]);
  if (!model) return f;
  const int64_t n_ctx = golden["settings"].value("n_ctx", 512);
  auto ctx = LlamaContext::Create(model, {.n_ctx = n_ctx, .n_threads = threads});
  EXPECT_TRUE(ctx.ok());
  for (const json& prompt : golden["prompts"]) {
    ComparePrompt(prompt, **ctx, model->config().n_vocab, f);
  }
  std::printf("%s: top-1 %d/%d identical (%d at llama.cpp near-ties), |dlogit| max %.4f mean "
              "%.4f, KL(llama.cpp||engram) mean %.2e max %.2e\n",
              golden_file.c_str(), f.top1_same, f.positions, f.top1_ties, f.max_abs,
              f.sum_abs / std::max<long>(1, f.compared), f.sum_kl / std::max(1, f.positions),
              f.max_kl);
  return f;
}

// engram against llama.cpp must stay within twice the envelope (and never have a clear top-1
// disagreement more often than the envelope allows, plus two).
void ExpectWithinEnvelope(const std::string& golden_file) {
  const Figures f = CompareLogits(golden_file, 2);
  const Envelope e = ReadEnvelope(golden_file);
  std::printf("%s: llama.cpp flash-attention vs default: top-1 %d/%d, |dlogit| max %.4f mean "
              "%.4f, KL mean %.2e\n",
              golden_file.c_str(), e.top1_same, e.positions, e.max_abs, e.mean_abs, e.mean_kl);
  ASSERT_EQ(f.positions, e.positions);
  const int clear_misses = f.positions - f.top1_same - f.top1_ties;
  EXPECT_LE(clear_misses, 2 * (e.positions - e.top1_same) + 2);
  EXPECT_LE(f.sum_abs / f.compared, 2.0 * e.mean_abs + 1e-3);
  EXPECT_LE(f.sum_kl / f.positions, 2.0 * e.mean_kl + 1e-5);
}

TEST(LlamaGoldenTest, DefaultModelLogitsMatchLlamaCpp) {
  ExpectWithinEnvelope("smollm2_q4_1.json");
}

TEST(LlamaGoldenTest, F16ModelLogitsMatchLlamaCpp) {
  ExpectWithinEnvelope("smollm2_f16.json");
}

// Gemma 3 270M (the optional second generator): sliding-window and global layers, q/k norms,
// GeGLU; the long prompt's positions past 512 exercise the window.
TEST(LlamaGoldenTest, Gemma3LogitsMatchLlamaCpp) {
  if (Result<fs::path> path = ModelPath("gemma-3-270m-q4_k_m.gguf"); !path.ok()) {
    GTEST_SKIP() << path.status().ToString();
  }
  ExpectWithinEnvelope("gemma3_q4_k_m.json");
}

// Greedy continuations: engram follows llama.cpp token for token until a step where the two
// differ. llama.cpp with flash attention on is held to the same comparison (it splits from the
// default run after 58, 25 and 33 tokens, at steps where the default's winner led by up to 0.28):
// engram may split only where llama.cpp's lead is at most twice the largest lead its own
// flash-attention run split at (the median lead of a step is about 1.3). How far the two follow
// each other is printed, not asserted: on this model any last-bit change moves the split point
// (the chaos the logits envelope above measures). The issue asked for splits only at leads
// < 1e-3; llama.cpp itself does not meet that across its two attention paths on this
// 8-bit-activation model (docs/benchmarks.md).
struct GreedyFigures {
  size_t ours = 0, flash = 0, prompts = 0;
};

GreedyFigures CompareGreedy(const std::string& golden_file, bool check_split_gaps = true) {
  GreedyFigures figures;
  const json golden = ReadJson(kGoldenDir / golden_file);
  const auto model = LoadModel(golden["model"]);
  EXPECT_NE(model, nullptr);
  if (!model) return figures;
  const int64_t n_ctx = golden["settings"].value("n_ctx", 512);
  auto ctx = LlamaContext::Create(model, {.n_ctx = n_ctx, .n_threads = 2});
  EXPECT_TRUE(ctx.ok());
  size_t ours_total = 0, flash_total = 0;
  float flash_split_gap = 0.0f;  // the clearest llama.cpp winner its flash-attention run missed
  std::vector<float> our_split_gaps;
  for (const json& prompt : golden["prompts"]) {
    const std::vector<int32_t> tokens = prompt["prompt_tokens"];
    const std::vector<int32_t> expected = prompt["generated"];
    const std::vector<int32_t> flash = prompt["generated_flash_attn"];
    const std::vector<float> gaps = prompt["top2_gap"];
    size_t flash_same = 0;
    while (flash_same < expected.size() && flash[flash_same] == expected[flash_same]) ++flash_same;
    (*ctx)->Rewind(0);
    EXPECT_TRUE((*ctx)->Eval(tokens).ok());
    size_t same = 0;
    for (; same < expected.size(); ++same) {
      const int32_t next = Argmax((*ctx)->logits());
      if (next != expected[same] || !(*ctx)->Eval({&next, 1}).ok()) break;
    }
    std::printf("%s %s: engram follows llama.cpp for %zu/%zu tokens (llama.cpp with flash "
                "attention: %zu)%s\n",
                golden_file.c_str(), prompt["name"].get<std::string>().c_str(), same,
                expected.size(), flash_same,
                same < expected.size() ? "" : ", all");
    if (same < expected.size()) our_split_gaps.push_back(gaps[same]);
    if (flash_same < expected.size()) flash_split_gap = std::max(flash_split_gap, gaps[flash_same]);
    ours_total += same;
    flash_total += flash_same;
  }
  std::printf("%s: engram follows llama.cpp for %zu tokens in all, llama.cpp with flash "
              "attention for %zu; their split steps had llama.cpp leads up to %.3f\n",
              golden_file.c_str(), ours_total, flash_total, flash_split_gap);
  for (float gap : check_split_gaps ? our_split_gaps : std::vector<float>{}) {
    EXPECT_LE(gap, std::max(2 * flash_split_gap, 0.05f))
        << "engram split from llama.cpp where its winner led by " << gap
        << "; its own flash-attention run split at up to " << flash_split_gap;
  }
  figures.ours = ours_total;
  figures.flash = flash_total;
  figures.prompts = golden["prompts"].size();
  return figures;
}

TEST(LlamaGoldenTest, GreedyContinuationsMatchLlamaCpp) {
  EXPECT_EQ(CompareGreedy("smollm2_q4_1_greedy.json").prompts, 3u);
}

// Without 8-bit activations the chaos is gone: on the F16 model engram must follow llama.cpp at
// least as far as llama.cpp's own flash-attention run does.
TEST(LlamaGoldenTest, F16GreedyContinuationsMatchLlamaCpp) {
  const GreedyFigures f = CompareGreedy("smollm2_f16_greedy.json");
  EXPECT_EQ(f.prompts, 3u);
  EXPECT_GE(f.ours, f.flash);
}

TEST(LlamaGoldenTest, Gemma3GreedyContinuationsMatchLlamaCpp) {
  if (Result<fs::path> path = ModelPath("gemma-3-270m-q4_k_m.gguf"); !path.ok()) {
    GTEST_SKIP() << path.status().ToString();
  }
  // Gemma's activations are large and its weights 4-6 bit, so a last-bit difference sends a
  // continuation elsewhere at steps whose lead is well above the three prompts' flash-attention
  // splits: engram is held to following llama.cpp as far in all as llama.cpp's own
  // flash-attention run does.
  const GreedyFigures f = CompareGreedy("gemma3_q4_k_m_greedy.json", /*check_split_gaps=*/false);
  EXPECT_EQ(f.prompts, 3u);
  EXPECT_GE(f.ours, f.flash);
}

}  // namespace
}  // namespace engram::inference
