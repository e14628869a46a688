// Pre-tokenization for byte-level BPE vocabularies: splitting text into the words that BPE
// merges within, exactly as llama.cpp's unicode_regex_split() does for a GGUF's
// `tokenizer.ggml.pre`, and the GPT-2 byte <-> code point alphabet those words are spelled in.
//
// llama.cpp keeps a list of regexes per pre-tokenizer type and applies them in turn: the first
// splits the whole text into matches and the gaps between them, each later one splits every
// piece of the previous step the same way, never across a piece boundary. The common regexes
// have hand-written matchers in llama.cpp (they are what our output must equal, quirks
// included); the rest run through std::regex on a one-byte-per-code-point "collapsed" text.
// Here every supported regex is a hand-written matcher over code points with the same result;
// no regex engine is involved.
//
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::inference::internal {

// A llama.cpp pre-tokenizer regex list. One value can stand for several llama.cpp
// LLAMA_VOCAB_PRE_TYPE_* that share their regexes; the GGUF names of each are listed.
enum class PreTokenizer {
  // "default" or a missing name (llama.cpp warns): [\p{P}\$\+<=>\^~\|]+ then the GPT-2 regex,
  // then \p{N}+, then [0-9][0-9][0-9].
  kDefault,
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  // gpt-2, phi-2, jina-es, jina-de, gigachat, jina-v2-es, jina-v2-de, a.x-4.0, mellum,
  // modern-bert, jina-v1-en, jina-v2-code, roberta-bpe, mpt, olmo, jais, exaone4, trillion,
  // granite-docling.
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  // llama3, llama-v3, llama-bpe, falcon3, falcon-h1, pixtral, midm-2.0, lfm2, jina-v5-nano,
  // dbrx, smaug-bpe, chatglm-bpe, glm4, glm5.
  kLlama3,
  // kLlama3 with \p{N} (single digits) instead of \p{N}{1,3}.
  // qwen2, deepseek-r1-qwen, kormo, f2llmv2, megrez, stablelm2, hunyuan, solar-open, grok-2.
  kQwen2,
  // kQwen2 with combining marks inside words: [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+ and
  // ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*. qwen35.
  kQwen35,
  // \p{N} (every digit alone) then the GPT-2 regex.
  // smollm, starcoder, refact, command-r, codeshell, exaone, minerva-7b, mellum2.
  kSmollm,
  // [\p{P}\$\+<=>\^~\|`]+ then the GPT-2 regex, then [0-9][0-9][0-9]. falcon.
  kFalcon,
};

// "gpt2", "llama3", ...: for messages.
std::string_view PreTokenizerName(PreTokenizer type);

// Maps a GGUF `tokenizer.ggml.pre` value to its regex list, with llama.cpp's spelling of names
// (llama-vocab.cpp, llama_vocab::impl::load). The empty string maps to kDefault, as in
// llama.cpp. Names llama.cpp knows but whose regexes are not implemented here (deepseek-llm,
// deepseek-coder, deepseek-v3, gpt-4o, tekken, kimi-k2, ...) and names it does not know are
// NotSupported, with the name in the message.
//
// The name also sets vocabulary options in llama.cpp that this mapping does not carry
// (ignore_merges for llama3/llama-bpe/... and glm4/glm5, clean_spaces, add_bos, add_sep): the
// BPE tokenizer must apply those by name as well.
Result<PreTokenizer> PreTokenizerFromGgufName(std::string_view tokenizer_ggml_pre);

// Splits `text` into words as llama.cpp's unicode_regex_split(text, <regexes of type>) does,
// before its byte-level encoding. Each word is UTF-8; in order they concatenate to
// EncodeUtf8(DecodeUtf8(text)), i.e. `text` with llama.cpp's U+FFFD replacement of invalid
// bytes (unicode.h). No word is empty; an empty text gives no words.
std::vector<std::string> PreTokenize(PreTokenizer type, std::string_view text);

// The GPT-2 byte-level alphabet (bytes_to_unicode): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF
// stand for themselves; the other 68 bytes, in increasing order, become U+0100..U+0143 (so
// ' ' -> 'Ġ' U+0120, '\n' -> 'Ċ' U+010A). Returns `word` with each byte replaced by its
// code point, UTF-8 encoded: the spelling of BPE vocabulary entries.
std::string ByteToUnicodeBpe(std::string_view word);

// The inverse, for decoding a vocabulary entry back to bytes. InvalidArgument if `piece` holds
// a code point outside the alphabet or invalid UTF-8 (llama.cpp prints "[UNK_BYTE_0x..]" for
// those instead; the caller chooses).
Result<std::string> UnicodeBpeToBytes(std::string_view piece);

}  // namespace engram::inference::internal
