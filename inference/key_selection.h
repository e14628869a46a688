// Choosing keys by score, shared by the sparse attention policies (inference/attention_policy.h)
// and the KV retention policies (compress/kv_retention.h), so both read "budget" the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace engram::inference {

// Keys taken from the middle of a cache of `length` positions at share `budget`:
// max(1, round(budget * length)).
int64_t MiddleBudget(double budget, int64_t length);

// Keeps the `k` positions with the highest scores (scores[j] belongs to (*positions)[j]), in
// their order; among equal scores at the threshold the earlier entries stay. No-op when
// positions->size() <= k.
void KeepBest(std::vector<int32_t>* positions, std::span<const float> scores, int64_t k);

// The fields every policy shares: budget in (0, 1], sinks 0..65536, window 1..2^20.
// kInvalidArgument "<who>: <field> <value> is out of range; use <range>".
Status ValidateKeyBudget(std::string_view who, double budget, int sinks, int window);

}  // namespace engram::inference
