#include "bench/qa_metrics.h"

#include <algorithm>
#include <cstdint>
#include <map>

// The metric must give what Python's str.lower, \w and str.split give (the official script is
// Python), which needs the Unicode tables the tokenizers already carry; they are used here
// read-only, as pure functions.
#include "inference/internal/unicode.h"

namespace engram::bench {
namespace {

namespace uni = inference::internal;

// An invalid UTF-8 byte b is carried as kRawByte + b, so it round-trips unchanged.
constexpr uint32_t kRawByte = 0x110000;

std::vector<uint32_t> Decode(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (b0 < 0x80) {
      n = 1, cp = b0;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2, cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3, cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4, cp = b0 & 0x07u;
    }
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
    if (ok && ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(kRawByte + b0);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void Append(uint32_t cp, std::string& out) {
  if (cp >= kRawByte) {
    out.push_back(static_cast<char>(cp - kRawByte));
  } else {
    uni::AppendUtf8(cp, out);
  }
}

// Python's str.isspace (what str.split() splits on): White_Space plus U+001C..U+001F.
bool IsSpace(uint32_t cp) {
  if (cp >= kRawByte) return false;
  if (cp >= 0x1C && cp <= 0x1F) return true;
  return uni::GetCodePointFlags(cp).is_whitespace();
}

// Python's \w for str patterns: letters, numbers and '_'. A raw byte counts as a word character.
bool IsWord(uint32_t cp) {
  if (cp >= kRawByte) return true;
  if (cp == '_') return true;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  const uni::CodePointFlags f = uni::GetCodePointFlags(cp);
  return f.is_letter() || f.is_number();
}

// string.punctuation.
bool IsAsciiPunctuation(uint32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
         (cp >= 123 && cp <= 126);
}

std::vector<std::string> Tokens(std::string_view text) {
  const std::string normalised = NormalizeSquadAnswer(text);
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < normalised.size()) {
    size_t end = normalised.find(' ', start);
    if (end == std::string::npos) end = normalised.size();
    if (end > start) tokens.emplace_back(normalised.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

template <typename Metric>
double MaxOver(std::string_view prediction, const std::vector<std::string>& references,
               Metric metric) {
  double best = 0.0;
  for (const std::string& r : references) best = std::max(best, metric(prediction, r));
  return best;
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsAsciiSpace(s[b])) ++b;
  while (e > b && IsAsciiSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// The position of the marker "(L)" at or after `from` that starts the text or follows white
// space (with `line_start`: only spaces or tabs since the last line break); npos when none.
size_t FindMarker(std::string_view text, char letter, size_t from, bool line_start) {
  const std::string marker = std::string("(") + letter + ")";
  for (size_t at = text.find(marker, from); at != std::string_view::npos;
       at = text.find(marker, at + 1)) {
    if (!line_start) {
      if (at == 0 || IsAsciiSpace(text[at - 1])) return at;
      continue;
    }
    size_t b = at;
    while (b > 0 && (text[b - 1] == ' ' || text[b - 1] == '\t')) --b;
    if (b == 0 || text[b - 1] == '\n' || text[b - 1] == '\r') return at;
  }
  return std::string_view::npos;
}

std::vector<size_t> FindMarkers(std::string_view text, bool line_start) {
  std::vector<size_t> at;
  for (char letter = 'A'; letter <= 'Z'; ++letter) {
    const size_t from = at.empty() ? 0 : at.back() + 3;
    const size_t p = FindMarker(text, letter, from, line_start);
    if (p == std::string_view::npos) break;
    at.push_back(p);
  }
  return at;
}

}  // namespace

std::string NormalizeSquadAnswer(std::string_view text) {
  // lower, then remove_punc.
  std::vector<uint32_t> cps;
  for (uint32_t cp : Decode(text)) {
    if (cp == 0x130) {  // Python's full mapping: İ -> i + combining dot above
      cps.push_back('i');
      cps.push_back(0x307);
      continue;
    }
    if (cp < kRawByte) cp = uni::ToLower(cp);
    if (!IsAsciiPunctuation(cp)) cps.push_back(cp);
  }
  // remove_articles: \b(a|an|the)\b -> ' ' (matched on the text before any replacement).
  std::vector<uint32_t> no_articles;
  no_articles.reserve(cps.size());
  const auto word_at = [&](size_t i) { return i < cps.size() && IsWord(cps[i]); };
  for (size_t i = 0; i < cps.size();) {
    if (!IsWord(cps[i]) || (i > 0 && IsWord(cps[i - 1]))) {
      no_articles.push_back(cps[i++]);
      continue;
    }
    size_t len = 0;
    for (const std::u32string_view article : {U"the", U"an", U"a"}) {
      if (i + article.size() <= cps.size() &&
          std::equal(article.begin(), article.end(), cps.begin() + static_cast<ptrdiff_t>(i)) &&
          !word_at(i + article.size())) {
        len = article.size();
        break;
      }
    }
    if (len == 0) {
      no_articles.push_back(cps[i++]);
    } else {
      no_articles.push_back(' ');
      i += len;
    }
  }
  // white_space_fix.
  std::string out;
  bool pending_space = false;
  for (uint32_t cp : no_articles) {
    if (IsSpace(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    Append(cp, out);
  }
  return out;
}

double SquadExactMatch(std::string_view prediction, std::string_view reference) {
  return NormalizeSquadAnswer(prediction) == NormalizeSquadAnswer(reference) ? 1.0 : 0.0;
}

double SquadF1(std::string_view prediction, std::string_view reference) {
  const std::vector<std::string> p = Tokens(prediction), r = Tokens(reference);
  std::map<std::string, int> counts;
  for (const std::string& t : r) ++counts[t];
  int same = 0;
  for (const std::string& t : p) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(r.size());
  return 2.0 * precision * recall / (precision + recall);
}

double MaxSquadExactMatch(std::string_view prediction, const std::vector<std::string>& references) {
  return MaxOver(prediction, references, SquadExactMatch);
}

double MaxSquadF1(std::string_view prediction, const std::vector<std::string>& references) {
  return MaxOver(prediction, references, SquadF1);
}

double MaxSquadContains(std::string_view prediction, const std::vector<std::string>& references) {
  const std::vector<std::string> p = Tokens(prediction);
  return MaxOver(prediction, references, [&p](std::string_view, std::string_view reference) {
    const std::vector<std::string> r = Tokens(reference);
    if (r.empty() || r.size() > p.size()) return 0.0;
    return std::search(p.begin(), p.end(), r.begin(), r.end()) != p.end() ? 1.0 : 0.0;
  });
}

std::string StripCitations(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '[') {
      size_t j = i + 1;
      bool digit = false;
      while (j < text.size() && ((text[j] >= '0' && text[j] <= '9') || text[j] == ',' || text[j] == ' ')) {
        digit = digit || (text[j] >= '0' && text[j] <= '9');
        ++j;
      }
      if (digit && j < text.size() && text[j] == ']') {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

Result<MultipleChoice> ParseMultipleChoice(std::string_view instruction) {
  // Options one per line (QuALITY's layout) when there are two or more such; else markers
  // anywhere after white space.
  std::vector<size_t> at = FindMarkers(instruction, /*line_start=*/true);
  if (at.size() < 2) at = FindMarkers(instruction, /*line_start=*/false);
  if (at.size() < 2) {
    return Status::InvalidArgument(
        "multiple choice: no options \"(A) …\" \"(B) …\" in the instruction '" +
        std::string(instruction.substr(0, 80)) + (instruction.size() > 80 ? "…'" : "'"));
  }
  MultipleChoice mc;
  mc.question = Trim(instruction.substr(0, at[0]));
  if (mc.question.empty()) return Status::InvalidArgument("multiple choice: no question before \"(A)\"");
  for (size_t i = 0; i < at.size(); ++i) {
    const size_t begin = at[i] + 3;
    const size_t end = i + 1 < at.size() ? at[i + 1] : instruction.size();
    mc.options.push_back(Trim(instruction.substr(begin, end - begin)));
    if (mc.options.back().empty()) {
      return Status::InvalidArgument(std::string("multiple choice: option (") +
                                     static_cast<char>('A' + i) + ") is empty");
    }
  }
  return mc;
}

Result<int> ParseChoiceLetter(std::string_view output, size_t option_count) {
  const std::string t = Trim(output);
  if (t.size() < 3 || t[0] != '(' || t[1] < 'A' || t[1] > 'Z' || t[2] != ')') {
    return Status::InvalidArgument("multiple choice: the answer '" + t.substr(0, 40) +
                                   "' does not start with a letter in parentheses");
  }
  const int index = t[1] - 'A';
  if (static_cast<size_t>(index) >= option_count) {
    return Status::InvalidArgument(std::string("multiple choice: the answer names (") + t[1] +
                                   ") but there are " + std::to_string(option_count) + " options");
  }
  return index;
}

}  // namespace engram::bench
