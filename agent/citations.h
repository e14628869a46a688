// Citation markers in generated answers: "[2]", "[1, 3]", "[1][3]".
//
//   CitationFilter filter(/*valid=*/{1, 2, 3});
//   for (piece : stream) emit(filter.Feed(piece));   // markers held back until complete
//   emit(filter.Flush());
//   filter.cited();    // {1, 3}: valid numbers the answer used, in order of first use
//   filter.dropped();  // {7}: numbers that named no source; removed from the text
//
// The filter is the one place that decides what an answer may cite: streamed or not, the text it
// lets through never carries a number outside `valid`. A marker with some valid and some invalid
// numbers keeps the valid ones ("[1, 9]" -> "[1]").
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace engram::agent {

class CitationFilter {
 public:
  explicit CitationFilter(std::set<int> valid) : valid_(std::move(valid)) {}

  // The text that can be emitted now; a possible marker stays buffered until it closes or
  // turns out not to be one.
  std::string Feed(std::string_view piece);
  // Whatever is still buffered (an unfinished "[12" is text).
  std::string Flush();

  const std::vector<int>& cited() const { return cited_; }
  const std::vector<int>& dropped() const { return dropped_; }

 private:
  // The marker in pending_ (complete, "[...]") as it should read; "" when it cites nothing.
  std::string Rewrite();

  std::set<int> valid_;
  std::string pending_;  // starts with '[' when non-empty
  std::vector<int> cited_, dropped_;
};

// A quote from `text` of at most about `max_bytes`: cut at a word boundary on a UTF-8 character
// boundary, white space runs collapsed, "…" appended when cut.
std::string Snippet(std::string_view text, size_t max_bytes = 200);

// `text` without citation markers (for scoring answers against references).
std::string StripCitations(std::string_view text);

}  // namespace engram::agent
