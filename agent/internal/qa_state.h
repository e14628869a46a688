// What QaPipeline (agent/qa.h) keeps between questions, and the steps its modes share. Private to
// agent/qa*.cc.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/citations.h"
#include "agent/internal/qa_prompt.h"
#include "agent/qa.h"

namespace engram::agent {

using Clock = std::chrono::steady_clock;
double MillisecondsSince(Clock::time_point start);

namespace internal {
struct QaState {
  const inference::Engine* engine = nullptr;
  retrieval::Collection* collection = nullptr;
  DocumentKvCache* kv_cache = nullptr;
  std::map<std::string, std::string> display;  // source -> name in citations
  std::unique_ptr<inference::LlamaContext> ctx;  // made on first use

  // long mode: the document prefix the current sequence of `ctx` starts with.
  std::string prefix_key;
  int64_t prefix_tokens = 0;
  std::string model_digest;  // of the engine's model file, once known

  // The context, made on first use, with `attention` as its decode policy.
  Result<inference::LlamaContext*> Context(const inference::AttentionOptions& attention);
  int64_t CountTokens(std::string_view text) const;
  Result<std::vector<retrieval::SearchHit>> Search(std::string_view query, int k,
                                                   const AskOptions& options) const;
  Citation Cite(int number, const std::string& source, size_t begin, size_t end,
                std::string_view text, bool supporting) const;
};
}  // namespace internal

// One generated answer with its citations checked (CitationFilter).
struct Generated {
  std::string text;
  std::vector<int> cited, dropped;
  inference::GenerateStats stats;
  double ttft_ms = 0;  // from `asked` to the first token
};
Result<Generated> GenerateAnswer(const inference::Engine& engine, inference::LlamaContext& ctx,
                                 std::span<const int32_t> prompt, std::set<int> valid_sources,
                                 const AskOptions& options, Clock::time_point asked,
                                 const std::function<bool(std::string_view)>& on_text);
// Moves the text, dropped citations and generation timings into `answer` (prefill time added to
// what is there); returns the valid numbers the answer cited.
std::vector<int> TakeGenerated(Generated g, Answer* answer);

// The modes (agent/qa.cc, qa_long.cc, qa_extractive.cc).
Result<Answer> AskRag(internal::QaState& s, std::string_view question, const AskOptions& options,
                      Clock::time_point asked,
                      const std::function<bool(std::string_view)>& on_text);
Result<Answer> AskNone(internal::QaState& s, std::string_view question, const AskOptions& options,
                       Clock::time_point asked,
                       const std::function<bool(std::string_view)>& on_text);
Result<Answer> AskLong(internal::QaState& s, std::string_view question, const AskOptions& options,
                       Clock::time_point asked,
                       const std::function<bool(std::string_view)>& on_text);
Result<Answer> AskExtractive(internal::QaState& s, std::string_view question,
                             const AskOptions& options, Clock::time_point asked);

// rag's sources within `budget` tokens (agent/qa_sources.cc): the k best chunks packed whole,
// or, with options.compress when they do not all fit, up to 2k candidates compressed to the
// budget. Adds the search time to report->timing.retrieve_ms and fills report->compression and
// timing.compress_ms when compression ran, report->note when no source is left. Errors of
// the search.
Result<std::vector<internal::Source>> RagSources(internal::QaState& s, std::string_view question,
                                                 const AskOptions& options, int64_t budget,
                                                 Answer* report);

// long mode's prompt: the documents as a prefix, then the question.
struct LongPrompt {
  std::vector<int32_t> tokens;
  size_t prefix_tokens = 0;  // tokens[0, prefix_tokens) do not depend on the question
};
// kOutOfRange naming the sizes when the documents and the question do not fit the context.
Result<LongPrompt> BuildLongPrompt(internal::QaState& s, std::string_view question,
                                   const AskOptions& options);
// Makes the context's current sequence hold exactly `prompt`'s prefix (from memory, the KV
// cache store, or a prefill that is then stored) with the engine's attention policy.
Status LoadPrefix(internal::QaState& s, const LongPrompt& prompt, AskTiming* timing);

}  // namespace engram::agent
