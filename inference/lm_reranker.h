// LmReranker: reranks passages by how likely a language model finds the question after reading
// each one (unsupervised passage reranking, Sachan et al. 2022, "UPR"):
//
//   score(passage) = mean over the question's tokens of log p(token | prompt(passage), earlier)
//
// where prompt(passage) asks, in the model's chat template, for a question about the passage
// and the question is the answer. No training, no model beyond the default generator; the cost
// is one prefill of each passage (truncated to max_passage_tokens; the template's common start
// is evaluated once and kept) per query, reported apart from retrieval's latency in
// docs/benchmarks.md.
//
//   Result<std::unique_ptr<LmReranker>> reranker = LmReranker::Create(engine);
//   Result<std::vector<double>> scores = (*reranker)->Score(question, passages);
//
// Thread safety: one Score at a time (a reranker owns one inference context).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"
#include "retrieval/reranker.h"

namespace engram::inference {

struct LmRerankerOptions {
  int max_passage_tokens = 320;   // a longer passage keeps its first tokens
  int max_question_tokens = 64;   // a longer question keeps its first tokens
  int threads = 0;                // 0: the engine's context option
};

class LmReranker final : public retrieval::Reranker {
 public:
  // kInvalidArgument for token limits outside 8..4096.
  static Result<std::unique_ptr<LmReranker>> Create(const Engine& engine,
                                                    const LmRerankerOptions& options = {});
  ~LmReranker() override;

  std::string_view Name() const override { return "lm-question-likelihood"; }
  Result<std::vector<double>> Score(std::string_view query,
                                    std::span<const std::string> passages) override;

 private:
  LmReranker(const Engine& engine, const LmRerankerOptions& options,
             std::unique_ptr<LlamaContext> ctx);
  Status EvalPrompt(std::span<const int32_t> prompt);

  const Engine& engine_;
  LmRerankerOptions options_;
  std::unique_ptr<LlamaContext> ctx_;
  std::vector<int32_t> shared_prefix_;  // the template tokens every prompt starts with
  bool prefix_evaluated_ = false;       // shared_prefix_ is in ctx_ at positions [0, size)
};

}  // namespace engram::inference
