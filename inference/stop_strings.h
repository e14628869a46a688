// Stop strings over streamed text: emits what can no longer be the start of a stop string,
// holds back the rest, and cuts the output right before the first stop string that completes.
//
//   StopStringMatcher stops({"\nUser:"});
//   for (piece : pieces) { out += stops.Feed(piece); if (stops.stopped()) break; }
//   out += stops.Flush();   // at the end, unless stopped
//
// Byte-level: pieces may split multi-byte characters.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace engram::inference {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);  // empty strings are ignored

  // The text that is now safe to emit. After a stop string completes, stopped() is true and
  // nothing from the stop string on is ever returned.
  std::string Feed(std::string_view piece);
  // The held-back text, at the end of generation.
  std::string Flush();

  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace engram::inference
