#include "inference/stop_strings.h"

#include <algorithm>

namespace engram::inference {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopStringMatcher::Feed(std::string_view piece) {
  if (stopped_) return {};
  const size_t old_size = pending_.size();
  pending_.append(piece);

  // The stop string that completes first, as if the text came one byte at a time: the earliest
  // end, and among those ending there the longest. Then how the text was cut into pieces does
  // not change the result.
  const std::string* best = nullptr;
  size_t best_start = 0, best_end = std::string::npos;
  for (const std::string& s : stops_) {
    // The held-back text held no complete stop string, so a match ends in the new bytes.
    const size_t from = old_size >= s.size() ? old_size - s.size() + 1 : 0;
    const size_t at = pending_.find(s, from);
    if (at == std::string::npos) continue;
    const size_t end = at + s.size();
    if (end < best_end || (end == best_end && at < best_start)) {
      best = &s;
      best_start = at;
      best_end = end;
    }
  }
  if (best != nullptr) {
    stopped_ = true;
    matched_ = *best;
    std::string out = pending_.substr(0, best_start);
    pending_.clear();
    return out;
  }

  // Hold back the longest suffix that is a proper prefix of some stop string; everything before
  // it can no longer become part of one.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopStringMatcher::Flush() {
  if (stopped_) return {};
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace engram::inference
