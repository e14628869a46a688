#include "inference/internal/pretokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "inference/internal/unicode.h"

namespace engram::inference::internal {
namespace {

// The decoded text and the flags of each code point, shared by every step.
struct Text {
  std::vector<uint32_t> cps;
  std::vector<CodePointFlags> flags;
};

// Pieces as lengths in code points, in order (llama.cpp's bpe_offsets).
using Pieces = std::vector<size_t>;

// One piece [begin, end) as llama.cpp's matchers see it: code points outside the piece read as
// kOutOfRange with no flags, so nothing matches across a piece boundary.
class Piece {
 public:
  static constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

  Piece(const Text& text, size_t begin, size_t end) : text_(text), begin_(begin), end_(end) {}

  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  uint32_t cp(size_t pos) const { return Inside(pos) ? text_.cps[pos] : kOutOfRange; }
  CodePointFlags flags(size_t pos) const {
    return Inside(pos) ? text_.flags[pos] : CodePointFlags();
  }

 private:
  bool Inside(size_t pos) const { return pos >= begin_ && pos < end_; }

  const Text& text_;
  size_t begin_;
  size_t end_;
};

// Collects the pieces one step cuts a piece into; empty cuts are dropped.
class Cutter {
 public:
  Cutter(Pieces& out, size_t begin) : out_(out), last_(begin) {}
  void CutAt(size_t end) {
    if (end > last_) out_.push_back(end - last_);
    last_ = end;
  }

 private:
  Pieces& out_;
  size_t last_;
};

// Runs `split(piece, cutter)` over every piece of `pieces`.
template <typename SplitFn>
Pieces SplitEach(const Text& text, const Pieces& pieces, SplitFn split) {
  Pieces out;
  out.reserve(pieces.size());
  size_t begin = 0;
  for (size_t length : pieces) {
    const Piece piece(text, begin, begin + length);
    Cutter cutter(out, begin);
    split(piece, cutter);
    cutter.CutAt(piece.end());
    begin += length;
  }
  return out;
}

bool IsCrOrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// 's|'t|'re|'ve|'m|'ll|'d at `pos`, optionally case-insensitive (llama.cpp lowers with
// ToLower, equal to the adapted '[sS]|'[tT]|... regex). Returns the match length, 0 if none.
size_t MatchContraction(const Piece& p, size_t pos, bool ignore_case) {
  if (p.cp(pos) != '\'' || pos + 1 >= p.end()) return 0;
  auto at = [&](size_t i) { return ignore_case ? ToLower(p.cp(i)) : p.cp(i); };
  const uint32_t c1 = at(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= p.end()) return 0;
  const uint32_t c2 = at(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// The end of a whitespace match at `pos` for \s+(?!\S)|\s+ (no \r\n rule): a run of two or
// more followed by a non-space in the piece leaves its last space for the next word.
size_t WhitespaceEnd(const Piece& p, size_t pos) {
  size_t n = 0;
  while (p.flags(pos + n).is_whitespace()) ++n;
  if (n > 1 && p.cp(pos + n) != Piece::kOutOfRange) return pos + n - 1;
  if (n > 0) return pos + n;
  return pos + 1;  // no alternative matched: the code point is a word of its own
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (llama.cpp's unicode_regex_split_custom_gpt2).
void SplitGpt2(const Piece& p, Cutter& cut) {
  for (size_t pos = p.begin(); pos < p.end();) {
    const uint32_t cp = p.cp(pos);
    if (size_t n = MatchContraction(p, pos, /*ignore_case=*/false)) {
      pos += n;
      cut.CutAt(pos);
      continue;
    }
    // The optional leading space belongs to the class of the code point after it.
    const size_t start = cp == ' ' ? pos + 1 : pos;
    const CodePointFlags f = p.flags(start);
    if (f.is_letter() || f.is_number()) {
      const bool letter = f.is_letter();
      pos = start;
      while (letter ? p.flags(pos).is_letter() : p.flags(pos).is_number()) ++pos;
      cut.CutAt(pos);
      continue;
    }
    auto is_other = [](CodePointFlags g) {
      return !(g.is_whitespace() || g.is_letter() || g.is_number()) && !g.none();
    };
    if (is_other(f)) {
      pos = start;
      while (is_other(p.flags(pos))) ++pos;
      cut.CutAt(pos);
      continue;
    }
    pos = WhitespaceEnd(p, pos);
    cut.CutAt(pos);
  }
}

// The llama3 family (llama.cpp's unicode_regex_split_custom_llama3 / _qwen2 / _qwen35):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// With marks_in_words (qwen35) \p{L} is [\p{L}\p{M}] in the word and excluded class.
struct Llama3Options {
  size_t max_digits;
  bool marks_in_words;
};

void SplitLlama3(const Piece& p, Cutter& cut, Llama3Options options) {
  auto is_word = [&](CodePointFlags g) {
    return g.is_letter() || (options.marks_in_words && g.is_accent_mark());
  };
  for (size_t pos = p.begin(); pos < p.end();) {
    const uint32_t cp = p.cp(pos);
    const CodePointFlags f = p.flags(pos);
    if (size_t n = MatchContraction(p, pos, /*ignore_case=*/true)) {
      pos += n;
      cut.CutAt(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+: a letter, or any one non-\r\n non-number before letters.
    if (!IsCrOrLf(cp) && !f.is_number() && (is_word(f) || is_word(p.flags(pos + 1)))) {
      ++pos;
      while (is_word(p.flags(pos))) ++pos;
      cut.CutAt(pos);
      continue;
    }
    if (f.is_number()) {
      size_t group = 0;
      while (p.flags(pos).is_number()) {
        ++pos;
        if (++group == options.max_digits) {
          cut.CutAt(pos);
          group = 0;
        }
      }
      cut.CutAt(pos);
      continue;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*. Like llama.cpp this is entered when the code point after a
    // space is past the piece too, which makes a lone trailing space a word, as \s+ would.
    auto is_other = [&](CodePointFlags g) {
      return !(g.is_whitespace() || is_word(g) || g.is_number()) && !g.none();
    };
    const CodePointFlags after_space = cp == ' ' ? p.flags(pos + 1) : f;
    if (!(after_space.is_whitespace() || is_word(after_space) || after_space.is_number())) {
      if (cp == ' ') ++pos;
      while (is_other(p.flags(pos))) ++pos;
      while (IsCrOrLf(p.cp(pos))) ++pos;
      cut.CutAt(pos);
      continue;
    }
    // \s*[\r\n]+: a whitespace run containing \r or \n ends after its last one.
    size_t n = 0;
    size_t end_after_newline = 0;
    while (p.flags(pos + n).is_whitespace()) {
      if (IsCrOrLf(p.cp(pos + n))) end_after_newline = pos + n + 1;
      ++n;
    }
    pos = end_after_newline > 0 ? end_after_newline : WhitespaceEnd(p, pos);
    cut.CutAt(pos);
  }
}

// A regex that isolates its matches and keeps the gaps between them as pieces (what llama.cpp's
// std::regex fallback does). `match(piece, pos)` returns the length of the match at pos, or 0.
template <typename MatchFn>
void SplitMatches(const Piece& p, Cutter& cut, MatchFn match) {
  for (size_t pos = p.begin(); pos < p.end();) {
    const size_t n = match(p, pos);
    if (n == 0) {
      ++pos;
      continue;
    }
    cut.CutAt(pos);
    pos += n;
    cut.CutAt(pos);
  }
}

// \p{N}: llama.cpp matches this on its collapsed text, where a code point is \p{N} exactly when
// its flags say number (ASCII digits stay themselves, other numbers collapse to one byte).
size_t MatchOneNumber(const Piece& p, size_t pos) { return p.flags(pos).is_number() ? 1 : 0; }

size_t MatchNumbers(const Piece& p, size_t pos) {
  size_t end = pos;
  while (p.flags(end).is_number()) ++end;
  return end - pos;
}

// [\p{P}<extra ASCII>]+ on the collapsed text: ASCII code points are compared as themselves
// (the ASCII \p{P} and the listed symbols), others by their flags.
size_t MatchPunctuationRun(const Piece& p, size_t pos, std::string_view extra) {
  size_t end = pos;
  for (;; ++end) {
    const uint32_t cp = p.cp(end);
    if (cp == Piece::kOutOfRange) break;
    const bool in_class =
        p.flags(end).is_punctuation() ||
        (cp < 0x80 && extra.find(static_cast<char>(cp)) != std::string_view::npos);
    if (!in_class) break;
  }
  return end - pos;
}

// [0-9][0-9][0-9]
size_t MatchThreeAsciiDigits(const Piece& p, size_t pos) {
  for (size_t i = 0; i < 3; ++i) {
    const uint32_t cp = p.cp(pos + i);
    if (cp < '0' || cp > '9') return 0;
  }
  return 3;
}

Pieces StepGpt2(const Text& t, const Pieces& in) { return SplitEach(t, in, SplitGpt2); }

Pieces StepLlama3(const Text& t, const Pieces& in, Llama3Options options) {
  return SplitEach(t, in, [&](const Piece& p, Cutter& c) { SplitLlama3(p, c, options); });
}

template <typename MatchFn>
Pieces StepMatches(const Text& t, const Pieces& in, MatchFn match) {
  return SplitEach(t, in, [&](const Piece& p, Cutter& c) { SplitMatches(p, c, match); });
}

Pieces StepPunctuation(const Text& t, const Pieces& in, std::string_view extra) {
  return StepMatches(
      t, in, [&](const Piece& p, size_t pos) { return MatchPunctuationRun(p, pos, extra); });
}

struct NameEntry {
  std::string_view name;
  PreTokenizer type;
};

// llama-vocab.cpp's tokenizer_pre comparisons, grouped by the regex list they select.
constexpr NameEntry kGgufNames[] = {
    {"default", PreTokenizer::kDefault},
    {"gpt-2", PreTokenizer::kGpt2},
    {"phi-2", PreTokenizer::kGpt2},
    {"jina-es", PreTokenizer::kGpt2},
    {"jina-de", PreTokenizer::kGpt2},
    {"gigachat", PreTokenizer::kGpt2},
    {"jina-v2-es", PreTokenizer::kGpt2},
    {"jina-v2-de", PreTokenizer::kGpt2},
    {"a.x-4.0", PreTokenizer::kGpt2},
    {"mellum", PreTokenizer::kGpt2},
    {"modern-bert", PreTokenizer::kGpt2},
    {"jina-v1-en", PreTokenizer::kGpt2},
    {"jina-v2-code", PreTokenizer::kGpt2},
    {"roberta-bpe", PreTokenizer::kGpt2},
    {"mpt", PreTokenizer::kGpt2},
    {"olmo", PreTokenizer::kGpt2},
    {"jais", PreTokenizer::kGpt2},
    {"exaone4", PreTokenizer::kGpt2},
    {"trillion", PreTokenizer::kGpt2},
    {"granite-docling", PreTokenizer::kGpt2},
    {"llama3", PreTokenizer::kLlama3},
    {"llama-v3", PreTokenizer::kLlama3},
    {"llama-bpe", PreTokenizer::kLlama3},
    {"falcon3", PreTokenizer::kLlama3},
    {"falcon-h1", PreTokenizer::kLlama3},
    {"pixtral", PreTokenizer::kLlama3},
    {"midm-2.0", PreTokenizer::kLlama3},
    {"lfm2", PreTokenizer::kLlama3},
    {"jina-v5-nano", PreTokenizer::kLlama3},
    {"dbrx", PreTokenizer::kLlama3},
    {"smaug-bpe", PreTokenizer::kLlama3},
    {"chatglm-bpe", PreTokenizer::kLlama3},
    {"glm4", PreTokenizer::kLlama3},
    {"glm5", PreTokenizer::kLlama3},
    {"qwen2", PreTokenizer::kQwen2},
    {"deepseek-r1-qwen", PreTokenizer::kQwen2},
    {"kormo", PreTokenizer::kQwen2},
    {"f2llmv2", PreTokenizer::kQwen2},
    {"megrez", PreTokenizer::kQwen2},
    {"stablelm2", PreTokenizer::kQwen2},
    {"hunyuan", PreTokenizer::kQwen2},
    {"solar-open", PreTokenizer::kQwen2},
    {"grok-2", PreTokenizer::kQwen2},
    {"qwen35", PreTokenizer::kQwen35},
    {"smollm", PreTokenizer::kSmollm},
    {"starcoder", PreTokenizer::kSmollm},
    {"refact", PreTokenizer::kSmollm},
    {"command-r", PreTokenizer::kSmollm},
    {"codeshell", PreTokenizer::kSmollm},
    {"exaone", PreTokenizer::kSmollm},
    {"minerva-7b", PreTokenizer::kSmollm},
    {"mellum2", PreTokenizer::kSmollm},
    {"falcon", PreTokenizer::kFalcon},
};

// GPT-2's bytes_to_unicode: the code point standing for each byte.
constexpr std::array<uint16_t, 256> MakeByteToCodePoint() {
  std::array<uint16_t, 256> table{};
  uint16_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<uint16_t>(b) : next++;
  }
  return table;
}
constexpr std::array<uint16_t, 256> kByteToCodePoint = MakeByteToCodePoint();
constexpr uint32_t kByteAlphabetEnd = 256 + 68;  // every code point of the alphabet is below

constexpr std::array<int16_t, kByteAlphabetEnd> MakeCodePointToByte() {
  std::array<int16_t, kByteAlphabetEnd> table{};
  for (auto& entry : table) entry = -1;
  for (int b = 0; b < 256; ++b) table[kByteToCodePoint[b]] = static_cast<int16_t>(b);
  return table;
}
constexpr std::array<int16_t, kByteAlphabetEnd> kCodePointToByte = MakeCodePointToByte();

}  // namespace

std::string_view PreTokenizerName(PreTokenizer type) {
  switch (type) {
    case PreTokenizer::kDefault:
      return "default";
    case PreTokenizer::kGpt2:
      return "gpt2";
    case PreTokenizer::kLlama3:
      return "llama3";
    case PreTokenizer::kQwen2:
      return "qwen2";
    case PreTokenizer::kQwen35:
      return "qwen35";
    case PreTokenizer::kSmollm:
      return "smollm";
    case PreTokenizer::kFalcon:
      return "falcon";
  }
  return "unknown";
}

Result<PreTokenizer> PreTokenizerFromGgufName(std::string_view tokenizer_ggml_pre) {
  if (tokenizer_ggml_pre.empty()) return PreTokenizer::kDefault;
  for (const NameEntry& entry : kGgufNames) {
    if (entry.name == tokenizer_ggml_pre) return entry.type;
  }
  return Status::NotSupported("pre-tokenizer type '" + std::string(tokenizer_ggml_pre) +
                              "' (tokenizer.ggml.pre) is not supported");
}

std::vector<std::string> PreTokenize(PreTokenizer type, std::string_view text) {
  Text t;
  t.cps = DecodeUtf8(text);
  if (t.cps.empty()) return {};
  t.flags.reserve(t.cps.size());
  for (uint32_t cp : t.cps) t.flags.push_back(GetCodePointFlags(cp));

  Pieces pieces = {t.cps.size()};
  switch (type) {
    case PreTokenizer::kDefault:
      pieces = StepPunctuation(t, pieces, "$+<=>^~|");
      pieces = StepGpt2(t, pieces);
      pieces = StepMatches(t, pieces, MatchNumbers);
      pieces = StepMatches(t, pieces, MatchThreeAsciiDigits);
      break;
    case PreTokenizer::kGpt2:
      pieces = StepGpt2(t, pieces);
      break;
    case PreTokenizer::kLlama3:
      pieces = StepLlama3(t, pieces, {.max_digits = 3, .marks_in_words = false});
      break;
    case PreTokenizer::kQwen2:
      pieces = StepLlama3(t, pieces, {.max_digits = 1, .marks_in_words = false});
      break;
    case PreTokenizer::kQwen35:
      pieces = StepLlama3(t, pieces, {.max_digits = 1, .marks_in_words = true});
      break;
    case PreTokenizer::kSmollm:
      pieces = StepMatches(t, pieces, MatchOneNumber);
      pieces = StepGpt2(t, pieces);
      break;
    case PreTokenizer::kFalcon:
      pieces = StepPunctuation(t, pieces, "$+<=>^~|`");
      pieces = StepGpt2(t, pieces);
      pieces = StepMatches(t, pieces, MatchThreeAsciiDigits);
      break;
  }

  std::vector<std::string> words;
  words.reserve(pieces.size());
  size_t begin = 0;
  for (size_t length : pieces) {
    std::string& word = words.emplace_back();
    for (size_t i = begin; i < begin + length; ++i) AppendUtf8(t.cps[i], word);
    begin += length;
  }
  return words;
}

std::string ByteToUnicodeBpe(std::string_view word) {
  std::string out;
  out.reserve(word.size() * 2);
  for (char c : word) AppendUtf8(kByteToCodePoint[static_cast<uint8_t>(c)], out);
  return out;
}

Result<std::string> UnicodeBpeToBytes(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t offset = 0;
  while (offset < piece.size()) {
    const size_t length = std::min(Utf8SequenceLength(piece[offset]), piece.size() - offset);
    const std::vector<uint32_t> cps = DecodeUtf8(piece.substr(offset, length));
    const uint32_t cp = cps.size() == 1 ? cps[0] : kReplacementCharacter;
    const int byte = cp < kByteAlphabetEnd ? kCodePointToByte[cp] : -1;
    if (byte < 0) {
      char hex[16];
      std::snprintf(hex, sizeof(hex), "U+%04X", cp);
      return Status::InvalidArgument("byte-level BPE piece has " + std::string(hex) + " at byte " +
                                     std::to_string(offset) +
                                     ", which is not in the GPT-2 byte alphabet");
    }
    out.push_back(static_cast<char>(byte));
    offset += length;
  }
  return out;
}

}  // namespace engram::inference::internal
