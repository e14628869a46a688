// Gemma 3's sliding-window layers on the real model (skipped when it is not fetched): a long
// prefill lets go of the local layers' rows out of every later window, and that changes nothing
// the model computes; rewinding stays possible wherever an Eval began or ended, and at 0.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/default_models.h"
#include "inference/llama_context.h"

namespace engram::inference {
namespace {

std::shared_ptr<const LlamaModel> LoadGemma3OrSkip() {
  Result<std::string> path = ResolveModelArgument("gemma3", "generator");
  if (!path.ok()) return nullptr;
  Result<std::shared_ptr<const LlamaModel>> model = LlamaModel::Load(*path);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

std::vector<int32_t> Tokens(int n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) tokens[i] = 1000 + (i * 7919) % 20000;  // arbitrary text ids
  tokens[0] = 2;  // <bos>
  return tokens;
}

TEST(Gemma3WindowTest, DiscardingOutOfWindowRowsChangesNoLogits) {
  const auto model = LoadGemma3OrSkip();
  if (!model) GTEST_SKIP() << "gemma3 is not fetched (scripts/fetch_models.sh --with gemma3)";
  const int window = model->config().sliding_window;
  ASSERT_EQ(window, 512);
  const std::vector<int32_t> tokens = Tokens(1500);
  // One piece of 2048: nothing is discarded. Pieces of 512: rows before 1024 - 512 go.
  ContextOptions options;
  options.n_ctx = 2048;
  options.n_threads = 2;
  options.n_ubatch = 2048;
  auto whole = LlamaContext::Create(model, options);
  options.n_ubatch = 512;
  auto pieces = LlamaContext::Create(model, options);
  ASSERT_TRUE(whole.ok() && pieces.ok());
  ASSERT_TRUE((*whole)->Eval(tokens).ok());
  ASSERT_TRUE((*pieces)->Eval(tokens).ok());
  EXPECT_TRUE((*whole)->CanRewind(700));
  EXPECT_FALSE((*pieces)->CanRewind(700));  // rows [0, 512) went when the third piece began
  EXPECT_TRUE((*pieces)->CanRewind(1024));
  EXPECT_TRUE((*pieces)->CanRewind(1500));
  EXPECT_LT((*pieces)->decode_stats().kv_bytes, (*whole)->decode_stats().kv_bytes);
  for (int step = 0; step < 8; ++step) {  // decode steps: the same logits, nothing more let go
    const std::span<const float> a = (*whole)->logits(), b = (*pieces)->logits();
    ASSERT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end()))
        << "step " << step;
    const int32_t next = static_cast<int32_t>(std::max_element(a.begin(), a.end()) - a.begin());
    ASSERT_TRUE((*whole)->Eval({&next, 1}).ok());
    ASSERT_TRUE((*pieces)->Eval({&next, 1}).ok());
  }
  EXPECT_TRUE((*pieces)->CanRewind(1024));  // decode steps let nothing go
  // Back to the end of the prompt and on: the same as the context that kept every row.
  (*whole)->Rewind(1500);
  (*pieces)->Rewind(1500);
  const int32_t more[] = {3000, 3001, 3002};
  ASSERT_TRUE((*whole)->Eval(more).ok());
  ASSERT_TRUE((*pieces)->Eval(more).ok());
  EXPECT_EQ(std::vector<float>((*whole)->logits().begin(), (*whole)->logits().end()),
            std::vector<float>((*pieces)->logits().begin(), (*pieces)->logits().end()));
  // A question after a document, then options scored one after another (as ask does): later
  // Evals never take rows an earlier Eval wrote, so the document's end stays reachable.
  const std::vector<int32_t> question(40, 5000);
  const int32_t option[] = {4000, 4001, 4002, 4003};
  ASSERT_TRUE((*pieces)->Eval(question).ok());
  ASSERT_TRUE((*pieces)->Eval(option).ok());
  (*pieces)->Rewind(1540);
  ASSERT_TRUE((*pieces)->Eval(option).ok());
  EXPECT_TRUE((*pieces)->CanRewind(1500));
  (*pieces)->Rewind(1500);
  EXPECT_EQ((*pieces)->position(), 1500);
  // Inside the long Eval the rows are gone: the context starts over rather than read them.
  (*pieces)->Rewind(700);
  EXPECT_EQ((*pieces)->position(), 0);
  EXPECT_TRUE((*pieces)->CanRewind(700));
}

}  // namespace
}  // namespace engram::inference
