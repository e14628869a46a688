// Stop strings over streamed text: emits what can no longer be the start of a stop string,
// holds back the rest, and cuts the output right before the first stop string that completes.
//
//   StopStringMatcher stops({"\nUser:"});
//   for (piece : pieces) { out += stops.Feed(piece); if (stops.stopped()) break; }
//   out += stops.Flush();   // at the end, unless stopped
//
// Byte-level: pieces may split multi-byte characters, and held-back text may end inside one.
// Only the longest tail that could still begin a stop string is held back (at most the longest
// stop string's length minus one byte).
//
// Thread safety: not safe for concurrent use; one matcher per generated sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace engram::inference {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);  // empty strings are ignored

  // The text that is now safe to emit. After a stop string completes, stopped() is true, the
  // returned text ends right before it, and nothing from the stop string on is ever returned
  // (later Feed and Flush calls return ""). When several stop strings match, the one that
  // completes first wins (earliest end; at equal ends, the longest), so the output does not
  // depend on how the text is split into pieces.
  std::string Feed(std::string_view piece);
  // The held-back text, at the end of generation (EOS, token limit); "" once stopped.
  std::string Flush();

  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop that fired; "" if none

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace engram::inference
