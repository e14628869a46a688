#include "agent/qa.h"

#include <algorithm>
#include <cctype>

#include "agent/internal/qa_state.h"
#include "retrieval/bm25.h"

namespace engram::agent {

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string_view AskModeName(AskMode mode) {
  switch (mode) {
    case AskMode::kNone: return "none";
    case AskMode::kRag: return "rag";
    case AskMode::kLong: return "long";
    case AskMode::kAuto: return "auto";
  }
  return "auto";
}

Result<AskMode> ParseAskMode(std::string_view name) {
  for (AskMode m : {AskMode::kNone, AskMode::kRag, AskMode::kLong, AskMode::kAuto}) {
    if (name == AskModeName(m)) return m;
  }
  return Status::InvalidArgument("mode '" + std::string(name) +
                                 "' is not one of rag, long, auto, none");
}

Status ValidateAskOptions(const AskOptions& o) {
  auto bad = [](std::string what) { return Status::InvalidArgument("ask: " + what); };
  if (o.k < 1 || o.k > retrieval::kMaxSearchK) {
    return bad("k " + std::to_string(o.k) + " must be within 1.." +
               std::to_string(retrieval::kMaxSearchK));
  }
  if (o.budget_tokens < 0) {
    return bad("the source budget " + std::to_string(o.budget_tokens) +
               " tokens must be >= 0 (0: what the context leaves)");
  }
  if (o.max_answer_tokens < 1 || o.max_answer_tokens > (1 << 20)) {
    return bad("the answer limit " + std::to_string(o.max_answer_tokens) +
               " tokens must be within 1..1048576");
  }
  if (o.extractive_sentences < 1 || o.extractive_sentences > 20) {
    return bad("extractive sentences " + std::to_string(o.extractive_sentences) +
               " must be within 1..20");
  }
  return Status::OK();
}

// ---- State ---------------------------------------------------------------------------------

Result<inference::LlamaContext*> internal::QaState::Context(
    const inference::AttentionOptions& attention) {
  if (ctx == nullptr) {
    ENGRAM_TRY_ASSIGN(ctx, engine->NewContext());
  }
  const inference::AttentionOptions& now = ctx->attention();
  if (now.kind != attention.kind || now.index != attention.index ||
      now.budget != attention.budget || now.sinks != attention.sinks ||
      now.window != attention.window) {
    if (Status st = ctx->SetAttention(attention); !st.ok()) return st;
  }
  return ctx.get();
}

int64_t internal::QaState::CountTokens(std::string_view text) const {
  return static_cast<int64_t>(engine->tokenizer().Encode(text).size());
}

Result<std::vector<retrieval::SearchHit>> internal::QaState::Search(
    std::string_view query, int k, const AskOptions& options) const {
  retrieval::SearchOptions search;
  search.mode = retrieval::SearchMode::kHybrid;
  search.k = k;
  search.document = options.document;
  // The search sees at most kMaxQueryBytes of the query (question + answer in attribution).
  std::string_view q = query.substr(0, retrieval::kMaxQueryBytes);
  while (!q.empty() && (static_cast<unsigned char>(q.back()) & 0xC0) == 0x80) q.remove_suffix(1);
  if (!q.empty() && static_cast<unsigned char>(q.back()) >= 0xC0) q.remove_suffix(1);
  return collection->Search(q, search);
}

Citation internal::QaState::Cite(int number, const std::string& source, size_t begin, size_t end,
                                 std::string_view text, bool supporting) const {
  auto it = display.find(source);
  return {.source = number, .document = it == display.end() ? source : it->second,
          .begin = begin, .end = end, .snippet = Snippet(text), .supporting = supporting,
          .spans = {}};
}

// ---- Generation ----------------------------------------------------------------------------

Result<Generated> GenerateAnswer(const inference::Engine& engine, inference::LlamaContext& ctx,
                                 std::span<const int32_t> prompt, std::set<int> valid_sources,
                                 const AskOptions& options, Clock::time_point asked,
                                 const std::function<bool(std::string_view)>& on_text) {
  Generated g;
  CitationFilter filter(std::move(valid_sources));
  inference::GenerateOptions generation = engine.options().generation;
  generation.max_tokens = options.max_answer_tokens;
  generation.on_token = [&g, asked](int32_t) {
    if (g.ttft_ms == 0) g.ttft_ms = MillisecondsSince(asked);
  };
  bool stopped = false;
  auto emit = [&](std::string_view text) {
    g.text += text;
    if (on_text && !stopped && !text.empty() && !on_text(text)) stopped = true;
    return !stopped;
  };
  ENGRAM_TRY_ASSIGN(g.stats, engine.Generate(ctx, prompt, generation, [&](std::string_view piece) {
    return emit(filter.Feed(piece));
  }));
  emit(filter.Flush());
  // Answers from small models often start with white space or end mid-line.
  while (!g.text.empty() && std::isspace(static_cast<unsigned char>(g.text.back()))) {
    g.text.pop_back();
  }
  const size_t first = g.text.find_first_not_of(" \n\t");
  g.text.erase(0, first == std::string::npos ? g.text.size() : first);
  g.cited = filter.cited();
  g.dropped = filter.dropped();
  return g;
}

std::vector<int> TakeGenerated(Generated g, Answer* answer) {
  answer->text = std::move(g.text);
  answer->dropped_citations = std::move(g.dropped);
  AskTiming& t = answer->timing;
  t.ttft_ms = g.ttft_ms;
  t.decode_ms = g.stats.decode_ms;
  t.decode_tokens_per_s = g.stats.DecodeTokensPerSecond();
  t.generated_tokens = g.stats.generated_tokens;
  t.prefill_ms += g.stats.prefill_ms;
  return std::move(g.cited);
}

// rag and none: the whole prompt evaluated from position 0 with full attention.
Result<std::vector<int>> AnswerFromScratch(internal::QaState& s, std::span<const int32_t> prompt,
                                           std::set<int> valid_sources, const AskOptions& options,
                                           Clock::time_point asked,
                                           const std::function<bool(std::string_view)>& on_text,
                                           Answer* answer) {
  ENGRAM_TRY_ASSIGN(inference::LlamaContext * ctx, s.Context({}));
  ctx->Rewind(0);
  s.prefix_key.clear();
  ENGRAM_TRY_ASSIGN(Generated g, GenerateAnswer(*s.engine, *ctx, prompt, std::move(valid_sources),
                                                options, asked, on_text));
  answer->timing.prompt_tokens = static_cast<int64_t>(prompt.size());
  return TakeGenerated(std::move(g), answer);
}

// ---- rag and none --------------------------------------------------------------------------

// The sources (numbers) sharing the most answer terms not already in the question, best first:
// at most two, each sharing at least two such terms.
std::vector<int> SupportingSources(std::span<const internal::Source> sources,
                                   std::string_view question, std::string_view answer) {
  std::set<std::string> asked, terms;
  for (std::string& t : retrieval::Bm25Terms(question)) asked.insert(std::move(t));
  for (std::string& t : retrieval::Bm25Terms(answer)) {
    if (!asked.contains(t)) terms.insert(std::move(t));
  }
  std::vector<std::pair<size_t, int>> shared;  // (terms shared, number)
  for (const internal::Source& src : sources) {
    std::set<std::string> in_source;
    for (std::string& t : retrieval::Bm25Terms(src.text)) in_source.insert(std::move(t));
    size_t n = 0;
    for (const std::string& t : terms) n += in_source.contains(t) ? 1 : 0;
    if (n >= 2) shared.emplace_back(n, src.number);
  }
  std::stable_sort(shared.begin(), shared.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int> out;
  for (size_t i = 0; i < shared.size() && i < 2; ++i) out.push_back(shared[i].second);
  return out;
}

// The citation of prompt source `src`: its document span, or with compression the extent of
// its kept spans, each listed, quoting the most relevant one.
Citation CiteSource(const internal::QaState& s, const internal::Source& src, bool supporting) {
  if (src.spans.empty()) {
    return s.Cite(src.number, src.source, src.begin, src.end, src.text, supporting);
  }
  // The quote's text: the kept bytes, which are the document's bytes at src.quote.
  std::string_view quote;
  size_t at = 0;  // offset of the current span in src.text (spans joined by one space)
  for (const auto& [b, e] : src.spans) {
    if (src.quote.first >= b && src.quote.second <= e) {
      quote = std::string_view(src.text).substr(at + (src.quote.first - b),
                                                src.quote.second - src.quote.first);
      break;
    }
    at += e - b + 1;
  }
  Citation c = s.Cite(src.number, src.source, src.begin, src.end, quote, supporting);
  c.spans = src.spans;
  return c;
}

Result<Answer> AskRag(internal::QaState& s, std::string_view question, const AskOptions& options,
                      Clock::time_point asked,
                      const std::function<bool(std::string_view)>& on_text) {
  Answer answer;
  answer.mode = AskMode::kRag;

  // What the sources may take: the context less the prompt without sources and the answer.
  const std::string question_block = internal::QuestionBlock(question);
  const std::vector<std::string> bare = {internal::SourcesBlock({}), question_block};
  const int64_t overhead =
      static_cast<int64_t>(internal::ChatPrompt(*s.engine, internal::kRagInstruction, bare).size());
  const int64_t available = s.engine->context_length() - overhead - options.max_answer_tokens;
  if (available <= 0) {
    return Status::InvalidArgument(
        "ask: the question (" + std::to_string(overhead) + " prompt tokens with the instruction) "
        "and the answer limit (" + std::to_string(options.max_answer_tokens) +
        " tokens) leave no room for sources in a context of " +
        std::to_string(s.engine->context_length()) + " tokens; shorten the question or use a "
        "larger --ctx");
  }
  const int64_t budget =
      options.budget_tokens > 0 ? std::min(options.budget_tokens, available) : available;
  ENGRAM_TRY_ASSIGN(const std::vector<internal::Source> sources,
                    RagSources(s, question, options, budget, &answer));
  answer.sources = static_cast<int>(sources.size());
  if (sources.empty()) {
    answer.text = "No passage of the documents matches the question.";
    answer.timing.total_ms = MillisecondsSince(asked);
    return answer;
  }
  const std::vector<std::string> segments = {internal::SourcesBlock(sources), question_block};
  const std::vector<int32_t> prompt =
      internal::ChatPrompt(*s.engine, internal::kRagInstruction, segments);
  std::set<int> valid;
  for (const internal::Source& src : sources) valid.insert(src.number);

  ENGRAM_TRY_ASSIGN(const std::vector<int> cited,
                    AnswerFromScratch(s, prompt, std::move(valid), options, asked, on_text, &answer));
  for (int n : cited) {
    answer.citations.push_back(CiteSource(s, sources[static_cast<size_t>(n - 1)], false));
  }
  if (cited.empty()) {
    // Small models often cite nothing: name the sources the answer draws on, marked as such.
    for (int n : SupportingSources(sources, question, answer.text)) {
      answer.citations.push_back(CiteSource(s, sources[static_cast<size_t>(n - 1)], true));
    }
  }
  answer.timing.total_ms = MillisecondsSince(asked);
  return answer;
}

Result<Answer> AskNone(internal::QaState& s, std::string_view question, const AskOptions& options,
                       Clock::time_point asked,
                       const std::function<bool(std::string_view)>& on_text) {
  Answer answer;
  answer.mode = AskMode::kNone;
  const std::vector<std::string> segments = {internal::QuestionBlock(question)};
  const std::vector<int32_t> prompt =
      internal::ChatPrompt(*s.engine, internal::kBareInstruction, segments);
  if (static_cast<int64_t>(prompt.size()) + options.max_answer_tokens > s.engine->context_length()) {
    return Status::InvalidArgument("ask: the question is " + std::to_string(prompt.size()) +
                                   " prompt tokens, too long for a context of " +
                                   std::to_string(s.engine->context_length()) + " tokens");
  }
  if (Result<std::vector<int>> cited =
          AnswerFromScratch(s, prompt, {}, options, asked, on_text, &answer);
      !cited.ok()) {
    return cited.status();
  }
  answer.timing.total_ms = MillisecondsSince(asked);
  return answer;
}

// ---- The pipeline --------------------------------------------------------------------------

QaPipeline::QaPipeline(const inference::Engine* engine, retrieval::Collection* collection,
                       DocumentKvCache* kv_cache)
    : s_(std::make_unique<internal::QaState>()) {
  s_->engine = engine;
  s_->collection = collection;
  s_->kv_cache = kv_cache;
}

QaPipeline::~QaPipeline() = default;

void QaPipeline::SetDisplayName(const std::string& source, const std::string& name) {
  s_->display[source] = name;
}

Result<Answer> QaPipeline::Ask(std::string_view question, const AskOptions& options,
                               const std::function<bool(std::string_view)>& on_text) {
  const auto asked = Clock::now();
  if (Status st = ValidateAskOptions(options); !st.ok()) return st;
  if (question.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::InvalidArgument("ask: the question is empty; give the question as text");
  }
  if (s_->engine == nullptr || options.extractive) {
    return AskExtractive(*s_, question, options, asked);
  }
  switch (options.mode) {
    case AskMode::kNone: return AskNone(*s_, question, options, asked, on_text);
    case AskMode::kRag: return AskRag(*s_, question, options, asked, on_text);
    case AskMode::kLong: return AskLong(*s_, question, options, asked, on_text);
    case AskMode::kAuto: break;
  }
  Result<Answer> long_answer = AskLong(*s_, question, options, asked, on_text);
  if (long_answer.ok() || long_answer.status().code() != StatusCode::kOutOfRange) {
    return long_answer;
  }
  Result<Answer> rag = AskRag(*s_, question, options, asked, on_text);
  if (rag.ok()) rag->note = "the documents do not fit the context: answered from retrieved sources";
  return rag;
}

}  // namespace engram::agent
