#include "agent/citations.h"

#include <algorithm>
#include <cctype>

namespace engram::agent {
namespace {

constexpr size_t kMaxMarkerBytes = 32;  // "[1, 2, 3, 4, 5, 6, 7, 8]" and so on

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether `s` (starting with '[') can still become a marker: digits, commas and spaces.
bool CouldBeMarker(std::string_view s) {
  if (s.size() > kMaxMarkerBytes) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (!IsDigit(c) && c != ',' && c != ' ' && !(c == ']' && i + 1 == s.size())) return false;
  }
  return true;
}

// The numbers of a complete marker "[1, 2]", or empty when it is not one ("[]", "[,]").
std::vector<int> MarkerNumbers(std::string_view s) {
  std::vector<int> out;
  int value = -1;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const char c = s[i];
    if (IsDigit(c)) {
      if (value > 100000) return {};
      value = (value < 0 ? 0 : value * 10) + (c - '0');
    } else if (c == ',') {
      if (value < 0) return {};
      out.push_back(value);
      value = -1;
    } else if (c == ' ' && value >= 0 && i + 2 < s.size() && IsDigit(s[i + 1])) {
      return {};  // "[1 2]": not a marker
    }
  }
  if (value < 0) return {};
  out.push_back(value);
  return out;
}

}  // namespace

std::string CitationFilter::Rewrite() {
  const std::vector<int> numbers = MarkerNumbers(pending_);
  if (numbers.empty()) return pending_;  // "[]" or "[,]": text
  std::string out;
  for (int n : numbers) {
    if (!valid_.contains(n)) {
      if (std::find(dropped_.begin(), dropped_.end(), n) == dropped_.end()) dropped_.push_back(n);
      continue;
    }
    if (std::find(cited_.begin(), cited_.end(), n) == cited_.end()) cited_.push_back(n);
    out += (out.empty() ? "[" : ", ") + std::to_string(n);
  }
  return out.empty() ? "" : out + "]";
}

std::string CitationFilter::Feed(std::string_view piece) {
  std::string out;
  for (char c : piece) {
    if (pending_.empty()) {
      if (c == '[') {
        pending_ = "[";
      } else {
        out += c;
      }
      continue;
    }
    pending_ += c;
    if (c == ']' && CouldBeMarker(pending_)) {
      out += Rewrite();
      pending_.clear();
    } else if (!CouldBeMarker(pending_)) {
      // Not a marker after all: emit it, but a '[' inside may start the next one.
      std::string text = std::move(pending_);
      pending_.clear();
      const size_t restart = text.find('[', 1);
      out += text.substr(0, restart);
      if (restart != std::string::npos) out += Feed(text.substr(restart));
    }
  }
  return out;
}

std::string CitationFilter::Flush() {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

std::string Snippet(std::string_view text, size_t max_bytes) {
  std::string collapsed;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !collapsed.empty();
      continue;
    }
    if (space) collapsed += ' ';
    space = false;
    collapsed += c;
  }
  if (collapsed.size() <= max_bytes) return collapsed;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(collapsed[cut]) & 0xC0) == 0x80) --cut;
  const size_t word = collapsed.rfind(' ', cut);
  if (word != std::string::npos && word > max_bytes / 2) cut = word;
  return collapsed.substr(0, cut) + "…";
}

std::string StripCitations(std::string_view text) {
  CitationFilter filter({});
  std::string out = filter.Feed(text);
  out += filter.Flush();
  // Removing a marker can leave " ." or a double space.
  std::string tidy;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == ' ' && i + 1 < out.size() &&
        (out[i + 1] == ' ' || out[i + 1] == '.' || out[i + 1] == ',')) {
      continue;
    }
    tidy += out[i];
  }
  while (!tidy.empty() && tidy.back() == ' ') tidy.pop_back();
  return tidy;
}

}  // namespace engram::agent
