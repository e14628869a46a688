#include "inference/key_selection.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace engram::inference {

int64_t MiddleBudget(double budget, int64_t length) {
  return std::max<int64_t>(1, std::llround(budget * static_cast<double>(length)));
}

void KeepBest(std::vector<int32_t>* positions, std::span<const float> scores, int64_t k) {
  const auto n = static_cast<int64_t>(positions->size());
  if (n <= k) return;
  if (k <= 0) {
    positions->clear();
    return;
  }
  thread_local std::vector<float> sorted;
  sorted.assign(scores.begin(), scores.begin() + n);
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
  const float threshold = sorted[k - 1];
  int64_t above = 0;  // scores strictly above the threshold: all kept; ties fill the rest
  for (int64_t j = 0; j < n; ++j) above += scores[j] > threshold;
  int64_t ties = k - above;
  int64_t kept = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (scores[j] > threshold || (scores[j] == threshold && ties-- > 0)) {
      (*positions)[kept++] = (*positions)[j];
    }
  }
  positions->resize(static_cast<size_t>(kept));
}

Status ValidateKeyBudget(std::string_view who, double budget, int sinks, int window) {
  auto bad = [&](std::string_view field, const std::string& value, std::string_view range) {
    return Status::InvalidArgument(std::string(who) + ": " + std::string(field) + " " + value +
                                   " is out of range; use " + std::string(range));
  };
  if (!(budget > 0.0 && budget <= 1.0)) {
    return bad("budget", std::to_string(budget), "a share of the context in (0, 1], e.g. 0.05");
  }
  if (sinks < 0 || sinks > 65536) return bad("sinks", std::to_string(sinks), "0..65536");
  if (window < 1 || window > 1 << 20) return bad("window", std::to_string(window), "1..1048576");
  return Status::OK();
}

}  // namespace engram::inference
