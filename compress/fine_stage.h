// The fine stage of prompt compression (compress/compressor.h): words of the coarse stage's
// output are dropped, lowest score first, until the text fits the token budget. A word's score
// is the mean over its tokens of self_information + contrast_weight * contrast
// (compress/token_scorer.h). Kept words keep their source map: a run of words kept together
// stays one span of the original (with its original spacing); where words were dropped, one
// space (or "\n\n" between documents) joins what is left.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "compress/coarse_compressor.h"
#include "compress/token_scorer.h"

namespace engram::compress {

// `tokens`: the scored tokens of coarse.text (they tile it). The result's tokens_out is
// count_tokens of its text, at most `budget` unless every word had to go; tokens_in,
// sentences_* and coarse_ms are the coarse stage's.
Compressed DropWords(const Compressed& coarse, const std::vector<std::string>& documents,
                     const std::vector<ScoredToken>& tokens, int64_t budget,
                     double contrast_weight,
                     const std::function<int(std::string_view)>& count_tokens);

}  // namespace engram::compress
