#include "bench/memory_bench.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "bench/stats.h"
#include "bench/synthetic_corpus.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "memory/episodic_store.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

constexpr double kMb = 1024.0 * 1024.0;
constexpr int kTurnsPerSession = 100;
constexpr int kQueryWords = 6;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// Episode `i` of the synthetic history: a turn of 8-30 words, one minute after the previous.
memory::Episode Turn(const SyntheticCorpus& corpus, SyntheticEmbedder& embedder, int64_t i) {
  memory::Episode e;
  e.session = "session-" + std::to_string(i / kTurnsPerSession);
  e.role = i % 2 ? "assistant" : "user";
  e.text = corpus.Document(static_cast<uint64_t>(i));
  e.timestamp_ms = 1'700'000'000'000 + i * 60'000;
  Result<retrieval::EmbeddingBatch> v = embedder.Embed(std::span(&e.text, 1));
  if (v.ok()) e.embedding = std::move(v->values);
  return e;
}

Result<json> RunOne(const MemoryBenchOptions& options, int64_t size, const fs::path& dir) {
  SyntheticCorpusOptions corpus_options;
  corpus_options.min_words = 8;
  corpus_options.max_words = 30;
  corpus_options.topics = static_cast<int>(std::max<int64_t>(16, size / 1000));
  const SyntheticCorpus corpus(corpus_options);
  SyntheticEmbedder embedder(options.dim);
  memory::StoreOptions store_options;
  store_options.dim = options.dim;
  store_options.sync = options.sync;
  json row;
  row["episodes"] = size;
  std::string index_kind;
  {
    Result<std::unique_ptr<memory::EpisodicStore>> opened =
        memory::EpisodicStore::Open(dir.string(), store_options);
    if (!opened.ok()) return opened.status();
    memory::EpisodicStore& store = **opened;
    const std::string ns = "bench";

    ProgressReporter progress("append", static_cast<uint64_t>(size), {.unit = "episodes"});
    double append_ms = 0.0;
    std::vector<memory::Episode> batch;
    for (int64_t next = 0; next < size;) {
      batch.clear();
      for (; next < size && static_cast<int>(batch.size()) < options.batch; ++next) {
        batch.push_back(Turn(corpus, embedder, next));
      }
      const auto start = Clock::now();
      Result<std::vector<uint64_t>> ids = store.AppendBatch(ns, batch);
      append_ms += Ms(start);
      if (!ids.ok()) return ids.status();
      progress.Add(batch.size());
    }
    progress.Finish();
    row["append_batch_per_s"] = static_cast<double>(size) / (append_ms / 1e3);
    std::vector<double> single_ms;
    for (int i = 0; i < options.singles; ++i) {
      const memory::Episode e = Turn(corpus, embedder, size + i);
      const auto start = Clock::now();
      Result<uint64_t> id = store.Append(ns, e);
      single_ms.push_back(Ms(start));
      if (!id.ok()) return id.status();
    }
    row["append_ms_p50"] = Percentile(single_ms, 0.5);
    row["append_ms_p99"] = Percentile(single_ms, 0.99);

    std::mt19937_64 rng(3);
    std::vector<double> combined_ms, dense_ms;
    const int64_t now = 1'700'000'000'000 + (size + options.singles) * 60'000;
    for (int q = 0; q < options.queries; ++q) {
      const std::string query =
          corpus.Query(rng() % static_cast<uint64_t>(size), kQueryWords);
      Result<retrieval::EmbeddingBatch> v = embedder.Embed(std::span(&query, 1));
      if (!v.ok()) return v.status();
      memory::RecallOptions o;
      o.k = 10;
      o.now_ms = now;
      o.query_embedding = v->values;
      auto start = Clock::now();
      auto hits = store.Recall(ns, query, o);
      combined_ms.push_back(Ms(start));
      if (!hits.ok()) return hits.status();
      o.bm25_weight = 0.0;
      start = Clock::now();
      hits = store.Recall(ns, query, o);
      dense_ms.push_back(Ms(start));
      if (!hits.ok()) return hits.status();
    }
    row["recall_ms_p50"] = Percentile(combined_ms, 0.5);
    row["recall_ms_p99"] = Percentile(combined_ms, 0.99);
    row["dense_recall_ms_p50"] = Percentile(dense_ms, 0.5);
    row["dense_recall_ms_p99"] = Percentile(dense_ms, 0.99);
    row["rss_mb"] = static_cast<double>(ResidentBytes()) / kMb;
    row["peak_rss_mb"] = static_cast<double>(PeakResidentBytes()) / kMb;
    if (Status s = store.Flush(); !s.ok()) return s;
    Result<memory::StoreStats> stats = store.Stats();
    if (!stats.ok()) return stats.status();
    row["disk_mb"] = static_cast<double>(stats->disk_bytes) / kMb;
  }
  const auto reopen_start = Clock::now();
  Result<std::unique_ptr<memory::EpisodicStore>> reopened =
      memory::EpisodicStore::Open(dir.string(), store_options);
  if (!reopened.ok()) return reopened.status();
  row["reopen_s"] = Ms(reopen_start) / 1e3;
  return row;
}

}  // namespace

Result<json> RunMemoryBench(const MemoryBenchOptions& options) {
  if (options.episodes.empty() || options.dim < 1 || options.queries < 1 || options.batch < 1 ||
      options.singles < 0) {
    return Status::InvalidArgument("bench memory: sizes, --dim, --queries and --batch must be positive");
  }
  json results = json::array();
  for (int64_t size : options.episodes) {
    if (size < 1) return Status::InvalidArgument("bench memory: --episodes values must be positive");
    const fs::path dir = (options.work_dir.empty() ? fs::temp_directory_path()
                                                   : fs::path(options.work_dir)) /
                         ("engram-bench-memory-" + std::to_string(::getpid()));
    std::error_code ec;
    fs::remove_all(dir, ec);
    Result<json> row = RunOne(options, size, dir);
    fs::remove_all(dir, ec);
    if (!row.ok()) return row.status();
    results.push_back(*row);
  }
  json out;
  out["results"] = results;
  out["config"] = {{"dim", options.dim},
                   {"queries", options.queries},
                   {"batch", options.batch},
                   {"singles", options.singles},
                   {"sync", options.sync},
                   {"namespaces", 1},
                   {"turn_words", "8-30"},
                   {"embedder", "synthetic-bag-of-words (given with each episode)"},
                   {"recall", "k 10, default combined weights; dense: bm25 weight 0"}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatMemoryBench(const json& r) {
  std::string out = "memory bench (synthetic turns, one namespace)\n";
  char line[256];
  std::snprintf(line, sizeof line, "%10s %12s %14s %16s %16s %8s %8s %8s\n", "episodes",
                "batch ep/s", "append p50/p99", "recall p50/p99", "dense p50/p99", "RSS MB",
                "disk MB", "reopen s");
  out += line;
  for (const json& row : r["results"]) {
    std::snprintf(line, sizeof line, "%10lld %12.0f %7.2f/%-6.2f %8.2f/%-7.2f %8.2f/%-7.2f %8.0f %8.0f %8.1f\n",
                  static_cast<long long>(row["episodes"].get<int64_t>()),
                  row["append_batch_per_s"].get<double>(), row["append_ms_p50"].get<double>(),
                  row["append_ms_p99"].get<double>(), row["recall_ms_p50"].get<double>(),
                  row["recall_ms_p99"].get<double>(), row["dense_recall_ms_p50"].get<double>(),
                  row["dense_recall_ms_p99"].get<double>(), row["rss_mb"].get<double>(),
                  row["disk_mb"].get<double>(), row["reopen_s"].get<double>());
    out += line;
  }
  return out;
}

}  // namespace engram::bench
