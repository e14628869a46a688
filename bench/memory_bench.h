// `engram bench memory`: the episodic store at scale, with synthetic turns and embeddings
// (bench/synthetic_corpus.h; embeddings are given, as the figure asks, and computed
// outside the timed part).
//
// For each size: a fresh store (sync on, as served) receives that many episodes in one namespace,
// in AppendBatch calls of `batch` (throughput), then `singles` more one Append at a time (latency
// of an acknowledged append); then `queries` recalls with the default combined score and with
// dense only (p50/p99), the RSS, the bytes on disk and the time to reopen.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct MemoryBenchOptions {
  std::vector<int64_t> episodes = {100000, 1000000};
  int dim = 384;
  int queries = 200;
  int batch = 1000;
  int singles = 1000;
  bool sync = true;
  std::string work_dir;  // stores go to <work_dir>/engram-bench-memory-<pid>, removed afterwards
};

// {"results": [{"episodes", "append_batch_per_s", "append_ms_p50", "append_ms_p99",
//   "recall_ms_p50", "recall_ms_p99", "dense_recall_ms_p50", "dense_recall_ms_p99",
//   "index_kind", "rss_mb", "peak_rss_mb", "disk_mb", "reopen_s"}, ...], "config", "commit",
//  "machine"}
Result<nlohmann::ordered_json> RunMemoryBench(const MemoryBenchOptions& options);

std::string FormatMemoryBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
