// KV retention policies: which keys (and values) a sequence's cache keeps for good, per layer
// and KV head, through the hook inference::KvRetention (inference/kv_retention.h).
//
//   Result<std::unique_ptr<inference::KvRetention>> p =
//       compress::MakeKvRetention({.kind = compress::RetentionKind::kSnapKv, .budget = 0.05});
//   ctx->SetRetention(std::move(*p));   // before the prefill, so its queries are kept
//
// Both keep the first `sinks` positions and the recent `window` positions, and of the middle
// at most budget * length keys (inference::MiddleBudget, the sparse attention policies' rule):
//   snapkv  (SnapKV) at the first decode step after the prefill, scores every middle key by
//           the attention the last `observation` prefill queries paid it (summed over them and
//           over the GQA group's query heads), pools the scores over positions (max or average,
//           width `pool_kernel`, so neighbours of a strong key come along), keeps the best
//           budget * (prompt length + 1) and evicts the rest. It compresses the prompt only:
//           every token decoded afterwards is kept.
//   h2o     (H2O, heavy hitters) accumulates, per key, the attention it received: from the
//           sampled prefill queries (each weighted by the sampling stride) and from every decode
//           step, summed over the group's query heads. Whenever the kept middle exceeds
//           budget * length, the keys with the least accumulated attention are evicted.
// Evicted keys are never attended again. Evicted rows stay allocated in the paged cache (see
// inference/kv_retention.h): the memory figures are what a compacting cache would keep.
#pragma once

#include <memory>
#include <string_view>

#include "common/result.h"
#include "inference/kv_retention.h"

namespace engram::compress {

enum class RetentionKind { kSnapKv, kH2O };
std::string_view RetentionKindName(RetentionKind kind);  // "snapkv", "h2o"
// kInvalidArgument for another name, listing the valid ones.
Result<RetentionKind> ParseRetentionKind(std::string_view name);

enum class RetentionPool { kMax, kAvg };

struct KvRetentionOptions {
  RetentionKind kind = RetentionKind::kSnapKv;
  double budget = 0.05;  // (0, 1]: middle keys kept per (layer, KV head), a share of the length
  int sinks = 4;         // first positions always kept
  int window = 240;      // recent positions always kept (>= 1)
  int observation = 32;  // snapkv: last prefill queries that score the keys, 1..64
  int pool_kernel = 7;   // snapkv: pooling width over positions, odd, 1..63 (1: no pooling)
  RetentionPool pool = RetentionPool::kMax;  // snapkv
};

// kInvalidArgument naming the field, its value and the valid range.
Status ValidateKvRetentionOptions(const KvRetentionOptions& options);

// A fresh policy (no sequence state yet). kInvalidArgument as ValidateKvRetentionOptions.
Result<std::unique_ptr<inference::KvRetention>> MakeKvRetention(const KvRetentionOptions& options);

}  // namespace engram::compress
