// Reading the tokenizer.ggml.* vocabulary of a GGUF file into a Tokenizer: token texts and
// kinds, special ids, add_bos/add_eos, and the end-of-generation set, with llama.cpp's
// defaults and fix-ups so that engram and llama.cpp agree on every id.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"

namespace engram::inference::internal {

// Defaults a vocabulary family applies when the file does not say (llama.cpp's values).
struct GgufVocabDefaults {
  int32_t bos = Tokenizer::kNoToken;
  int32_t eos = Tokenizer::kNoToken;
  int32_t unk = Tokenizer::kNoToken;
  int32_t pad = Tokenizer::kNoToken;
  bool add_bos = false;
  bool add_eos = false;
};

struct GgufVocabulary {
  std::vector<std::string> texts;
  std::vector<TokenKind> kinds;
  std::vector<float> scores;  // tokenizer.ggml.scores; empty when absent
  int32_t bos = Tokenizer::kNoToken, eos = Tokenizer::kNoToken, eot = Tokenizer::kNoToken;
  int32_t unk = Tokenizer::kNoToken, pad = Tokenizer::kNoToken;
  bool add_bos = false, add_eos = false;
  std::vector<int32_t> end_of_generation;
};

Result<GgufVocabulary> ReadGgufVocabulary(const GgufFile& gguf, const GgufVocabDefaults& defaults);

// A Tokenizer whose vocabulary comes from GGUF metadata.
class GgufVocabTokenizer : public Tokenizer {
 protected:
  Status LoadGgufVocabulary(const GgufFile& gguf, const GgufVocabDefaults& defaults);
};

}  // namespace engram::inference::internal
