// Question-aware prompt compression, coarse to fine, to a token budget or ratio (LongLLMLingua's
// recipe on engram's parts), with a map from every kept byte back to its source.
//
//   1. coarse (compress/coarse_compressor.h): sentences ranked by BM25 and embedding relevance
//      to the question, lifted by their document's rank, kept in order to the budget plus the
//      fine stage's share;
//   2. fine (compress/token_scorer.h): words of the least relevant kept sentences scored by the
//      language model, conditional self-information plus the contrast between the word's
//      log-probability after the question and without it (LongLLMLingua's contrastive
//      perplexity), in segments so the cost stays linear; the lowest-scoring words are dropped
//      until the budget is met. The most relevant sentences stay whole (an answer span in them
//      survives intact) and the language model reads only what may be cut.
//
//   CompressOptions options;
//   options.ratio = 4;                                       // or options.budget_tokens = 300
//   CompressModels models{.count_tokens = count, .embedder = &embedder, .scorer = &scorer};
//   Result<Compressed> c = Compress(question, documents, options, models);
//   for (const MappedSpan& s : c->map.Map(cite_begin, cite_end)) { ... s.document, s.begin ... }
//
// Without a scorer (models.scorer null) only the coarse stage runs, to the whole budget: whole
// sentences, milliseconds. The question is never part of the output: callers put it, the
// instructions and the latest turn around the compressed context, uncompressed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compress/coarse_compressor.h"
#include "compress/source_map.h"
#include "retrieval/embedder.h"

namespace engram::compress {

class TokenScorer;

struct CompressOptions {
  double ratio = 0.0;         // tokens in / tokens out, in (1, kMaxCompressionRatio]
  int64_t budget_tokens = 0;  // tokens out at most, > 0 (exactly one of ratio and budget)
  CoarseOptions coarse;       // the coarse stage's weights (its ratio and budget are set here)
  // Share of the budget the coarse stage keeps beyond it for the fine stage to remove: the
  // coarse stage keeps budget * (1 + fine_share) tokens and the fine stage drops words down to
  // the budget. 0 turns the fine stage off even with a scorer. [0, 4].
  double fine_share = 0.25;
  // The fine stage scores the least relevant kept sentences holding fine_scope times the tokens
  // it must drop (the rest stay whole); larger reads more with the language model. [1, 100].
  double fine_scope = 2.0;
  // Weight of the contrastive term (log p(word | question, before) - log p(word | before))
  // against the self-information (-log p(word | before)) in a word's score. [0, 100].
  double contrast_weight = 1.0;
  int segment_tokens = 256;  // tokens scored together (the context each token sees), 16..4096
};

// What a compression runs on. count_tokens is required (the generator's tokenizer: budgets are
// in its tokens); the embedder and the scorer are optional (see above).
struct CompressModels {
  std::function<int(std::string_view)> count_tokens;
  retrieval::Embedder* embedder = nullptr;
  TokenScorer* scorer = nullptr;
};

// kInvalidArgument naming the option for values out of range, and as CompressCoarse for the
// documents (none, only white space, not UTF-8). Errors of the models pass through.
Status ValidateCompressOptions(const CompressOptions& options);
Result<Compressed> Compress(std::string_view question, const std::vector<std::string>& documents,
                            const CompressOptions& options, const CompressModels& models);

}  // namespace engram::compress
