// Tokenizers: text <-> token ids, built from a model's own vocabulary so that engram splits text
// exactly as the model's reference implementation does (llama.cpp for GGUF models, Hugging Face
// `tokenizers` for the BERT embedder, the `sentencepiece` library for .model files).
//
//   Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**gguf);
//   std::vector<int32_t> ids = (*tok)->Encode("Hello world", {.add_special = true});
//   std::string text = (*tok)->Decode(ids);
//
// Three families:
//   bpe        byte-level BPE (GPT-2 style; tokenizer.ggml.model "gpt2"): a pre-tokenizer
//              splits words by the model's regex (tokenizer.ggml.pre), merges apply by rank.
//   spm        SentencePiece (tokenizer.ggml.model "llama", or a standalone .model file),
//              run by the SentencePiece library on a model built from the GGUF vocabulary;
//              around it, llama.cpp's rules for GGUF files (user-defined tokens split out
//              first, the prefix space, ill-formed UTF-8 to byte tokens).
//   wordpiece  BERT (vocab.txt, or tokenizer.ggml.model "bert"): lowercasing, accent
//              stripping, punctuation and CJK splitting, greedy longest-match "##" pieces.
//
// Thread safety: a Tokenizer is immutable after construction; Encode/Decode may run
// concurrently from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace engram::inference {

class GgufFile;

// Token kinds, numbered as GGUF's tokenizer.ggml.token_type (and SentencePiece) number them.
enum class TokenKind : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, <|im_start|>, [CLS]: never produced from plain text
  kUserDefined = 4,  // always matched literally in the input, before splitting
  kUnused = 5,
  kByte = 6,         // SentencePiece byte-fallback pieces <0x41>
};

struct EncodeOptions {
  // Add the vocabulary's begin/end tokens as its rules say (tokenizer.ggml.add_bos_token,
  // add_eos_token; [CLS] ... [SEP] for BERT).
  bool add_special = false;
  // Recognise the text of control tokens ("<|im_start|>") in the input and emit them as one
  // token. Off by default: user text must not be able to inject control tokens.
  bool parse_special = false;
};

struct DecodeOptions {
  bool render_special = false;  // print control tokens' text instead of dropping them
};

class Tokenizer {
 public:
  static constexpr int32_t kNoToken = -1;

  virtual ~Tokenizer() = default;

  // From the tokenizer.* metadata of a GGUF file. kNotSupported naming the model or
  // pre-tokenizer when the file uses one engram does not implement.
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& gguf);
  // A standalone SentencePiece model file (e.g. Llama 2's tokenizer.model).
  static Result<std::unique_ptr<Tokenizer>> FromSentencePieceFile(const std::string& path);
  // A BERT WordPiece vocabulary (vocab.txt, one token per line), uncased like
  // all-MiniLM-L6-v2 when `lowercase` is true.
  static Result<std::unique_ptr<Tokenizer>> FromWordPieceVocab(const std::string& path,
                                                               bool lowercase = true);
  // By what `path` is: a .gguf file, a SentencePiece .model file, a vocab.txt, or a
  // directory holding vocab.txt (a sentence-transformers model).
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& path);

  // Never fails: text that is not valid UTF-8 is handled the way the reference does
  // (replacement characters or byte tokens).
  virtual std::vector<int32_t> Encode(std::string_view text,
                                      const EncodeOptions& options = {}) const = 0;
  virtual std::string Decode(std::span<const int32_t> ids,
                             const DecodeOptions& options = {}) const = 0;
  // The bytes token `id` contributes to decoded text (possibly part of a UTF-8 character);
  // for streaming. Empty for control tokens unless `render_special`.
  virtual std::string TokenToPiece(int32_t id, bool render_special = false) const = 0;

  // "bpe", "spm" or "wordpiece".
  virtual std::string_view Family() const = 0;

  int32_t VocabSize() const { return static_cast<int32_t>(texts_.size()); }
  // The vocabulary entry as stored (e.g. "Ġworld", "▁the", "##ing"); "" when out of range.
  std::string_view TokenText(int32_t id) const;
  TokenKind Kind(int32_t id) const;
  // The id of a vocabulary entry, or kNoToken.
  int32_t Find(std::string_view text) const;

  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }  // end of turn (<|im_end|>, <|eot_id|>); may be kNoToken
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // True for the ids that end generation: eos, eot and other end-of-generation tokens.
  bool IsEndOfGeneration(int32_t id) const;

 protected:
  Tokenizer() = default;
  // Fills the id <-> text tables; derived classes call it once.
  void SetVocabulary(std::vector<std::string> texts, std::vector<TokenKind> kinds);
  // Splits `text` around the literal text of special tokens: user-defined ones always, control
  // ones when `parse_special`, longest first (llama.cpp's rule). Each returned fragment is
  // either raw text (id == kNoToken) or one special token.
  struct Fragment {
    std::string_view text;
    int32_t id = kNoToken;
  };
  std::vector<Fragment> SplitSpecial(std::string_view text, bool parse_special) const;

  std::vector<std::string> texts_;
  std::vector<TokenKind> kinds_;
  std::vector<int32_t> special_by_length_;  // control/user-defined/unknown ids, longest first
  std::vector<int32_t> end_of_generation_;
  int32_t bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, unk_ = kNoToken, pad_ = kNoToken;
  bool add_bos_ = false, add_eos_ = false;

 private:
  std::unordered_map<std::string_view, int32_t> index_;  // views into texts_
};

}  // namespace engram::inference
