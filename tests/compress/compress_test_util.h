// Helpers the compression tests share: a model-free token count and the source-map check.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "compress/coarse_compressor.h"

namespace engram::compress::testing {

// A crude token count: runs of non-space characters (the tests only need it monotone).
inline int CountWords(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

// Checks the SourceMap promise and that spans are disjoint and in output order, and that Map()
// over windows of the output returns exact, clipped spans.
inline void ExpectExactMap(const Compressed& c, const std::vector<std::string>& documents) {
  size_t previous_end = 0;
  for (const MappedSpan& s : c.map.spans()) {
    ASSERT_LT(s.document, documents.size());
    ASSERT_LE(s.end, documents[s.document].size());
    ASSERT_LE(s.out_end, c.text.size());
    EXPECT_GE(s.out_begin, previous_end);
    previous_end = s.out_end;
    EXPECT_EQ(c.text.substr(s.out_begin, s.out_end - s.out_begin),
              documents[s.document].substr(s.begin, s.end - s.begin));
  }
  for (size_t b = 0; b < c.text.size(); b += 37) {
    const size_t e = std::min(c.text.size(), b + 91);
    for (const MappedSpan& s : c.map.Map(b, e)) {
      EXPECT_GE(s.out_begin, b);
      EXPECT_LE(s.out_end, e);
      EXPECT_EQ(c.text.substr(s.out_begin, s.out_end - s.out_begin),
                documents[s.document].substr(s.begin, s.end - s.begin));
    }
  }
}

}  // namespace engram::compress::testing
