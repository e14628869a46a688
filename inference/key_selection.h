// Choosing keys by score, shared by the sparse attention policies (inference/attention_policy.h)
// and the KV retention policies (compress/kv_retention.h), so both read "budget" the same way.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace engram::inference {

// Keys taken from the middle of a cache of `length` positions at share `budget`:
// max(1, round(budget * length)).
int64_t MiddleBudget(double budget, int64_t length);

// Keeps the `k` positions with the highest scores (scores[j] belongs to (*positions)[j]), in
// their order; among equal scores at the threshold the earlier entries stay. No-op when
// positions->size() <= k.
void KeepBest(std::vector<int32_t>* positions, std::span<const float> scores, int64_t k);

}  // namespace engram::inference
