// `engram bench vectors`: recall and speed of the vector index against exact search, to choose
// its parameters. For each efSearch in a list: recall@10 of HNSW (or IVF-PQ) against the exact
// top 10 of a flat index over the same vectors, and microseconds per query; plus build time,
// memory, and the exact search's own time.
//
// Data (--data):
//   random     isotropic unit vectors: no structure, the hardest case for any graph or cluster
//              index (neighbours are barely closer than anything else)
//   lowrank    unit vectors near a 32-dimensional subspace (x = zA + 0.3 noise), a common model
//              of real embeddings' low intrinsic dimension
//   synthetic  the bag-of-words embeddings of `engram bench retrieval`'s corpus
//   real       all-MiniLM-L6-v2 embeddings of 40-word windows of the SQuAD dev paragraphs, the
//              L-Eval documents and the essays (base; about 13,000 available) and of SQuAD dev
//              questions (queries), from $ENGRAM_SHARED_DATA
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct VectorBenchOptions {
  std::string data = "random";
  int64_t n = 100000;
  int dim = 384;  // ignored for real (the model's dimension)
  int queries = 200;
  std::string index = "hnsw";  // hnsw or ivfpq
  std::vector<int> ef_search = {32, 64, 128, 256, 512, 1024};
  std::string model;  // real: the embedder (default all-MiniLM-L6-v2)
};

// {"data", "n", "dim", "queries", "index", "build_s", "index_mb", "exact_us_per_query",
//  "sweep": [{"ef_search", "recall@10", "us_per_query"}, ...], "config", "commit", "machine"}
Result<nlohmann::ordered_json> RunVectorBench(const VectorBenchOptions& options);

std::string FormatVectorBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
