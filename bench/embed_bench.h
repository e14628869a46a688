// `engram bench embed`: sentences/s of the sentence embedder at batch sizes 1 and 32 (or
// --batch), with per-call latency percentiles, on real sentences: the first N sentences of the
// SQuAD dev paragraphs (or --file, one text per line). bench/peer_embed.sh runs
// sentence-transformers on the same sentences, batch sizes and thread count.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct EmbedBenchOptions {
  std::string model;                 // sentence-transformers directory; empty: the default
  std::string file;                  // one text per line; empty: SQuAD dev sentences
  std::vector<int> batches = {1, 32};
  int sentences = 1024;              // texts timed per batch size (at most those available)
  int threads = 0;                   // 0: one per hardware thread
  int repeat = 3;                    // passes per batch size; the median pass is reported
  std::string precision = "auto";    // auto, f32, bf16 or int8 (inference::EmbedPrecision)
};

// The benchmark's default texts: the SQuAD dev paragraphs (ENGRAM_SHARED_DATA) cut into
// sentences after '.', '!' or '?' followed by white space, in file order, at most `limit`.
Result<std::vector<std::string>> SquadSentences(size_t limit);

// {"bench": "embed", "model", "dim", "threads", "precision", "gemm_isa", "sentences", "mean_tokens",
//  "results": [{"batch", "sentences_per_s", "p50_ms", "p99_ms", "runs"}], "commit", "machine"}
// p50/p99 are over the calls (one batch each) of every pass.
Result<nlohmann::ordered_json> RunEmbedBench(const EmbedBenchOptions& options);

std::string FormatEmbedBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
