#include "inference/lm_reranker.h"

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
    ctx_->Rewind(0);
    if (Status s = ctx_->Eval(prompt); !s.ok()) return s;
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
