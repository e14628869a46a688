// SentencePiece tokenizers, run by the SentencePiece library: from a .model file, or from a
// GGUF vocabulary (tokenizer.ggml.model "llama": tokens, scores, token types), for which a
// SentencePiece model is assembled in memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"

namespace engram::inference::internal {

Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromFile(const std::string& path);
Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromGguf(const GgufFile& gguf);

// What a SentencePiece model needs beyond its pieces; the defaults are Llama 2's.
struct SpmModelSpec {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenKind> kinds;
  bool add_dummy_prefix = true;           // tokenizer.ggml.add_space_prefix
  bool remove_extra_whitespaces = false;  // tokenizer.ggml.remove_extra_whitespaces
  int32_t unk = 0, bos = 1, eos = 2, pad = -1;
};
// Serialises `spec` as a SentencePiece ModelProto (BPE model, identity normaliser, byte
// fallback when the vocabulary has byte pieces). The Debian package ships no .proto header,
// so the few fields needed are written in protobuf wire format here.
std::string SerializeSpmModel(const SpmModelSpec& spec);
// A tokenizer from pieces, e.g. read from GGUF.
Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizerFromSpec(const SpmModelSpec& spec,
                                                            const std::string& origin);

}  // namespace engram::inference::internal
