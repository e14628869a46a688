// WordPiece (BERT): the tokenizer of sentence-transformers models such as all-MiniLM-L6-v2,
// matching Hugging Face `tokenizers` (BertNormalizer + BertPreTokenizer + WordPiece +
// [CLS] … [SEP]).
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"

namespace engram::inference::internal {

Result<std::unique_ptr<Tokenizer>> MakeWordPieceTokenizerFromVocab(const std::string& path,
                                                                   bool lowercase);
Result<std::unique_ptr<Tokenizer>> MakeWordPieceTokenizerFromGguf(const GgufFile& gguf);

}  // namespace engram::inference::internal
