// LmReranker: reranks passages by how likely a language model finds the question after reading
// each one (unsupervised passage reranking, Sachan et al. 2022, "UPR"):
//
//   score(passage) = mean over the question's tokens of log p(token | prompt(passage), earlier)
//
// where prompt(passage) asks, in the model's chat template, for a question about the passage
// and the question is the answer. No training, no model beyond the default generator; the cost
// is one prefill of each passage (truncated to max_passage_tokens; the template's common start
// is evaluated once and kept) and of the question after it, reported apart from retrieval's
// latency in docs/benchmarks.md. The last `cached_passages` passages' prompts stay in the cache
// (least recently used out first), so a passage scored again, for another question, costs only
// the question's tokens; a score is the same whether its passage was cached or not.
//
//   Result<std::unique_ptr<LmReranker>> reranker = LmReranker::Create(engine);
//   Result<std::vector<double>> scores = (*reranker)->Score(question, passages);
//
// Thread safety: one Score at a time (a reranker owns one inference context).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"
#include "retrieval/reranker.h"

namespace engram::inference {

struct LmRerankerOptions {
  int max_passage_tokens = 320;   // a longer passage keeps its first tokens
  int max_question_tokens = 64;   // a longer question keeps its first tokens
  int threads = 0;                // 0: the engine's context option
  // Passages whose prompt stays in the cache between Score calls, 0..4096. Each holds up to
  // about max_passage_tokens + 60 positions (SmolLM2-135M: 23 KB a position, so 32 passages
  // of 320 tokens take about 280 MB); memory is touched only as passages are cached.
  int cached_passages = 32;
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
  // A passage's prompt but its last token, held by a sequence of the cache.
  struct CachedPrompt {
    std::string key;  // the prompt's tokens, as bytes
    SequenceId sequence = 0;
    int64_t length = 0;
  };

  LmReranker(const Engine& engine, const LmRerankerOptions& options,
             std::unique_ptr<LlamaContext> ctx);
  size_t SharedPrefixLength(std::span<const int32_t> prompt);
  // Makes current a sequence holding prompt's tokens but the last (from the cache, or
  // evaluated and cached) and returns its length.
  Result<int64_t> PromptSequence(std::span<const int32_t> prompt);
  Result<double> QuestionLogProbability(std::span<const int32_t> prompt,
                                        std::span<const int32_t> question);
  // Frees the least recently used prompts past cached_passages (at least one is kept while a
  // question is scored after it).
  void Evict(size_t keep);

  const Engine& engine_;
  LmRerankerOptions options_;
  std::unique_ptr<LlamaContext> ctx_;
  SequenceId home_ = 0;                 // the context's first sequence: the shared prefix
  std::vector<int32_t> shared_prefix_;  // the template tokens every prompt starts with
  bool prefix_evaluated_ = false;       // shared_prefix_ is in home_ at positions [0, size)
  std::list<CachedPrompt> cached_;      // most recently used first
  std::unordered_map<std::string, std::list<CachedPrompt>::iterator> by_key_;
};

}  // namespace engram::inference
