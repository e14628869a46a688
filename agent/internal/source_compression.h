// Question-aware compression of a prompt's sources (compress/compressor.h, coarse stage by
// default): the one place `ask --mode rag` and the agent turn shorten sources to a token budget
// instead of dropping whole ones, each shortened source mapped back to its original text.
//
//   Result<ShortenedSources> s = ShortenSources(question, texts, 300, {.count_tokens = count});
//   for (const ShortenedSource& src : s->sources) {   // in input order, sources that kept text
//     texts[src.index].substr(src.spans[0].begin, ...) is the start of src.text
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compress/compressor.h"

namespace engram::agent::internal {

struct TextRange {
  size_t begin = 0, end = 0;  // bytes of a source's original text
};

struct ShortenedSource {
  size_t index = 0;              // of the input text
  std::string text;              // the kept sentences, joined by " " (the prompt's text)
  std::vector<TextRange> spans;  // kept bytes of the input text, in order, disjoint
  TextRange best;                // the most relevant kept sentence (a citation's quote)
};

struct ShortenedSources {
  std::vector<ShortenedSource> sources;   // in input order; a source that kept nothing is absent
  int64_t tokens_in = 0, tokens_out = 0;  // the texts' tokens before and after (count_tokens)
  double ms = 0.0;                        // time spent compressing
};

// The `texts` shortened to at most `budget_tokens` tokens together (their separators in the
// prompt are the caller's to budget). `models` as compress::Compress takes them (a null scorer:
// whole sentences, milliseconds). kInvalidArgument from the compressor (a budget smaller than
// the question, no text); errors of the models pass through.
Result<ShortenedSources> ShortenSources(std::string_view question,
                                        const std::vector<std::string>& texts,
                                        int64_t budget_tokens,
                                        const compress::CompressModels& models);

}  // namespace engram::agent::internal
