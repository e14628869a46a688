#include "compress/source_map.h"

#include <algorithm>

namespace engram::compress {

void SourceMap::AppendKept(std::string& out, size_t document, size_t begin, size_t end,
                           std::string_view source_text) {
  if (end <= begin) return;
  const size_t out_begin = out.size();
  out.append(source_text.substr(begin, end - begin));
  if (!spans_.empty()) {
    MappedSpan& last = spans_.back();
    if (last.document == document && last.end == begin && last.out_end == out_begin) {
      last.end = end;
      last.out_end = out.size();
      return;
    }
  }
  spans_.push_back({out_begin, out.size(), document, begin, end});
}

std::vector<MappedSpan> SourceMap::Map(size_t out_begin, size_t out_end) const {
  std::vector<MappedSpan> found;
  // The first span that ends after out_begin.
  auto it = std::upper_bound(spans_.begin(), spans_.end(), out_begin,
                             [](size_t pos, const MappedSpan& s) { return pos < s.out_end; });
  for (; it != spans_.end() && it->out_begin < out_end; ++it) {
    const size_t lo = std::max(out_begin, it->out_begin);
    const size_t hi = std::min(out_end, it->out_end);
    if (lo >= hi) continue;
    found.push_back({lo, hi, it->document, it->begin + (lo - it->out_begin),
                     it->begin + (hi - it->out_begin)});
  }
  return found;
}

}  // namespace engram::compress
