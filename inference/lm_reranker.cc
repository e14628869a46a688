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
    : engine_(engine), options_(options), ctx_(std::move(ctx)), home_(ctx_->sequence()) {}
LmReranker::~LmReranker() = default;

Result<std::unique_ptr<LmReranker>> LmReranker::Create(const Engine& engine,
                                                       const LmRerankerOptions& options) {
  if (Status s = CheckLimit("max_passage_tokens", options.max_passage_tokens); !s.ok()) return s;
  if (Status s = CheckLimit("max_question_tokens", options.max_question_tokens); !s.ok()) return s;
  if (options.cached_passages < 0 || options.cached_passages > 4096) {
    return Status::InvalidArgument("lm reranker: cached_passages " +
                                   std::to_string(options.cached_passages) +
                                   " is out of range; use 0..4096");
  }
  ContextOptions context = engine.options().context;
  context.n_ctx = options.max_passage_tokens + options.max_question_tokens + 128;
  // Every cached prompt, the one being scored, and the shared prefix (untouched pages cost no
  // memory, so the pool's size is only a bound).
  context.kv_pool_positions = context.n_ctx * (options.cached_passages + 2);
  context.attention = {};  // prefill only: full attention
  if (options.threads > 0) context.n_threads = options.threads;
  Result<std::unique_ptr<LlamaContext>> ctx = engine.NewContext(context);
  if (!ctx.ok()) return ctx.status();
  return std::unique_ptr<LmReranker>(new LmReranker(engine, options, std::move(*ctx)));
}

// Every prompt begins with the same template tokens (the system turn, "Passage:"): they are
// evaluated once, in home_, and each prompt's sequence forks from there, so a passage costs only
// its own tokens. The prefix is always its own Eval, so a passage scores the same whatever was
// scored before it.
size_t LmReranker::SharedPrefixLength(std::span<const int32_t> prompt) {
  if (shared_prefix_.empty()) {
    const ChatMessage a{"user", "Passage: a"}, b{"user", "Passage: b"};
    const std::vector<int32_t> x = engine_.EncodeChat(std::span(&a, 1));
    const std::vector<int32_t> y = engine_.EncodeChat(std::span(&b, 1));
    size_t n = 0;
    while (n < x.size() && n < y.size() && x[n] == y[n]) ++n;
    shared_prefix_.assign(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n > 0 ? n - 1 : 0));
  }
  const size_t n = shared_prefix_.size();
  // The prompt's last token is evaluated with the question, so the prefix must end before it.
  if (n == 0 || prompt.size() <= n + 1 ||
      !std::equal(shared_prefix_.begin(), shared_prefix_.end(), prompt.begin())) {
    return 0;
  }
  return n;
}

Result<int64_t> LmReranker::PromptSequence(std::span<const int32_t> prompt) {
  const std::span<const int32_t> held = prompt.first(prompt.size() - 1);
  std::string key(reinterpret_cast<const char*>(held.data()), held.size_bytes());
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    cached_.splice(cached_.begin(), cached_, it->second);
    if (Status st = ctx_->Switch(it->second->sequence); !st.ok()) return st;
    return it->second->length;
  }
  const size_t shared = SharedPrefixLength(prompt);
  if (Status st = ctx_->Switch(home_); !st.ok()) return st;
  if (shared > 0 && !prefix_evaluated_) {
    ctx_->Rewind(0);
    if (Status st = ctx_->Eval(shared_prefix_); !st.ok()) return st;
    prefix_evaluated_ = true;
  }
  // A fork of home_ shares the prefix's blocks; a prompt without it starts empty.
  Result<SequenceId> sequence = shared > 0 ? ctx_->Fork() : ctx_->NewSequence();
  if (!sequence.ok()) return sequence.status();
  Status evaluated = ctx_->Switch(*sequence);
  if (evaluated.ok()) evaluated = ctx_->Eval(held.subspan(shared));
  if (!evaluated.ok()) {
    (void)ctx_->Switch(home_);
    (void)ctx_->Free(*sequence);
    return evaluated;
  }
  cached_.push_front({std::move(key), *sequence, static_cast<int64_t>(held.size())});
  by_key_[cached_.front().key] = cached_.begin();
  return cached_.front().length;
}

void LmReranker::Evict(size_t keep) {
  while (cached_.size() > keep) {
    if (ctx_->sequence() == cached_.back().sequence) (void)ctx_->Switch(home_);
    (void)ctx_->Free(cached_.back().sequence);
    by_key_.erase(cached_.back().key);
    cached_.pop_back();
  }
}

// The mean log probability of `question` after `prompt`: the prompt's last token and the
// question's tokens but the last are one Eval, whose row j predicts question[j].
Result<double> LmReranker::QuestionLogProbability(std::span<const int32_t> prompt,
                                                  std::span<const int32_t> question) {
  Evict(static_cast<size_t>(options_.cached_passages));  // room for one more prompt
  ENGRAM_TRY_ASSIGN(const int64_t length, PromptSequence(prompt));
  std::vector<int32_t> rows = {prompt.back()};
  rows.insert(rows.end(), question.begin(), question.end() - 1);
  const Status evaluated = ctx_->Eval(rows, LogitsMode::kAll);
  double sum = 0.0;
  if (evaluated.ok()) {
    const size_t vocab = static_cast<size_t>(ctx_->model().config().n_vocab);
    const std::span<const float> logits = ctx_->logits();
    for (size_t j = 0; j < question.size(); ++j) {
      sum += LogProbability(logits.subspan(j * vocab, vocab), question[j]);
    }
  }
  ctx_->Rewind(length);
  if (!evaluated.ok()) {
    Evict(0);  // a failed Eval may leave the sequence unusable
    return evaluated;
  }
  Evict(static_cast<size_t>(std::max(options_.cached_passages, 1)));
  return sum / static_cast<double>(question.size());
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
    ENGRAM_TRY_ASSIGN(const double score, QuestionLogProbability(prompt, question));
    scores.push_back(score);
  }
  Evict(static_cast<size_t>(options_.cached_passages));
  return scores;
}

}  // namespace engram::inference
