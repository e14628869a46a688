// The fine stage's scorer: how informative and how question-relevant each token of a text is,
// under a language model (the default generator). For token x_i of a segment:
//
//   self_information  -log p(x_i | x_<i)                     (LLMLingua)
//   contrast          log p(x_i | question, x_<i) - log p(x_i | x_<i)
//                     (LongLLMLingua's contrastive perplexity: what the question makes likelier)
//
// The text is scored in segments of `segment_tokens` tokens, each seen after its own prefix only
// (the begin token, or the begin token and the question), so the cost is linear in the text:
// two forward passes over every token, plus the question once.
//
//   Result<std::unique_ptr<TokenScorer>> scorer = TokenScorer::Create(*engine);
//   Result<std::vector<ScoredToken>> tokens = (*scorer)->Score("Who wrote it?", text, 256);
//   // tokens[i].begin/end: the bytes of `text` token i covers
//
// Thread safety: one Score at a time (a scorer owns one inference context).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"

namespace engram::compress {

struct ScoredToken {
  size_t begin = 0, end = 0;  // bytes of the text
  double self_information = 0.0;
  double contrast = 0.0;
};

class TokenScorer {
 public:
  // The question is truncated to its last kMaxQuestionTokens tokens for conditioning.
  static constexpr int kMaxQuestionTokens = 512;
  static constexpr int kMaxSegmentTokens = 4096;

  // A scorer with its own context on the engine's model (the weights are shared). `threads`:
  // 0 uses the engine's context option.
  static Result<std::unique_ptr<TokenScorer>> Create(const inference::Engine& engine,
                                                     int threads = 0);
  ~TokenScorer();

  // Every token of `text`, in order, with the bytes it covers (they tile the text). Empty text:
  // no tokens. kInvalidArgument for segment_tokens outside 16..kMaxSegmentTokens.
  Result<std::vector<ScoredToken>> Score(std::string_view question, std::string_view text,
                                         int segment_tokens);

 private:
  struct State;
  explicit TokenScorer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace engram::compress
