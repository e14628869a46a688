// Evaluation state for one sequence of a LlamaModel: the KV cache, the scratch buffers and the
// threads. Feed tokens, read logits.
//
//   Result<std::unique_ptr<LlamaContext>> ctx = LlamaContext::Create(model, {.n_ctx = 4096});
//   Status s = (*ctx)->Eval(prompt_tokens);            // batched prefill
//   std::span<const float> logits = (*ctx)->logits();  // n_vocab floats for the last token
//   s = (*ctx)->Eval({&next, 1});                       // one decode step
//
// Each Eval appends its tokens at position() and grows the cache; Rewind(n) forgets everything
// from position n on (to retry, or to reuse a shared prompt prefix).
//
// Thread safety: a context is used by one thread at a time; create one per concurrent sequence
// (they may share the model).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "common/compute_team.h"
#include "common/result.h"
#include "inference/kv_cache.h"
#include "inference/llama_model.h"

namespace engram::inference {

struct ContextOptions {
  int64_t n_ctx = 0;       // positions the cache holds; 0: the model's training context
  int n_threads = 0;       // threads, the caller included; 0: one per hardware thread
  int n_ubatch = 512;      // tokens evaluated together in prefill (bounds scratch memory)
  TensorType kv_type = TensorType::kF16;  // kF16 (llama.cpp's default) or kF32
};

enum class LogitsMode {
  kLast,  // logits of the last token only
  kAll,   // logits of every evaluated token (n_tokens × n_vocab)
};

class LlamaContext {
 public:
  static Result<std::unique_ptr<LlamaContext>> Create(std::shared_ptr<const LlamaModel> model,
                                                      const ContextOptions& options);
  ~LlamaContext();

  // Evaluates `tokens` at positions [position(), position() + size). kOutOfRange when they do
  // not fit in n_ctx; kInvalidArgument for a token id outside the vocabulary (nothing is
  // evaluated then).
  Status Eval(std::span<const int32_t> tokens, LogitsMode mode = LogitsMode::kLast);

  // Logits of the last Eval: n_vocab floats (kLast) or tokens × n_vocab (kAll).
  std::span<const float> logits() const { return logits_; }

  int64_t position() const { return cache_->length(); }
  int64_t n_ctx() const { return cache_->capacity(); }
  void Rewind(int64_t position) { cache_->Truncate(position); }

  const LlamaModel& model() const { return *model_; }
  const KvCache& kv_cache() const { return *cache_; }
  int n_threads() const { return static_cast<int>(team_.size()); }

 private:
  struct Scratch;
  LlamaContext(std::shared_ptr<const LlamaModel> model, const ContextOptions& options);
  // Runs the network over one batch at positions [pos0, pos0 + n). Writes logits to `logits`
  // (null: none) for every token (all_logits) or the last one.
  void EvalBatch(std::span<const int32_t> tokens, int64_t pos0, float* logits, bool all_logits);
  // Prepares `input` (n rows of k floats) for products with `weight_type` weights; reuses the
  // previous preparation of the same input.
  const uint8_t* Prepare(TensorType weight_type, const float* input, int64_t n, int64_t k);
  // out_i = input · W_iᵀ for up to three matrices sharing the input, in one parallel loop.
  struct Product {
    const WeightMatrix* w;
    float* out;
  };
  void Linear(std::initializer_list<Product> products, const float* input, int64_t n);
  void Attention(int layer, int64_t pos0, int64_t n);

  std::shared_ptr<const LlamaModel> model_;
  ContextOptions options_;
  ComputeTeam team_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<Scratch> scratch_;
  std::vector<float> logits_;
};

}  // namespace engram::inference
