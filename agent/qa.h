// Question answering over documents: `engram ask`, `engram eval qa` and (later) the server's
// document tools all go through QaPipeline.
//
//   QaPipeline qa(engine.get(), collection.get(), kv_cache.get());   // engine, kv may be null
//   Result<Answer> a = qa.Ask("How does engram keep a killed ingest from corrupting a collection?",
//                             {.mode = AskMode::kAuto},
//                             [](std::string_view piece) { std::fputs(...); return true; });
//   // a->text: "... one WriteBatch [1] ..."; a->citations[0]: {1, "docs/architecture.md", 1042, 1876, "..."}
//
// Modes:
//   none   the model alone, no sources (the floor an eval compares against).
//   rag    hybrid search (k chunks) -> the best chunks packed into the source budget, in document
//          order, numbered [1]..[n] -> the chat template with an instruction to answer only from
//          the sources and cite them as [n] -> generate -> each [n] mapped to the chunk's
//          document:begin-end with a quoted snippet. A citation to a number that was not in the
//          prompt is dropped from the text and reported (dropped_citations): an answer never
//          carries an invalid citation. With `compress` (opt-in), when the k chunks do not
//          all fit the budget, 2k candidates are compressed question-aware to it instead
//          (compress/compressor.h, whole sentences, milliseconds): more, shorter sources, each
//          [n] still citing its document through the kept spans (Citation::spans). When they
//          all fit, the prompt is the same as without compression.
//   long   the documents themselves (when they fit the context) as one prompt prefix: prefilled
//          once, its KV cache kept in the DocumentKvCache keyed by (model digest, prefix tokens),
//          and every later question answered from a fork of it with the engine's attention
//          policy. Supporting spans are attributed after generation (a search with question +
//          answer) and marked `supporting`.
//   auto   long when the documents fit the context, else rag.
// Without an engine (no generator model) or with `extractive`, the answer is the best supporting
// sentences of the retrieved chunks, each cited, and `extractive` is set.
//
// Thread safety: one Ask at a time per pipeline (it owns one inference context).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"
#include "retrieval/collection.h"

namespace engram::agent {

class DocumentKvCache;
namespace internal {
struct QaState;
}  // namespace internal

enum class AskMode { kNone, kRag, kLong, kAuto };
std::string_view AskModeName(AskMode mode);  // "none", "rag", "long", "auto"
Result<AskMode> ParseAskMode(std::string_view name);

struct AskOptions {
  AskMode mode = AskMode::kAuto;
  int k = 8;  // chunks retrieved (rag, attribution, extractive): 1..retrieval::kMaxSearchK
  // Tokens the sources may take in the prompt (rag); 0: what the context leaves after the
  // instruction, the question and max_answer_tokens.
  int64_t budget_tokens = 0;
  int32_t max_answer_tokens = 256;
  bool extractive = false;       // supporting sentences instead of a generated answer
  int extractive_sentences = 3;  // 1..20
  // Ask only this document of the collection (evals: a question against its own article).
  std::optional<uint64_t> document;
  // rag: when the retrieved chunks do not fit the source budget, compress up to 2k candidates
  // to it (question-aware, whole sentences) instead of leaving whole chunks out. Off by
  // default: with the default 135M generator the extra, shortened sources lowered SQuAD F1
  // (docs/benchmarks.md, "rag with compression"); a larger model may gain from them.
  bool compress = false;
};

// kInvalidArgument naming the field: k, budget_tokens >= 0, max_answer_tokens >= 1, sentences.
Status ValidateAskOptions(const AskOptions& options);

struct Citation {
  int source = 0;             // the [n] the answer carries; 0 for a supporting span
  std::string document;       // the name shown: QaPipeline::SetDisplayName, else the source
  size_t begin = 0, end = 0;  // byte span in the document's parsed text
  std::string snippet;        // a quote from the span (whole words, at most ~200 bytes)
  // Attributed after generation, not cited by the model: long mode's passages, and rag's
  // sources that share the answer's terms when the model cited none.
  bool supporting = false;
  // rag with compression: the byte spans of the document the prompt's source really held, in
  // order (begin/end is their extent; the snippet quotes the most relevant one). Empty: the
  // source held all of begin..end.
  std::vector<std::pair<size_t, size_t>> spans;
};

struct AskTiming {
  double retrieve_ms = 0;    // search (and attribution search in long mode)
  double compress_ms = 0;    // rag: compressing the sources to the budget (AskCompression)
  double prefill_ms = 0;     // the prompt (rag, none) or the document prefix (long, cold)
  double cache_load_ms = 0;  // long: loading the document's cached KV (a hit)
  double ttft_ms = 0;        // from the question to the first answer token
  double decode_ms = 0;
  double decode_tokens_per_s = 0;
  double total_ms = 0;
  int64_t prompt_tokens = 0;  // tokens the model read for this answer (cached prefix included)
  int64_t generated_tokens = 0;
  bool cache_hit = false;  // long: the document prefix came from the KV cache
};

// What rag's compression did (AskOptions::compress).
struct AskCompression {
  bool applied = false;      // the chunks did not fit the source budget and were compressed
  int sources_in = 0;        // candidate sources given to the compressor
  int sources_out = 0;       // sources left in the prompt
  int64_t tokens_in = 0;     // the candidates' tokens
  int64_t tokens_out = 0;    // the kept text's tokens (within the source budget)
};

struct Answer {
  std::string text;
  std::vector<Citation> citations;
  std::vector<int> dropped_citations;  // [n] the model wrote that named no source in the prompt
  AskMode mode = AskMode::kRag;        // the mode that ran (auto resolved)
  bool extractive = false;
  std::string note;  // why the answer is extractive, which documents were skipped, ...
  int sources = 0;   // rag: numbered sources in the prompt
  AskCompression compression;
  AskTiming timing;
};

class QaPipeline {
 public:
  // `engine` may be null: answers are then extractive. `collection` must outlive the pipeline.
  // `kv_cache` may be null: long mode then prefills the documents for every question.
  QaPipeline(const inference::Engine* engine, retrieval::Collection* collection,
             DocumentKvCache* kv_cache);
  ~QaPipeline();

  // How citations name a document source (the path a user typed instead of the canonical one).
  void SetDisplayName(const std::string& source, const std::string& name);

  // kInvalidArgument for an empty question or one longer than the prompt budget, bad options;
  // kOutOfRange for `long` when the documents do not fit the context; errors of the parts.
  // `on_text` (optional) receives the answer as it is generated; return false to stop.
  Result<Answer> Ask(std::string_view question, const AskOptions& options,
                     const std::function<bool(std::string_view)>& on_text = {});

  // Multiple choice (QuALITY): the log-likelihood of each option as the model's answer, summed
  // over the option's tokens, with the same prompt Ask would build for options.mode (none: the
  // question alone; rag: the sources; long: the documents, decoded with the engine's attention
  // policy). Needs an engine (kFailedPrecondition without one).
  Result<std::vector<double>> ScoreOptions(std::string_view question,
                                           std::span<const std::string> choices,
                                           const AskOptions& options);

 private:
  std::unique_ptr<internal::QaState> s_;
};

}  // namespace engram::agent
