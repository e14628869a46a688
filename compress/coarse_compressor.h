// The coarse stage of question-aware prompt compression (LongLLMLingua's coarse step, at
// sentence level): the documents' sentences are ranked by relevance to the question (BM25 over
// the sentences, plus cosine similarity when an embedder is given), each document's rank lifts
// its sentences (a dynamic budget by document rank), and the best sentences are kept, in their
// original order, until the token budget is spent. The output comes with a SourceMap, so every
// kept byte maps back to its document.
//
//   CoarseOptions options;
//   options.ratio = 4;                                   // or options.budget_tokens = 300
//   auto count = [&](std::string_view s) { return tokenizer.Count(s); };
//   Result<Compressed> c = CompressCoarse(question, documents, options, count, &embedder);
//   // c->text, c->map.Map(b, e), c->tokens_in, c->tokens_out
//
// The question is never part of the output (callers put it, the instructions and the latest
// turn around the compressed context, uncompressed). The token-level fine stage (conditional
// self-information under the language model) builds on this one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compress/source_map.h"
#include "retrieval/embedder.h"

namespace engram::compress {

struct CoarseOptions {
  double ratio = 0.0;         // tokens in / tokens out, > 1 (exactly one of ratio, budget)
  int64_t budget_tokens = 0;  // tokens out at most, > 0
  // Weight of the embedding similarity against BM25 (both scaled to [0, 1]) when an embedder
  // is given; BM25 alone without one.
  double dense_weight = 0.5;
  // How much a document's relevance (its best sentence's) adds to each of its sentences.
  double document_weight = 0.3;
  // The units ranked and kept: 0 sentences; N > 0 retrieval's chunks of at most N tokens
  // (retrieval/chunker.h, no overlap): whole chunks by rank, the "retrieval only" baseline.
  int chunk_tokens = 0;
};

// The largest ratio accepted (anything above keeps nothing useful).
inline constexpr double kMaxCompressionRatio = 1000.0;

// A sentence the coarse stage kept: where it is in the output and how relevant it was.
struct KeptSentence {
  size_t out_begin = 0, out_end = 0;
  double score = 0.0;
  int tokens = 0;
};

struct Compressed {
  std::string text;             // kept sentences; " " within a document, "\n\n" between
  SourceMap map;
  int64_t tokens_in = 0;        // count_tokens summed over the documents
  int64_t tokens_out = 0;       // count_tokens(text)
  size_t sentences_in = 0, sentences_kept = 0;
  std::vector<KeptSentence> kept;              // the coarse stage's, in output order
  size_t words_scored = 0, words_dropped = 0;  // the fine stage's (compress/compressor.h)
  double coarse_ms = 0.0, fine_ms = 0.0;       // time per stage
};

// kInvalidArgument unless exactly one of them is set, the ratio in (1, kMaxCompressionRatio]
// and the budget > 0 (the message names the flag, --ratio or --budget-tokens).
Status ValidateRatioOrBudget(double ratio, int64_t budget_tokens);

// kInvalidArgument for: no document or only white space, text that is not UTF-8 (naming the
// document and byte), neither or both of ratio and budget, a ratio <= 1 or above
// kMaxCompressionRatio, a budget <= 0. Errors of the embedder pass through.
Result<Compressed> CompressCoarse(std::string_view question,
                                  const std::vector<std::string>& documents,
                                  const CoarseOptions& options,
                                  const std::function<int(std::string_view)>& count_tokens,
                                  retrieval::Embedder* embedder = nullptr);

}  // namespace engram::compress
