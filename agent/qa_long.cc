// long mode: the documents themselves as a cached prompt prefix, and multiple-choice scoring.
#include <spdlog/spdlog.h>

#include <cmath>

#include "agent/document_kv_cache.h"
#include "agent/internal/qa_state.h"
#include "common/sha256.h"

namespace engram::agent {
namespace {

// The cache entry of a prefix: model, KV layout and tokens.
std::string PrefixKey(internal::QaState& s, std::span<const int32_t> prefix) {
  const inference::ContextOptions& c = s.engine->options().context;
  const std::string variant = std::string(inference::KvTypeName(c.kv_type)) + "/b" +
                              std::to_string(c.kv_block_size);
  return DocumentKvCache::EntryKey(s.model_digest, variant, prefix);
}

// The documents a long prompt holds: the one asked about, else all of the collection's.
Result<std::vector<retrieval::DocumentInfo>> LongDocuments(internal::QaState& s,
                                                           const AskOptions& options) {
  if (options.document) {
    ENGRAM_TRY_ASSIGN(retrieval::DocumentInfo d, s.collection->Get(*options.document));
    return std::vector<retrieval::DocumentInfo>{std::move(d)};
  }
  return s.collection->List();
}

Status DoesNotFit(int64_t tokens, int64_t limit, std::string_view what) {
  return Status::OutOfRange("ask: " + std::string(what) + " take " + std::to_string(tokens) +
                            " tokens with the question and the answer, more than the context of " +
                            std::to_string(limit) + "; use --mode rag (or auto) or a larger --ctx");
}

}  // namespace

Result<LongPrompt> BuildLongPrompt(internal::QaState& s, std::string_view question,
                                   const AskOptions& options) {
  ENGRAM_TRY_ASSIGN(std::vector<retrieval::DocumentInfo> docs, LongDocuments(s, options));
  if (docs.empty()) return Status::NotFound("ask: the collection holds no documents");
  const int64_t limit = s.engine->context_length();
  uint64_t bytes = 0;
  for (const retrieval::DocumentInfo& d : docs) bytes += d.bytes;
  // Far more bytes than the context could hold tokens: no need to tokenize to know.
  if (bytes > static_cast<uint64_t>(limit) * 16) {
    return DoesNotFit(static_cast<int64_t>(bytes / 4), limit, "the documents (about)");
  }
  std::string block;
  for (const retrieval::DocumentInfo& d : docs) {
    ENGRAM_TRY_ASSIGN(std::string text, s.collection->DocumentText(d.id));
    auto name = s.display.find(d.source);
    const std::string& title =
        !d.title.empty() ? d.title : (name != s.display.end() ? name->second : d.source);
    block += "Document: " + title + "\n\n" + text + "\n\n";
  }
  LongPrompt out;
  std::vector<size_t> starts;
  const std::vector<std::string> segments = {block, internal::QuestionBlock(question)};
  out.tokens = internal::ChatPrompt(*s.engine, internal::kLongInstruction, segments, &starts);
  out.prefix_tokens = starts[1];
  const int64_t needed = static_cast<int64_t>(out.tokens.size()) + options.max_answer_tokens;
  if (needed > limit) return DoesNotFit(needed, limit, "the documents");
  return out;
}

Status LoadPrefix(internal::QaState& s, const LongPrompt& prompt, AskTiming* timing) {
  ENGRAM_TRY_ASSIGN(inference::LlamaContext * ctx, s.Context(s.engine->options().context.attention));
  const std::span<const int32_t> prefix(prompt.tokens.data(), prompt.prefix_tokens);
  if (s.model_digest.empty()) {
    if (s.kv_cache != nullptr) {
      ENGRAM_TRY_ASSIGN(s.model_digest, s.kv_cache->ModelDigest(s.engine->model_path()));
    } else {
      s.model_digest = "in-process";
    }
  }
  const std::string key = PrefixKey(s, prefix);
  if (key == s.prefix_key && ctx->position() >= s.prefix_tokens) {
    ctx->Rewind(s.prefix_tokens);  // the previous question's turn goes; the documents stay
    timing->cache_hit = true;
    return Status::OK();
  }
  s.prefix_key.clear();
  const auto load_start = Clock::now();
  if (s.kv_cache != nullptr) {
    Result<bool> hit = s.kv_cache->Load(key, *ctx);
    if (!hit.ok()) spdlog::warn("ask: {}; prefilling the documents instead", hit.status().message());
    if (hit.ok() && *hit && ctx->position() == static_cast<int64_t>(prefix.size())) {
      timing->cache_hit = true;
      timing->cache_load_ms = MillisecondsSince(load_start);
      s.prefix_key = key;
      s.prefix_tokens = static_cast<int64_t>(prefix.size());
      return Status::OK();
    }
  }
  const auto prefill_start = Clock::now();
  ctx->Rewind(0);
  if (Status st = ctx->Eval(prefix); !st.ok()) return st;
  ctx->PrepareAttention();  // the key index is part of what is cached
  timing->prefill_ms = MillisecondsSince(prefill_start);
  if (s.kv_cache != nullptr) {
    // A cache that cannot keep the documents only costs the next question its speed.
    if (Status st = s.kv_cache->Store(key, *ctx); !st.ok()) spdlog::warn("ask: {}", st.message());
  }
  s.prefix_key = key;
  s.prefix_tokens = static_cast<int64_t>(prefix.size());
  return Status::OK();
}

Result<Answer> AskLong(internal::QaState& s, std::string_view question, const AskOptions& options,
                       Clock::time_point asked,
                       const std::function<bool(std::string_view)>& on_text) {
  Answer answer;
  answer.mode = AskMode::kLong;
  ENGRAM_TRY_ASSIGN(LongPrompt prompt, BuildLongPrompt(s, question, options));
  if (Status st = LoadPrefix(s, prompt, &answer.timing); !st.ok()) return st;
  const std::span<const int32_t> suffix =
      std::span<const int32_t>(prompt.tokens).subspan(prompt.prefix_tokens);
  ENGRAM_TRY_ASSIGN(Generated g, GenerateAnswer(*s.engine, *s.ctx, suffix, {}, options, asked,
                                                on_text));
  TakeGenerated(std::move(g), &answer);  // long mode asks for no [n]: nothing is cited
  answer.timing.prompt_tokens = static_cast<int64_t>(prompt.tokens.size());

  // Supporting spans: what the documents say closest to the question and its answer.
  const auto attribution_start = Clock::now();
  const std::string query = std::string(question) + "\n" + StripCitations(answer.text);
  ENGRAM_TRY_ASSIGN(std::vector<retrieval::SearchHit> hits,
                    s.Search(query, std::min(options.k, 3), options));
  answer.timing.retrieve_ms = MillisecondsSince(attribution_start);
  for (const retrieval::SearchHit& h : hits) {
    answer.citations.push_back(s.Cite(0, h.source, h.begin, h.end, h.text, true));
  }
  answer.timing.total_ms = MillisecondsSince(asked);
  return answer;
}

namespace {

double LogSoftmaxAt(std::span<const float> logits, int32_t token) {
  float m = logits[0];
  for (float v : logits) m = std::max(m, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - m));
  return static_cast<double>(logits[static_cast<size_t>(token)] - m) - std::log(sum);
}

// The log-likelihood of `tokens` continuing the context's sequence, whose last logits are
// `first_logits`; the sequence is cut back afterwards. Token by token under a sparse policy (so
// the policy decides what each step attends, as in decoding), else in one batch.
Result<double> ContinuationLogLikelihood(inference::LlamaContext& ctx,
                                         std::span<const float> first_logits,
                                         std::span<const int32_t> tokens) {
  const int64_t start = ctx.position();
  double sum = LogSoftmaxAt(first_logits, tokens[0]);
  const size_t vocab = first_logits.size();
  if (ctx.attention().kind == inference::AttentionKind::kFull) {
    if (Status st = ctx.Eval(tokens.first(tokens.size() - 1), inference::LogitsMode::kAll);
        !st.ok()) {
      return st;
    }
    const std::span<const float> all = ctx.logits();
    for (size_t i = 1; i < tokens.size(); ++i) {
      sum += LogSoftmaxAt(all.subspan((i - 1) * vocab, vocab), tokens[i]);
    }
  } else {
    for (size_t i = 1; i < tokens.size(); ++i) {
      if (Status st = ctx.Eval(tokens.subspan(i - 1, 1)); !st.ok()) return st;
      sum += LogSoftmaxAt(ctx.logits(), tokens[i]);
    }
  }
  ctx.Rewind(start);
  return sum;
}

}  // namespace

Result<std::vector<double>> QaPipeline::ScoreOptions(std::string_view question,
                                                     std::span<const std::string> choices,
                                                     const AskOptions& options) {
  internal::QaState& s = *s_;
  if (s.engine == nullptr) {
    return Status::FailedPrecondition("ask: scoring options needs a generator model");
  }
  if (Status st = ValidateAskOptions(options); !st.ok()) return st;
  std::vector<int32_t> prompt;
  size_t evaluated = 0;  // tokens of `prompt` already in the context
  if (options.mode == AskMode::kLong || options.mode == AskMode::kAuto) {
    Result<LongPrompt> long_prompt = BuildLongPrompt(s, question, options);
    if (long_prompt.ok()) {
      AskTiming timing;
      if (Status st = LoadPrefix(s, *long_prompt, &timing); !st.ok()) return st;
      prompt = std::move(long_prompt->tokens);
      evaluated = long_prompt->prefix_tokens;
    } else if (options.mode == AskMode::kLong ||
               long_prompt.status().code() != StatusCode::kOutOfRange) {
      return long_prompt.status();
    }
  }
  if (prompt.empty()) {
    // rag (or auto that does not fit) and none: the prompt Ask would build, with full attention.
    std::vector<std::string> segments = {internal::QuestionBlock(question)};
    std::string_view instruction = internal::kBareInstruction;
    if (options.mode != AskMode::kNone) {
      const int64_t budget = options.budget_tokens > 0 ? options.budget_tokens
                                                       : s.engine->context_length() / 2;
      Answer unused;  // what the sources report
      ENGRAM_TRY_ASSIGN(const std::vector<internal::Source> sources,
                        RagSources(s, question, options, budget, &unused));
      segments.insert(segments.begin(), internal::SourcesBlock(sources));
      instruction = internal::kRagInstruction;
    }
    prompt = internal::ChatPrompt(*s.engine, instruction, segments);
    ENGRAM_TRY_ASSIGN(inference::LlamaContext * ctx, s.Context({}));
    ctx->Rewind(0);
    s.prefix_key.clear();
  }
  inference::LlamaContext& ctx = *s.ctx;
  if (Status st = ctx.Eval(std::span<const int32_t>(prompt).subspan(evaluated)); !st.ok()) return st;
  const std::vector<float> first(ctx.logits().begin(), ctx.logits().end());
  std::vector<double> scores;
  for (const std::string& choice : choices) {
    const std::vector<int32_t> tokens = s.engine->tokenizer().Encode(choice);
    if (tokens.empty()) {
      scores.push_back(-INFINITY);
      continue;
    }
    if (ctx.position() + static_cast<int64_t>(tokens.size()) > ctx.n_ctx()) {
      return Status::OutOfRange("ask: an option does not fit the context after the prompt");
    }
    ENGRAM_TRY_ASSIGN(const double ll, ContinuationLogLikelihood(ctx, first, tokens));
    scores.push_back(ll);
  }
  return scores;
}

}  // namespace engram::agent
