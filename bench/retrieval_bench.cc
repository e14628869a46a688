#include "bench/retrieval_bench.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "bench/scratch_dir.h"
#include "bench/stats.h"
#include "bench/synthetic_corpus.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "retrieval/collection.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

constexpr double kMb = 1024.0 * 1024.0;
constexpr int kQueryWords = 8;
constexpr int kTopK = 10;

std::string SourceOf(uint64_t document) { return "synthetic/" + std::to_string(document); }

Status Ingest(retrieval::Collection& collection, const SyntheticCorpus& corpus,
              const RetrievalBenchOptions& options, uint64_t* chunks) {
  ProgressReporter progress("ingest", static_cast<uint64_t>(options.chunks), {.unit = "docs"});
  std::vector<retrieval::DocumentInput> batch;
  for (int64_t next = 0; next < options.chunks;) {
    batch.clear();
    for (; next < options.chunks && static_cast<int>(batch.size()) < options.batch; ++next) {
      batch.push_back({.text = corpus.Document(static_cast<uint64_t>(next)),
                       .source = SourceOf(static_cast<uint64_t>(next))});
    }
    Result<std::vector<retrieval::IngestResult>> results = collection.IngestBatch(batch);
    if (!results.ok()) return results.status();
    for (const retrieval::IngestResult& r : *results) *chunks += r.chunks;
    progress.Add(batch.size());
  }
  return Status::OK();
}

struct ModeFigures {
  std::vector<double> ms;
  int found = 0;
};

}  // namespace

Result<json> RunRetrievalBench(const RetrievalBenchOptions& options) {
  if (options.chunks < 1 || options.dim < 1 || options.queries < 1 || options.batch < 1) {
    return Status::InvalidArgument(
        "bench retrieval: --chunks, --dim, --queries and --batch must be positive");
  }
  Result<retrieval::IndexKind> kind = retrieval::ParseIndexKind(options.index);
  if (!kind.ok()) return kind.status();

  // A fresh directory of our own, inside work_dir (or the system's temporary directory).
  const ScratchDir scratch((options.work_dir.empty() ? fs::temp_directory_path()
                                                     : fs::path(options.work_dir)) /
                               ("engram-bench-retrieval-" + std::to_string(::getpid())),
                           /*keep=*/options.keep);
  const fs::path& dir = scratch.path();

  SyntheticCorpusOptions corpus_options;
  // About a thousand documents per topic, as a real corpus has many documents per subject.
  corpus_options.topics = static_cast<int>(std::max<int64_t>(16, options.chunks / 1000));
  const SyntheticCorpus corpus(corpus_options);
  SyntheticEmbedder embedder(options.dim);
  retrieval::CollectionOptions copts;
  copts.index.kind = *kind;
  copts.mode = retrieval::OpenMode::kCreate;

  json out;
  uint64_t chunks = 0;
  double ingest_s = 0.0, flush_s = 0.0;
  retrieval::CollectionStats stats;
  uint64_t rss_after_ingest = 0;
  std::array<ModeFigures, 3> figures;
  const retrieval::SearchMode modes[] = {retrieval::SearchMode::kBm25,
                                         retrieval::SearchMode::kDense,
                                         retrieval::SearchMode::kHybrid};
  {
    Result<std::unique_ptr<retrieval::Collection>> opened =
        retrieval::Collection::Open(dir.string(), &embedder, copts);
    if (!opened.ok()) return opened.status();
    retrieval::Collection& collection = **opened;

    auto start = Clock::now();
    if (Status s = Ingest(collection, corpus, options, &chunks); !s.ok()) return s;
    ingest_s = Seconds(start);
    stats = collection.Stats();
    rss_after_ingest = ResidentBytes();
    start = Clock::now();
    if (Status s = collection.Flush(); !s.ok()) return s;
    flush_s = Seconds(start);

    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int64_t> pick(0, options.chunks - 1);
    ProgressReporter progress("queries", static_cast<uint64_t>(options.queries) * 3,
                              {.unit = "queries"});
    for (int q = 0; q < options.queries; ++q) {
      const int64_t document = pick(rng);
      const std::string query = corpus.Query(static_cast<uint64_t>(document), kQueryWords);
      for (size_t m = 0; m < 3; ++m) {
        const auto t = Clock::now();
        Result<std::vector<retrieval::SearchHit>> hits =
            collection.Search(query, {.mode = modes[m], .k = kTopK});
        figures[m].ms.push_back(Seconds(t) * 1e3);
        if (!hits.ok()) return hits.status();
        for (const retrieval::SearchHit& h : *hits) {
          if (h.source == SourceOf(static_cast<uint64_t>(document))) {
            ++figures[m].found;
            break;
          }
        }
        progress.Add();
      }
    }
  }  // closes the collection (the index was saved by Flush)

  const auto reopen_start = Clock::now();
  double reopen_s = 0.0;
  {
    Result<std::unique_ptr<retrieval::Collection>> reopened =
        retrieval::Collection::Open(dir.string(), &embedder, copts);
    if (!reopened.ok()) return reopened.status();
    reopen_s = Seconds(reopen_start);
    if ((*reopened)->Stats().chunks != chunks) {
      return Status::Internal("bench retrieval: the reopened collection lost chunks");
    }
  }

  if (options.keep) out["directory"] = dir.string();
  out["chunks"] = chunks;
  out["documents"] = options.chunks;
  out["ingest_s"] = ingest_s;
  out["ingest_chunks_per_s"] = static_cast<double>(chunks) / ingest_s;
  out["index_build_s"] = stats.index_seconds;
  out["index_kind"] = std::string(retrieval::IndexKindName(stats.index_kind));
  out["index_mb"] = static_cast<double>(stats.index_bytes) / kMb;
  out["flush_s"] = flush_s;
  out["reopen_s"] = reopen_s;
  for (size_t m = 0; m < 3; ++m) {
    out[std::string(retrieval::SearchModeName(modes[m]))] = {
        {"query_ms_p50", Percentile(figures[m].ms, 0.5)},
        {"query_ms_p99", Percentile(figures[m].ms, 0.99)},
        {"source_in_top10", static_cast<double>(figures[m].found) / options.queries}};
  }
  out["rss_mb"] = static_cast<double>(rss_after_ingest) / kMb;
  out["peak_rss_mb"] = static_cast<double>(PeakResidentBytes()) / kMb;
  out["disk_mb"] = static_cast<double>(DiskBytes(dir.string())) / kMb;
  out["config"] = {{"dim", options.dim},
                   {"queries", options.queries},
                   {"batch", options.batch},
                   {"index", options.index},
                   {"hnsw", {{"m", copts.index.hnsw_m},
                             {"ef_construction", copts.index.hnsw_ef_construction},
                             {"ef_search", copts.index.hnsw_ef_search},
                             {"threshold", copts.index.hnsw_threshold}}},
                   {"corpus", {{"vocabulary", corpus_options.vocabulary},
                               {"topics", corpus_options.topics},
                               {"topic_words", corpus_options.topic_words},
                               {"words_per_document", std::to_string(corpus_options.min_words) +
                                                          "-" +
                                                          std::to_string(corpus_options.max_words)},
                               {"query_words", kQueryWords}}},
                   {"embedder", std::string(embedder.Name())}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatRetrievalBench(const json& r) {
  char line[256];
  std::string out;
  std::snprintf(line, sizeof line,
                "retrieval bench: %llu chunks (synthetic), index %s %.0f MB\n"
                "ingest: %.1f s, %.0f chunks/s (vector index %.1f s); flush %.2f s; reopen %.2f s\n",
                static_cast<unsigned long long>(r["chunks"].get<uint64_t>()),
                r["index_kind"].get<std::string>().c_str(), r["index_mb"].get<double>(),
                r["ingest_s"].get<double>(), r["ingest_chunks_per_s"].get<double>(),
                r["index_build_s"].get<double>(), r["flush_s"].get<double>(),
                r["reopen_s"].get<double>());
  out += line;
  std::snprintf(line, sizeof line, "%-7s %10s %10s %16s\n", "mode", "p50 ms", "p99 ms",
                "source in top 10");
  out += line;
  for (const char* mode : {"bm25", "dense", "hybrid"}) {
    const json& m = r[mode];
    std::snprintf(line, sizeof line, "%-7s %10.2f %10.2f %16.3f\n", mode,
                  m["query_ms_p50"].get<double>(), m["query_ms_p99"].get<double>(),
                  m["source_in_top10"].get<double>());
    out += line;
  }
  std::snprintf(line, sizeof line, "memory: RSS %.0f MB after ingest, peak %.0f MB; disk %.0f MB\n",
                r["rss_mb"].get<double>(), r["peak_rss_mb"].get<double>(),
                r["disk_mb"].get<double>());
  out += line;
  return out;
}

}  // namespace engram::bench
