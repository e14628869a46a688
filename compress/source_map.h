// Where each piece of a compressed text came from: spans of the output, each the exact bytes of
// a span of one source document, so a citation computed on the compressed text (an output
// range) points back at the original (document, begin, end).
//
//   SourceMap map;
//   std::string out;
//   map.AppendKept(out, /*document=*/0, 120, 180, documents[0]);  // out += that text
//   out += "\n\n";                                                 // separators map nowhere
//   std::vector<MappedSpan> origin = map.Map(0, out.size());
//
// Promise: for every span, out.substr(out_begin, out_end - out_begin) ==
// documents[document].substr(begin, end - begin).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace engram::compress {

struct MappedSpan {
  size_t out_begin = 0, out_end = 0;  // in the compressed text
  size_t document = 0;                // index of the source document
  size_t begin = 0, end = 0;          // in that document's text
};

class SourceMap {
 public:
  // Appends source_text.substr(begin, end - begin) to `out` and records where it came from.
  // Adjacent pieces of the same document that touch (end == next begin) become one span.
  void AppendKept(std::string& out, size_t document, size_t begin, size_t end,
                  std::string_view source_text);

  // The source spans under [out_begin, out_end) of the output, clipped to it, in output order
  // (separators between spans map to nothing and are skipped).
  std::vector<MappedSpan> Map(size_t out_begin, size_t out_end) const;

  const std::vector<MappedSpan>& spans() const { return spans_; }

 private:
  std::vector<MappedSpan> spans_;  // in output order, disjoint
};

}  // namespace engram::compress
