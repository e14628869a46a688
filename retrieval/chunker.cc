#include "retrieval/chunker.h"

#include <algorithm>
#include <array>
#include <span>
#include <string>

namespace engram::retrieval {
namespace {

// Byte length of the white-space character (Unicode White_Space) starting at t[i]; 0 if none.
size_t SpaceAt(std::string_view t, size_t i) {
  const auto c = static_cast<unsigned char>(t[i]);
  if (c < 0x80) return (c == ' ' || (c >= '\t' && c <= '\r')) ? 1 : 0;
  const size_t n = t.size();
  if (c == 0xC2 && i + 1 < n) {  // U+0085, U+00A0
    const auto d = static_cast<unsigned char>(t[i + 1]);
    return (d == 0x85 || d == 0xA0) ? 2 : 0;
  }
  if (i + 2 >= n) return 0;
  const auto d = static_cast<unsigned char>(t[i + 1]);
  const auto e = static_cast<unsigned char>(t[i + 2]);
  switch (c) {
    case 0xE1:  // U+1680
      return (d == 0x9A && e == 0x80) ? 3 : 0;
    case 0xE2:  // U+2000..U+200A, U+2028, U+2029, U+202F, U+205F
      if (d == 0x80)
        return ((e >= 0x80 && e <= 0x8A) || e == 0xA8 || e == 0xA9 || e == 0xAF) ? 3 : 0;
      return (d == 0x81 && e == 0x9F) ? 3 : 0;
    case 0xE3:  // U+3000
      return (d == 0x80 && e == 0x80) ? 3 : 0;
    default:
      return 0;
  }
}

// Byte length of the white-space character ending just before t[i]; 0 if none.
size_t SpaceBefore(std::string_view t, size_t i) {
  if (i >= 1 && static_cast<unsigned char>(t[i - 1]) < 0x80) return SpaceAt(t, i - 1);
  if (i >= 2 && SpaceAt(t, i - 2) == 2) return 2;
  if (i >= 3 && SpaceAt(t, i - 3) == 3) return 3;
  return 0;
}

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Length of the closing quote or bracket at t[i] (ASCII or ” ’ » 」 』 ）), 0 if none.
size_t CloserAt(std::string_view t, size_t i) {
  const char c = t[i];
  if (c == ')' || c == ']' || c == '}' || c == '"' || c == '\'') return 1;
  const std::string_view rest = t.substr(i);
  for (std::string_view closer : {"\u201D", "\u2019", "\u00BB", "\u300D", "\u300F", "\uFF09"}) {
    if (rest.starts_with(closer)) return closer.size();
  }
  return 0;
}

// Whether t[i] starts one of 。！？.
bool CjkStopAt(std::string_view t, size_t i) {
  const std::string_view rest = t.substr(i);
  return rest.starts_with("\u3002") || rest.starts_with("\uFF01") || rest.starts_with("\uFF1F");
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Words that end in '.' without ending a sentence (compared in lower case).
// Not "inc", "ltd" or "etc": those end sentences as often as not (a lower-case next word still
// keeps "etc. and" together).
constexpr std::array<std::string_view, 29> kAbbreviations = {
    "mr",   "mrs", "ms",   "dr", "prof", "sr",  "jr",     "st",   "vs",  "fig",
    "figs", "vol", "vols", "pp", "cf",   "al",  "approx", "dept", "gen", "gov",
    "sen",  "rep", "rev",  "lt", "col",  "sgt", "capt",   "mt",   "ave"};
// ... and those that do so only before a number ("No. 5").
constexpr std::array<std::string_view, 4> kNumberAbbreviations = {"no", "nos", "p", "art"};

bool InList(std::string_view word, std::span<const std::string_view> list) {
  for (std::string_view a : list) {
    if (a.size() != word.size()) continue;
    bool same = true;
    for (size_t i = 0; i < a.size() && same; ++i) same = AsciiLower(word[i]) == a[i];
    if (same) return true;
  }
  return false;
}

// Whether the terminators t[stop, run_end), with closing quotes or brackets up to `after` and
// then white space or the end of the text, should not end a sentence; `start` is where the
// current sentence began.
bool LooksLikeAbbreviation(std::string_view t, size_t start, size_t stop, size_t run_end,
                           size_t after) {
  // The next visible character; a sentence rarely starts in lower case ("e.g. the", "?" he said).
  size_t next = after;
  while (next < t.size()) {
    const size_t w = SpaceAt(t, next);
    if (w == 0) break;
    next += w;
  }
  const char next_char = next < t.size() ? t[next] : '\0';
  if (next_char >= 'a' && next_char <= 'z') return true;
  // "?", "!", "..." and ".)" end sentences.
  if (t[stop] != '.' || run_end != stop + 1 || after != run_end) return false;
  // The word before the period, back to white space or an opening bracket or quote; words
  // longer than any abbreviation are not looked at (keeps the scan constant-time).
  constexpr size_t kMaxWord = 12;
  size_t w = stop;
  while (w > start && stop - w <= kMaxWord && SpaceBefore(t, w) == 0) {
    const char c = t[w - 1];
    if (c == '(' || c == '[' || c == '"' || c == '\'') break;
    --w;
  }
  if (stop - w > kMaxWord || w == stop) return false;
  const std::string_view word = t.substr(w, stop - w);
  if (word.size() == 1 && word[0] >= 'A' && word[0] <= 'Z') return true;  // "J. Smith"
  if (word.find('.') != std::string_view::npos) {
    // "e.g", "U.S", "Ph.D": dotted runs of one or two letters (not "example.com").
    size_t run = 0;
    for (char c : word) {
      if (c == '.') {
        if (run == 0) return false;
        run = 0;
      } else if (!IsAsciiLetter(c) || ++run > 2) {
        return false;
      }
    }
    return run > 0;
  }
  if (InList(word, kAbbreviations)) return true;
  return IsAsciiDigit(next_char) && InList(word, kNumberAbbreviations);
}

using Span = TextSpan;

}  // namespace

std::vector<TextSpan> SplitSentences(std::string_view t) {
  std::vector<Span> spans;
  const size_t n = t.size();
  size_t start = 0;
  auto emit = [&](size_t end) {
    size_t b = start;
    while (b < end) {
      const size_t w = SpaceAt(t, b);
      if (w == 0) break;
      b += w;
    }
    while (end > b) {
      const size_t w = SpaceBefore(t, end);
      if (w == 0) break;
      end -= w;
    }
    if (end > b) spans.push_back({b, end});
  };
  size_t i = 0;
  while (i < n) {
    if (SpaceAt(t, i) != 0) {
      // A run of white space: a paragraph break when it holds a blank line, a form feed or
      // U+2029.
      int newlines = 0;
      bool paragraph = false;
      size_t j = i;
      for (size_t w; j < n && (w = SpaceAt(t, j)) != 0; j += w) {
        const char c = t[j];
        if (c == '\n') {
          ++newlines;
        } else if (c == '\r') {
          if (j + 1 >= n || t[j + 1] != '\n') ++newlines;  // "\r\n" counts once, at the '\n'
        } else if (c == '\f') {
          paragraph = true;
        } else if (w == 3 && t.substr(j, 3) == "\u2029") {
          paragraph = true;
        }
      }
      if (newlines >= 2 || paragraph) {
        emit(i);
        start = j;
      }
      i = j;
      continue;
    }
    const char c = t[i];
    if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < n && (t[j] == '.' || t[j] == '!' || t[j] == '?')) ++j;
      const size_t run_end = j;
      for (size_t w; j < n && (w = CloserAt(t, j)) != 0;) j += w;
      if ((j == n || SpaceAt(t, j) != 0) && !LooksLikeAbbreviation(t, start, i, run_end, j)) {
        emit(j);
        start = j;
      }
      i = j;
      continue;
    }
    if (CjkStopAt(t, i)) {
      size_t j = i + 3;
      while (j < n && CjkStopAt(t, j)) j += 3;
      for (size_t w; j < n && (w = CloserAt(t, j)) != 0;) j += w;
      emit(j);
      start = j;
      i = j;
      continue;
    }
    ++i;
  }
  emit(n);
  return spans;
}

namespace {

// A sentence or a piece of one: what chunks are made of.
struct Unit {
  size_t begin, end;
  int tokens;  // count_tokens of the unit text, exact
  bool whole;  // a whole sentence (only those are repeated as overlap)
};

class Chunker {
 public:
  Chunker(std::string_view text, const ChunkOptions& options,
          const std::function<int(std::string_view)>& count_tokens, int specials)
      : t_(text), options_(options), count_(count_tokens), specials_(specials) {}

  Result<std::vector<TextChunk>> Run() {
    for (const Span& s : SplitSentences(t_)) {
      const int tokens = Count(s.begin, s.end);
      if (tokens <= options_.max_tokens) {
        units_.push_back({s.begin, s.end, tokens, true});
        continue;
      }
      Status cut = CutSentence(s, tokens);
      if (!cut.ok()) return cut;
    }
    return Pack();
  }

 private:
  int Count(size_t begin, size_t end) const { return count_(t_.substr(begin, end - begin)); }
  // Tokens of a unit without the special tokens every count includes.
  int Content(const Unit& u) const { return std::max(0, u.tokens - specials_); }

  size_t SkipSpace(size_t i, size_t end) const {
    while (i < end) {
      const size_t w = SpaceAt(t_, i);
      if (w == 0) break;
      i += w;
    }
    return i;
  }
  size_t TrimBack(size_t begin, size_t end) const {
    while (end > begin) {
      const size_t w = SpaceBefore(t_, end);
      if (w == 0) break;
      end -= w;
    }
    return end;
  }
  size_t NextChar(size_t i, size_t end) const {
    ++i;
    while (i < end && IsContinuation(t_[i])) ++i;
    return i;
  }

  // Where to end a piece that starts at `pos` (not white space) and should be about `limit -
  // pos` bytes (limit < end): before the last white space in the second half of that span, else
  // at the UTF-8 character boundary at or before `limit` (at least one character).
  size_t CutPoint(size_t pos, size_t limit, size_t end) const {
    const size_t floor = pos + (limit - pos) / 2;
    for (size_t q = limit; q > floor; --q) {
      if (SpaceAt(t_, q) != 0) return q;
    }
    size_t q = limit;
    while (q > pos && IsContinuation(t_[q])) --q;
    return q > pos ? q : NextChar(pos, end);
  }

  // Cuts sentence `s` (count `tokens` > max_tokens) into pieces that fit. The piece size is
  // guessed from the bytes per token seen so far and shrunk until the count fits, so each
  // piece costs a count or two.
  Status CutSentence(const Span& s, int tokens) {
    const int budget = options_.max_tokens - specials_;
    double bytes_per_token = static_cast<double>(s.end - s.begin) / std::max(1, tokens - specials_);
    size_t pos = s.begin;
    while ((pos = SkipSpace(pos, s.end)) < s.end) {
      auto target = static_cast<size_t>(budget * bytes_per_token);
      size_t cut, piece_end;
      int count;
      while (true) {
        target = std::max<size_t>(target, 1);
        cut = target >= s.end - pos ? s.end : CutPoint(pos, pos + target, s.end);
        piece_end = TrimBack(pos, cut);
        count = Count(pos, piece_end);
        if (count <= options_.max_tokens) break;
        const size_t len = piece_end - pos;
        if (NextChar(pos, s.end) >= piece_end) {
          return Status::InvalidArgument(
              "chunker: the character at byte " + std::to_string(pos) + " takes " +
              std::to_string(count) + " tokens, more than max_tokens " +
              std::to_string(options_.max_tokens) + "; raise max_tokens");
        }
        const double shrink = 0.9 * budget / std::max(1, count - specials_);
        target = std::min(len - 1, static_cast<size_t>(static_cast<double>(len) * shrink));
      }
      if (cut < s.end && count > specials_) {
        bytes_per_token = static_cast<double>(piece_end - pos) / (count - specials_);
      }
      units_.push_back({pos, piece_end, count, false});
      pos = cut;
    }
    return Status::OK();
  }

  // Packs units greedily into chunks; each chunk starts with the overlap (trailing whole
  // sentences of the previous chunk) and holds at least one unit no earlier chunk held.
  Result<std::vector<TextChunk>> Pack() const {
    std::vector<TextChunk> chunks;
    const int budget = options_.max_tokens - specials_;  // content tokens per chunk
    const size_t n = units_.size();
    size_t first = 0;  // first unit of the next chunk (overlap included)
    size_t fresh = 0;  // first unit in no chunk yet
    while (fresh < n) {
      long estimate = 0;
      for (size_t i = first; i <= fresh; ++i) estimate += Content(units_[i]);
      while (first < fresh && estimate > budget) estimate -= Content(units_[first++]);
      size_t last = fresh + 1;  // one past the chunk's last unit
      while (last < n && estimate + Content(units_[last]) <= budget) {
        estimate += Content(units_[last++]);
      }
      int tokens = units_[first].tokens;
      while (last - first > 1) {
        tokens = Count(units_[first].begin, units_[last - 1].end);
        if (tokens <= options_.max_tokens) break;
        // Shed at least the overshoot: new units from the end, then overlap from the front.
        long shed = 0;
        const long over = tokens - options_.max_tokens;
        while (shed < over && last - 1 > fresh) shed += Content(units_[--last]);
        while (shed < over && first < fresh) shed += Content(units_[first++]);
        if (last - first == 1) tokens = units_[first].tokens;
      }
      chunks.push_back({units_[first].begin, units_[last - 1].end, tokens});
      fresh = last;
      // The next chunk repeats whole trailing sentences worth at most overlap_tokens, never
      // the whole of this chunk.
      size_t next = last;
      if (options_.overlap_tokens > 0) {
        long repeated = 0;
        while (next - 1 > first && units_[next - 1].whole &&
               repeated + Content(units_[next - 1]) <= options_.overlap_tokens) {
          repeated += Content(units_[--next]);
        }
      }
      first = next;
    }
    return chunks;
  }

  std::string_view t_;
  const ChunkOptions& options_;
  const std::function<int(std::string_view)>& count_;
  const int specials_;
  std::vector<Unit> units_;
};

}  // namespace

Result<std::vector<TextChunk>> ChunkText(std::string_view text, const ChunkOptions& options,
                                         const std::function<int(std::string_view)>& count_tokens) {
  if (!count_tokens) {
    return Status::InvalidArgument("chunker: count_tokens is empty; pass the embedder's counter");
  }
  const int specials = count_tokens("");
  if (options.max_tokens <= specials + 1) {
    return Status::InvalidArgument("chunker: max_tokens " + std::to_string(options.max_tokens) +
                                   " leaves no room for text (count_tokens(\"\") is " +
                                   std::to_string(specials) + "); use at least " +
                                   std::to_string(specials + 2));
  }
  if (options.overlap_tokens < 0 || options.overlap_tokens >= options.max_tokens) {
    return Status::InvalidArgument(
        "chunker: overlap_tokens " + std::to_string(options.overlap_tokens) +
        " must be in [0, max_tokens " + std::to_string(options.max_tokens) + ")");
  }
  return Chunker(text, options, count_tokens, specials).Run();
}

}  // namespace engram::retrieval
