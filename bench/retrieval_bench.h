// `engram bench retrieval`: a collection at scale, with synthetic text and embeddings
// (bench/synthetic_corpus.h), through the real store (RocksDB, BM25 postings, FAISS index).
//
// Reports ingest throughput (chunks/s, and the part of the time spent in the vector index),
// the index kind and memory, the time to save the index (Flush) and to reopen the collection,
// query latency p50/p99 for bm25, dense and hybrid search (k = 10), the share of queries whose
// source document is in the top 10 (a sanity figure: the queries are made of its words), the
// process RSS after ingest and its peak, and the bytes on disk.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace engram::bench {

struct RetrievalBenchOptions {
  int64_t chunks = 100000;  // one chunk per synthetic document
  int dim = 384;
  int queries = 1000;       // per mode
  int batch = 1000;         // documents per IngestBatch (one RocksDB write each)
  std::string index = "auto";  // auto, flat, hnsw or ivfpq
  // The collection is built in <work_dir>/engram-bench-retrieval-<pid> (work_dir empty: the
  // system's temporary directory) and removed afterwards unless `keep`.
  std::string work_dir;
  bool keep = false;
};

// {"chunks", "documents", "ingest_s", "ingest_chunks_per_s", "index_build_s", "index_kind",
//  "index_mb", "flush_s", "reopen_s", "bm25"|"dense"|"hybrid": {"query_ms_p50", "query_ms_p99",
//  "source_in_top10"}, "rss_mb", "peak_rss_mb", "disk_mb", "config", "commit", "machine"}.
Result<nlohmann::ordered_json> RunRetrievalBench(const RetrievalBenchOptions& options);

std::string FormatRetrievalBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
