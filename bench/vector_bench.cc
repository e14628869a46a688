#include "bench/eval_data.h"
#include "bench/vector_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <unordered_set>

#include "bench/synthetic_corpus.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "retrieval/vector_index.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

constexpr int kTopK = 10;
constexpr double kMb = 1024.0 * 1024.0;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void Normalise(std::vector<float>& v, int dim) {
  for (size_t row = 0; row < v.size() / static_cast<size_t>(dim); ++row) {
    float* x = v.data() + row * static_cast<size_t>(dim);
    double norm = 0.0;
    for (int d = 0; d < dim; ++d) norm += static_cast<double>(x[d]) * x[d];
    const float inv = static_cast<float>(1.0 / std::sqrt(std::max(norm, 1e-30)));
    for (int d = 0; d < dim; ++d) x[d] *= inv;
  }
}

struct Vectors {
  int dim = 0;
  std::vector<float> base, queries;
};

std::vector<float> Gaussian(int64_t rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  for (float& x : v) x = normal(rng);
  return v;
}

Vectors RandomVectors(const VectorBenchOptions& o) {
  std::mt19937_64 rng(42);
  Vectors v{o.dim, Gaussian(o.n, o.dim, rng), Gaussian(o.queries, o.dim, rng)};
  Normalise(v.base, o.dim);
  Normalise(v.queries, o.dim);
  return v;
}

Vectors LowRankVectors(const VectorBenchOptions& o) {
  constexpr int kRank = 32;
  std::mt19937_64 rng(42);
  const std::vector<float> basis = Gaussian(kRank, o.dim, rng);
  auto make = [&](int64_t rows) {
    std::vector<float> v = Gaussian(rows, o.dim, rng);
    for (float& x : v) x *= 0.3f;
    const std::vector<float> z = Gaussian(rows, kRank, rng);
    for (int64_t r = 0; r < rows; ++r) {
      for (int k = 0; k < kRank; ++k) {
        const float zk = z[static_cast<size_t>(r * kRank + k)];
        for (int d = 0; d < o.dim; ++d) {
          v[static_cast<size_t>(r * o.dim + d)] += zk * basis[static_cast<size_t>(k * o.dim + d)];
        }
      }
    }
    Normalise(v, o.dim);
    return v;
  };
  Vectors v{o.dim, make(o.n), make(o.queries)};
  return v;
}

Result<Vectors> SyntheticVectors(const VectorBenchOptions& o) {
  SyntheticCorpusOptions corpus_options;
  corpus_options.topics = static_cast<int>(std::max<int64_t>(16, o.n / 1000));
  const SyntheticCorpus corpus(corpus_options);
  SyntheticEmbedder embedder(o.dim);
  Vectors v{o.dim, {}, {}};
  std::vector<std::string> texts;
  for (int64_t i = 0; i < o.n; ++i) texts.push_back(corpus.Document(static_cast<uint64_t>(i)));
  Result<retrieval::EmbeddingBatch> base = embedder.Embed(texts);
  if (!base.ok()) return base.status();
  texts.clear();
  std::mt19937_64 rng(7);
  for (int q = 0; q < o.queries; ++q) {
    texts.push_back(corpus.Query(static_cast<uint64_t>(rng() % static_cast<uint64_t>(o.n)), 8));
  }
  Result<retrieval::EmbeddingBatch> queries = embedder.Embed(texts);
  if (!queries.ok()) return queries.status();
  v.base = std::move(base->values);
  v.queries = std::move(queries->values);
  return v;
}

// 40-word windows of the SQuAD dev paragraphs, the L-Eval documents and the essays, until n
// texts; the first `queries` SQuAD dev questions.
Result<Vectors> RealVectors(const VectorBenchOptions& o) {
  constexpr int kWindowWords = 40;
  const char* root = std::getenv("ENGRAM_SHARED_DATA");
  if (root == nullptr) {
    return Status::FailedPrecondition(
        "bench vectors: --data real needs ENGRAM_SHARED_DATA (the shared data directory)");
  }
  const fs::path data(root);
  std::vector<std::string> base, questions;
  auto add_windows = [&](const std::string& text) {
    std::istringstream words(text);
    std::string window, word;
    int count = 0;
    while (words >> word && static_cast<int64_t>(base.size()) < o.n) {
      window += (count ? " " : "") + word;
      if (++count == kWindowWords) {
        base.push_back(std::move(window));
        window.clear();
        count = 0;
      }
    }
  };
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> squad,
                    ReadSquad((data / "squad" / "dev-v1.1.shared.json").string(), "bench vectors"));
  for (const SquadArticle& article : squad) {
    for (const SquadParagraph& p : article.paragraphs) {
      add_windows(p.context);
      for (const std::string& q : p.questions) questions.push_back(q);
    }
  }
  std::vector<fs::path> files;
  for (const char* sub : {"leval", "haystack/pg_essays"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data / sub, ec)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& path : files) {
    if (path.extension() != ".jsonl") {
      ENGRAM_TRY_ASSIGN(const std::string text, ReadTextFile(path.string(), "bench vectors"));
      add_windows(text);
      continue;
    }
    ENGRAM_TRY_ASSIGN(const std::vector<std::string> inputs,
                      ReadJsonlInputs(path.string(), "bench vectors"));
    for (const std::string& input : inputs) add_windows(input);
  }
  if (static_cast<int64_t>(base.size()) > o.n) base.resize(static_cast<size_t>(o.n));
  if (static_cast<int64_t>(base.size()) < o.n) {
    return Status::InvalidArgument("bench vectors: the shared data gives only " +
                                   std::to_string(base.size()) + " real texts; lower --n");
  }
  questions.resize(std::min<size_t>(questions.size(), static_cast<size_t>(o.queries)));
  Result<std::unique_ptr<inference::BertEmbedder>> embedder =
      inference::BertEmbedder::OpenOrDefault(o.model, {});
  if (!embedder.ok()) return embedder.status();
  Vectors v;
  v.dim = (*embedder)->Dim();
  ProgressReporter progress("embed", base.size() + questions.size(), {.unit = "texts"});
  for (std::vector<std::string>* texts : {&base, &questions}) {
    std::vector<float>& out = texts == &base ? v.base : v.queries;
    for (size_t start = 0; start < texts->size(); start += 64) {
      const size_t count = std::min<size_t>(64, texts->size() - start);
      Result<retrieval::EmbeddingBatch> batch =
          (*embedder)->Embed(std::span(*texts).subspan(start, count));
      if (!batch.ok()) return batch.status();
      out.insert(out.end(), batch->values.begin(), batch->values.end());
      progress.Add(count);
    }
  }
  return v;
}

Result<std::vector<std::vector<retrieval::VectorHit>>> SearchAll(const retrieval::VectorIndex& index,
                                                                 const Vectors& v, double* us) {
  std::vector<std::vector<retrieval::VectorHit>> all;
  const auto start = Clock::now();
  for (size_t q = 0; q < v.queries.size() / static_cast<size_t>(v.dim); ++q) {
    Result<std::vector<retrieval::VectorHit>> hits = index.Search(
        std::span(v.queries).subspan(q * static_cast<size_t>(v.dim), static_cast<size_t>(v.dim)),
        kTopK);
    if (!hits.ok()) return hits.status();
    all.push_back(std::move(*hits));
  }
  *us = Seconds(start) * 1e6 / static_cast<double>(std::max<size_t>(all.size(), 1));
  return all;
}

}  // namespace

Result<json> RunVectorBench(const VectorBenchOptions& options) {
  if (options.n < kTopK || options.queries < 1 || options.dim < 1) {
    return Status::InvalidArgument("bench vectors: --n must be >= 10, --queries and --dim >= 1");
  }
  Result<retrieval::IndexKind> kind = retrieval::ParseIndexKind(options.index);
  if (!kind.ok()) return kind.status();
  if (*kind != retrieval::IndexKind::kHnsw && *kind != retrieval::IndexKind::kIvfPq) {
    return Status::InvalidArgument("bench vectors: --index must be hnsw or ivfpq");
  }
  Result<Vectors> vectors = Status::InvalidArgument(
      "bench vectors: --data must be random, lowrank, synthetic or real, not '" + options.data +
      "'");
  if (options.data == "random") vectors = RandomVectors(options);
  if (options.data == "lowrank") vectors = LowRankVectors(options);
  if (options.data == "synthetic") vectors = SyntheticVectors(options);
  if (options.data == "real") vectors = RealVectors(options);
  if (!vectors.ok()) return vectors.status();
  const Vectors& v = *vectors;
  const int64_t n = static_cast<int64_t>(v.base.size() / static_cast<size_t>(v.dim));
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;

  Result<std::unique_ptr<retrieval::VectorIndex>> exact =
      retrieval::VectorIndex::Create(v.dim, {.kind = retrieval::IndexKind::kFlat});
  if (!exact.ok()) return exact.status();
  if (Status s = (*exact)->Add(ids, v.base); !s.ok()) return s;
  double exact_us = 0.0;
  Result<std::vector<std::vector<retrieval::VectorHit>>> truth = SearchAll(**exact, v, &exact_us);
  if (!truth.ok()) return truth.status();
  exact->reset();

  retrieval::VectorIndexOptions index_options;
  index_options.kind = *kind;
  Result<std::unique_ptr<retrieval::VectorIndex>> index =
      retrieval::VectorIndex::Create(v.dim, index_options);
  if (!index.ok()) return index.status();
  const auto build_start = Clock::now();
  if (Status s = (*index)->Add(ids, v.base); !s.ok()) return s;
  const double build_s = Seconds(build_start);

  json sweep = json::array();
  const std::vector<int> efs =
      *kind == retrieval::IndexKind::kHnsw ? options.ef_search : std::vector<int>{0};
  for (int ef : efs) {
    if (ef > 0) {
      if (Status s = (*index)->SetHnswEfSearch(ef); !s.ok()) return s;
    }
    double us = 0.0;
    Result<std::vector<std::vector<retrieval::VectorHit>>> got = SearchAll(**index, v, &us);
    if (!got.ok()) return got.status();
    double recall = 0.0;
    for (size_t q = 0; q < got->size(); ++q) {
      std::unordered_set<int64_t> want;
      for (const retrieval::VectorHit& h : (*truth)[q]) want.insert(h.id);
      int found = 0;
      for (const retrieval::VectorHit& h : (*got)[q]) found += want.count(h.id) ? 1 : 0;
      recall += want.empty() ? 1.0 : static_cast<double>(found) / static_cast<double>(want.size());
    }
    json row;
    if (ef > 0) row["ef_search"] = ef;
    row["recall@10"] = recall / static_cast<double>(got->size());
    row["us_per_query"] = us;
    sweep.push_back(row);
  }

  json out;
  out["data"] = options.data;
  out["n"] = n;
  out["dim"] = v.dim;
  out["queries"] = v.queries.size() / static_cast<size_t>(v.dim);
  out["index"] = options.index;
  out["build_s"] = build_s;
  out["index_mb"] = static_cast<double>((*index)->memory_bytes()) / kMb;
  out["exact_us_per_query"] = exact_us;
  out["sweep"] = sweep;
  out["config"] = {{"hnsw_m", index_options.hnsw_m},
                   {"hnsw_ef_construction", index_options.hnsw_ef_construction},
                   {"default_ef_search", retrieval::VectorIndexOptions{}.hnsw_ef_search},
                   {"threads", "FAISS OpenMP default (build); searches on one thread"}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatVectorBench(const json& r) {
  char line[256];
  std::snprintf(line, sizeof line,
                "vector bench: %s data, %lld x %d, %d queries; %s build %.1f s, %.0f MB; exact "
                "search %.0f us/query\n%-10s %10s %12s\n",
                r["data"].get<std::string>().c_str(), static_cast<long long>(r["n"].get<int64_t>()),
                r["dim"].get<int>(), r["queries"].get<int>(), r["index"].get<std::string>().c_str(),
                r["build_s"].get<double>(), r["index_mb"].get<double>(),
                r["exact_us_per_query"].get<double>(), "ef_search", "recall@10", "us/query");
  std::string out = line;
  for (const json& row : r["sweep"]) {
    std::snprintf(line, sizeof line, "%-10s %10.4f %12.0f\n",
                  row.contains("ef_search") ? std::to_string(row["ef_search"].get<int>()).c_str()
                                            : "-",
                  row["recall@10"].get<double>(), row["us_per_query"].get<double>());
    out += line;
  }
  return out;
}

}  // namespace engram::bench
