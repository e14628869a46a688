// UTF-8 coding and code point properties for the tokenizers.
//
// The BPE tokenizers must produce exactly llama.cpp's token ids, so the defaults here follow
// llama.cpp's src/unicode.cpp: its UTF-8 decoder (including how it replaces invalid bytes), its
// category flags (UCD 15.1, unicode_data.h), its \s set (White_Space), its lowercase mapping and
// its one-code-point "NFD". Where the WordPiece (BERT) path follows HF tokenizers instead, the
// function says so.
//
// Every function is pure and thread-safe. The first property lookup builds a 1.1 MB table once
// (thread-safe static initialisation); later lookups are one array read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "inference/internal/unicode_data.h"

namespace engram::inference::internal {

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;
inline constexpr uint32_t kMaxUnicode = 0x10FFFF;

// ---- UTF-8 ----------------------------------------------------------------------------------

// The length of the UTF-8 sequence that a byte starts, from its high nibble alone, as
// llama.cpp's unicode_len_utf8: 1 for ASCII and for continuation bytes (0x80..0xBF), 2 for
// 0xC0..0xDF, 3 for 0xE0..0xEF, 4 for 0xF0..0xFF. The tokenizers use it to split a word into
// "characters" (clamp to the bytes left).
size_t Utf8SequenceLength(char lead);

// Decodes as llama.cpp's unicode_cpts_from_utf8, which every llama.cpp tokenizer path uses:
//  - a lead byte 110xxxxx / 1110xxxx / 11110xxx followed by enough continuation bytes decodes
//    WITHOUT further checks: overlong forms (C0 80 -> U+0000), surrogates (ED A0 80 -> U+D800)
//    and values up to 0x1FFFFF (F7 BF BF BF) come out as they are;
//  - anything else (a stray continuation byte, F8..FF, a truncated or interrupted sequence)
//    yields one U+FFFD and skips ONE byte, so "\xE2\x82" gives U+FFFD U+FFFD.
std::vector<uint32_t> DecodeUtf8(std::string_view text);

// Decodes as Python's bytes.decode("utf-8", errors="replace") (the WHATWG / Unicode "maximal
// subpart" practice): only well-formed UTF-8 decodes; each maximal prefix of a well-formed
// sequence that is cut short, and each byte that cannot start one, becomes one U+FFFD. So
// "\xE2\x82" gives one U+FFFD, "\xC0\x80" two, "\xED\xA0\x80" three. For WordPiece inputs.
std::vector<uint32_t> DecodeUtf8Replace(std::string_view text);

// Appends the UTF-8 form of `cp` (1-4 bytes). Surrogates are written like any other value
// (ED A0 80 for U+D800), which is what llama.cpp's unicode_cpt_to_utf8 does, so that
// EncodeUtf8(DecodeUtf8(s)) only changes the bytes DecodeUtf8 replaced. A value past U+10FFFF
// (only DecodeUtf8 of F4 90.. to F7 ..; llama.cpp throws there) is written as U+FFFD.
void AppendUtf8(uint32_t cp, std::string& out);
std::string EncodeUtf8(std::span<const uint32_t> cps);

// ---- properties -----------------------------------------------------------------------------

// llama.cpp's unicode_cpt_flags: one category bit per code point (exactly one of the first
// eight), plus helper bits. A default-constructed value has no bit set: that is what llama.cpp's
// matchers see past the end of a chunk, and no code point has it.
class CodePointFlags {
 public:
  enum Bits : uint16_t {
    kUndefined = 0x0001,    // Cn: unassigned (and anything past U+10FFFF)
    kNumber = 0x0002,       // \p{N}
    kLetter = 0x0004,       // \p{L}
    kSeparator = 0x0008,    // \p{Z}
    kAccentMark = 0x0010,   // \p{M}
    kPunctuation = 0x0020,  // \p{P}
    kSymbol = 0x0040,       // \p{S}
    kControl = 0x0080,      // Cc, Cf, Co, Cs (\p{C} less Cn)
    kCategoryMask = 0x00FF,
    kWhitespace = 0x0100,  // White_Space: \t..\r, ' ', U+0085, U+00A0, U+1680, U+2000..U+200A,
                           // U+2028, U+2029, U+202F, U+205F, U+3000
    kLowercase = 0x0200,   // the simple lowercase of some code point (llama.cpp's definition)
    kUppercase = 0x0400,   // the simple uppercase of some code point (llama.cpp's definition)
  };

  constexpr CodePointFlags() = default;
  constexpr explicit CodePointFlags(uint16_t bits) : bits_(bits) {}

  uint16_t bits() const { return bits_; }
  uint16_t category_bits() const { return bits_ & kCategoryMask; }
  bool none() const { return bits_ == 0; }

  bool is_undefined() const { return (bits_ & kUndefined) != 0; }
  bool is_number() const { return (bits_ & kNumber) != 0; }
  bool is_letter() const { return (bits_ & kLetter) != 0; }
  bool is_separator() const { return (bits_ & kSeparator) != 0; }
  bool is_accent_mark() const { return (bits_ & kAccentMark) != 0; }
  bool is_punctuation() const { return (bits_ & kPunctuation) != 0; }
  bool is_symbol() const { return (bits_ & kSymbol) != 0; }
  bool is_control() const { return (bits_ & kControl) != 0; }
  bool is_whitespace() const { return (bits_ & kWhitespace) != 0; }
  bool is_lowercase() const { return (bits_ & kLowercase) != 0; }
  bool is_uppercase() const { return (bits_ & kUppercase) != 0; }

 private:
  uint16_t bits_ = 0;
};

// Flags of `cp` as llama.cpp's unicode_cpt_flags_from_cpt; kUndefined past U+10FFFF.
CodePointFlags GetCodePointFlags(uint32_t cp);
// General_Category (UCD 15.1); kCn past U+10FFFF.
GeneralCategory GetGeneralCategory(uint32_t cp);

// Simple lowercase / uppercase mapping (UnicodeData.txt); `cp` itself when there is none.
// ToLower is llama.cpp's unicode_tolower (used for (?i:'s|'t|...) and by BERT lowercasing).
uint32_t ToLower(uint32_t cp);
uint32_t ToUpper(uint32_t cp);

// Canonical_Combining_Class (0 for starters and unassigned code points).
uint8_t CombiningClass(uint32_t cp);

// Canonical decomposition (NFD): every code point fully decomposed (Hangul syllables
// arithmetically), then combining marks put in canonical order. "é" -> "e" U+0301.
std::vector<uint32_t> Nfd(std::span<const uint32_t> cps);

// The first code point of `cp`'s NFD, which is all llama.cpp's unicode_cpts_normalize_nfd keeps
// (its WordPiece "strip accents": é -> e, but also 가 -> ᄀ, dropping the vowel). Use Nfd() for
// real NFD (HF BertNormalizer).
uint32_t NfdFirstCodePoint(uint32_t cp);

// ---- BERT (HF tokenizers BertNormalizer / BertPreTokenizer) ----------------------------------

// \t, \n, \r or Rust's char::is_whitespace (White_Space); the same set as kWhitespace. (Google's
// Python BERT counts ' ', \t, \n, \r and category Zs only: it differs on U+000B, U+000C, U+0085,
// U+2028, U+2029.)
bool IsBertWhitespace(uint32_t cp);

// Categories Cc, Cf, Co, Cs except \t, \n, \r: HF's is_control (Cc, Cf, Co; Rust strings hold
// no surrogates) and llama.cpp's is_control; these are dropped by "clean text". (Google's Python
// BERT uses Cc and Cf only.)
bool IsBertControl(uint32_t cp);

// ASCII 33-47, 58-64, 91-96, 123-126 or a category P*: split off as single-character words.
bool IsBertPunctuation(uint32_t cp);

// CJK ideograph blocks that BERT surrounds with spaces: U+4E00..9FFF, U+3400..4DBF,
// U+20000..2A6DF, U+2A700..2B73F, U+2B740..2B81F, U+2B920..2CEAF, U+F900..FAFF,
// U+2F800..2FA1F. U+2B920 (not U+2B820 as in Google's BERT) matches HF tokenizers' Rust code
// and llama.cpp, which copies it.
bool IsCjk(uint32_t cp);

}  // namespace engram::inference::internal
