#include "compress/token_scorer.h"

#include <algorithm>
#include <cmath>

#include "inference/log_probability.h"

namespace engram::compress {

struct TokenScorer::State {
  const inference::Engine* engine = nullptr;
  std::unique_ptr<inference::LlamaContext> ctx;
};

namespace {

// The bytes of `text` each token covers, from the tokens' pieces (they concatenate to the text
// for byte-level vocabularies). A tokenizer that adds a leading space (SentencePiece) or
// normalises the text is followed as closely as the lengths allow, clipped to the text.
std::vector<ScoredToken> TokenSpans(const inference::Tokenizer& tokenizer,
                                    const std::vector<int32_t>& tokens, std::string_view text) {
  std::vector<ScoredToken> spans(tokens.size());
  size_t at = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string piece = tokenizer.TokenToPiece(tokens[i]);
    if (i == 0 && !piece.empty() && piece[0] == ' ' && (text.empty() || text[0] != ' ')) {
      piece.erase(0, 1);  // SentencePiece's added dummy prefix
    }
    spans[i].begin = std::min(at, text.size());
    at += piece.size();
    spans[i].end = std::min(at, text.size());
  }
  if (!spans.empty()) spans.back().end = text.size();
  return spans;
}

// log p(tokens[i] | prefix, tokens[first, i)) for every token of segments of `segment` tokens,
// each segment evaluated right after `prefix` (empty prefix: a segment's first token gets NaN).
Result<std::vector<double>> SegmentLogProbs(inference::LlamaContext& ctx,
                                            const std::vector<int32_t>& prefix,
                                            const std::vector<int32_t>& tokens, int segment) {
  std::vector<double> out(tokens.size(), NAN);
  const size_t vocab = static_cast<size_t>(ctx.model().config().n_vocab);
  std::vector<float> prefix_last;
  ctx.Rewind(0);
  if (!prefix.empty()) {
    if (Status s = ctx.Eval(prefix); !s.ok()) return s;
    prefix_last.assign(ctx.logits().begin(), ctx.logits().end());
  }
  for (size_t first = 0; first < tokens.size(); first += static_cast<size_t>(segment)) {
    const size_t n = std::min(tokens.size() - first, static_cast<size_t>(segment));
    ctx.Rewind(static_cast<int64_t>(prefix.size()));
    if (Status s = ctx.Eval(std::span(tokens).subspan(first, n), inference::LogitsMode::kAll);
        !s.ok()) {
      return s;
    }
    const std::span<const float> logits = ctx.logits();
    if (!prefix_last.empty()) out[first] = inference::LogProbability(prefix_last, tokens[first]);
    for (size_t j = 1; j < n; ++j) {
      out[first + j] =
          inference::LogProbability(logits.subspan((j - 1) * vocab, vocab), tokens[first + j]);
    }
  }
  return out;
}

}  // namespace

TokenScorer::TokenScorer(std::unique_ptr<State> state) : s_(std::move(state)) {}
TokenScorer::~TokenScorer() = default;

Result<std::unique_ptr<TokenScorer>> TokenScorer::Create(const inference::Engine& engine,
                                                         int threads) {
  inference::ContextOptions options = engine.options().context;
  options.n_ctx = kMaxQuestionTokens + kMaxSegmentTokens + 64;
  options.kv_pool_positions = 0;
  options.attention = {};  // prefill only: full attention
  if (threads > 0) options.n_threads = threads;
  Result<std::unique_ptr<inference::LlamaContext>> ctx = engine.NewContext(options);
  if (!ctx.ok()) return ctx.status();
  auto state = std::make_unique<State>();
  state->engine = &engine;
  state->ctx = std::move(*ctx);
  return std::unique_ptr<TokenScorer>(new TokenScorer(std::move(state)));
}

Result<std::vector<ScoredToken>> TokenScorer::Score(std::string_view question,
                                                    std::string_view text, int segment_tokens) {
  if (segment_tokens < 16 || segment_tokens > kMaxSegmentTokens) {
    return Status::InvalidArgument("compress: segment_tokens " + std::to_string(segment_tokens) +
                                   " is out of range; use 16.." +
                                   std::to_string(kMaxSegmentTokens));
  }
  const inference::Tokenizer& tokenizer = s_->engine->tokenizer();
  const std::vector<int32_t> tokens = tokenizer.Encode(text);
  std::vector<ScoredToken> scored = TokenSpans(tokenizer, tokens, text);
  if (tokens.empty()) return scored;
  std::vector<int32_t> plain;
  if (tokenizer.bos() != inference::Tokenizer::kNoToken) plain.push_back(tokenizer.bos());
  std::vector<int32_t> asked = tokenizer.Encode(std::string(question) + "\n\n");
  if (asked.size() > static_cast<size_t>(kMaxQuestionTokens)) {
    asked.erase(asked.begin(), asked.end() - kMaxQuestionTokens);
  }
  asked.insert(asked.begin(), plain.begin(), plain.end());
  Result<std::vector<double>> unconditioned =
      SegmentLogProbs(*s_->ctx, plain, tokens, segment_tokens);
  if (!unconditioned.ok()) return unconditioned.status();
  Result<std::vector<double>> conditioned =
      SegmentLogProbs(*s_->ctx, asked, tokens, segment_tokens);
  if (!conditioned.ok()) return conditioned.status();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const double with_question = (*conditioned)[i];
    // Without a begin token a segment's first token has no unconditioned probability: it is
    // scored by the conditioned one alone.
    const double without = std::isnan((*unconditioned)[i]) ? with_question : (*unconditioned)[i];
    scored[i].self_information = -without;
    scored[i].contrast = with_question - without;
  }
  return scored;
}

}  // namespace engram::compress
