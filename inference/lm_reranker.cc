#include "inference/lm_reranker.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "inference/log_probability.h"

namespace engram::inference {
namespace {

Status CheckLimit(const char* field, int value) {
  if (value >= 8 && value <= 4096) return Status::OK();
  return Status::InvalidArgument(std::string("lm reranker: ") + field + " " +
                                 std::to_string(value) + " is out of range; use 8..4096");
}

}  // namespace

LmReranker::LmReranker(const Engine& engine, const LmRerankerOptions& options,
                       std::unique_ptr<LlamaContext> ctx)
    : engine_(engine), options_(options), ctx_(std::move(ctx)) {}
LmReranker::~LmReranker() = default;

Result<std::unique_ptr<LmReranker>> LmReranker::Create(const Engine& engine,
                                                       const LmRerankerOptions& options) {
  if (Status s = CheckLimit("max_passage_tokens", options.max_passage_tokens); !s.ok()) return s;
  if (Status s = CheckLimit("max_question_tokens", options.max_question_tokens); !s.ok()) return s;
  ContextOptions context = engine.options().context;
  context.n_ctx = options.max_passage_tokens + options.max_question_tokens + 128;
  context.kv_pool_positions = 0;
  context.attention = {};  // prefill only: full attention
  if (options.threads > 0) context.n_threads = options.threads;
  Result<std::unique_ptr<LlamaContext>> ctx = engine.NewContext(context);
  if (!ctx.ok()) return ctx.status();
  return std::unique_ptr<LmReranker>(new LmReranker(engine, options, std::move(*ctx)));
}

// Every prompt begins with the same template tokens (the system turn, "Passage:"): they are
// evaluated once and kept, so each passage costs only its own tokens. The prefix is always its
// own Eval, so a passage scores the same whatever was scored before it.
Status LmReranker::EvalPrompt(std::span<const int32_t> prompt) {
  if (shared_prefix_.empty()) {
    const ChatMessage a{"user", "Passage: a"}, b{"user", "Passage: b"};
    const std::vector<int32_t> x = engine_.EncodeChat(std::span(&a, 1));
    const std::vector<int32_t> y = engine_.EncodeChat(std::span(&b, 1));
    size_t n = 0;
    while (n < x.size() && n < y.size() && x[n] == y[n]) ++n;
    shared_prefix_.assign(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n > 0 ? n - 1 : 0));
  }
  const size_t n = shared_prefix_.size();
  if (n == 0 || prompt.size() <= n ||
      !std::equal(shared_prefix_.begin(), shared_prefix_.end(), prompt.begin())) {
    ctx_->Rewind(0);
    prefix_evaluated_ = false;
    return ctx_->Eval(prompt);
  }
  if (!prefix_evaluated_) {
    ctx_->Rewind(0);
    if (Status s = ctx_->Eval(shared_prefix_); !s.ok()) return s;
    prefix_evaluated_ = true;
  }
  ctx_->Rewind(static_cast<int64_t>(n));
  return ctx_->Eval(prompt.subspan(n));
}

Result<std::vector<double>> LmReranker::Score(std::string_view query,
                                              std::span<const std::string> passages) {
  const Tokenizer& tokenizer = engine_.tokenizer();
  std::vector<int32_t> question = tokenizer.Encode(query, {.add_special = false});
  if (question.size() > static_cast<size_t>(options_.max_question_tokens)) {
    question.resize(static_cast<size_t>(options_.max_question_tokens));
  }
  std::vector<double> scores;
  scores.reserve(passages.size());
  if (question.empty()) return std::vector<double>(passages.size(), 0.0);
  const size_t vocab = static_cast<size_t>(ctx_->model().config().n_vocab);
  for (const std::string& passage : passages) {
    std::vector<int32_t> kept = tokenizer.Encode(passage, {.add_special = false});
    std::string text = passage;
    if (kept.size() > static_cast<size_t>(options_.max_passage_tokens)) {
      kept.resize(static_cast<size_t>(options_.max_passage_tokens));
      text = tokenizer.Decode(kept);
    }
    const ChatMessage ask{"user", "Passage: " + text +
                                      "\n\nWrite a question that this passage answers."};
    const std::vector<int32_t> prompt = engine_.EncodeChat(std::span(&ask, 1));
    if (Status s = EvalPrompt(prompt); !s.ok()) return s;
    double sum = LogProbability(ctx_->logits(), question[0]);
    if (question.size() > 1) {
      if (Status s = ctx_->Eval(std::span(question).first(question.size() - 1), LogitsMode::kAll);
          !s.ok()) {
        return s;
      }
      const std::span<const float> logits = ctx_->logits();
      for (size_t j = 1; j < question.size(); ++j) {
        sum += LogProbability(logits.subspan((j - 1) * vocab, vocab), question[j]);
      }
    }
    scores.push_back(sum / static_cast<double>(question.size()));
  }
  return scores;
}

}  // namespace engram::inference
