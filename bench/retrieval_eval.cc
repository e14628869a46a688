#include "bench/eval_data.h"
#include "bench/retrieval_eval.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "bench/scratch_dir.h"
#include "bench/stats.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "retrieval/collection.h"
#include "retrieval/fusion.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Question {
  std::string text;
  size_t paragraph;  // index into the paragraphs
};

Result<std::vector<retrieval::DocumentInput>> ReadDistractors(const std::vector<std::string>& paths) {
  std::vector<retrieval::DocumentInput> docs;
  for (const std::string& path : paths) {
    if (fs::path(path).extension() == ".jsonl") {
      ENGRAM_TRY_ASSIGN(std::vector<std::string> inputs, ReadJsonlInputs(path, "eval retrieval"));
      for (size_t i = 0; i < inputs.size(); ++i) {
        docs.push_back({.text = std::move(inputs[i]), .source = path + ":" + std::to_string(i + 1)});
      }
    } else {
      ENGRAM_TRY_ASSIGN(std::string text, ReadTextFile(path, "eval retrieval"));
      docs.push_back({.text = std::move(text), .source = path});
    }
  }
  return docs;
}

}  // namespace

Result<json> RunRetrievalEval(const RetrievalEvalOptions& options) {
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> squad,
                    ReadSquad(options.squad_file, "eval retrieval"));
  std::vector<retrieval::DocumentInput> paragraphs;
  std::vector<Question> questions;
  for (const SquadArticle& article : squad) {
    for (const SquadParagraph& p : article.paragraphs) {
      const size_t index = paragraphs.size();
      paragraphs.push_back({.text = p.context,
                            .title = article.title,
                            .source = "squad:" + std::to_string(index)});
      for (const std::string& q : p.questions) questions.push_back({q, index});
    }
  }
  if (paragraphs.empty() || questions.empty()) {
    return Status::InvalidArgument("eval: '" + options.squad_file + "' holds no paragraphs with questions");
  }
  if (options.max_questions > 0 && questions.size() > static_cast<size_t>(options.max_questions)) {
    questions.resize(static_cast<size_t>(options.max_questions));
  }
  Result<std::vector<retrieval::DocumentInput>> distractors = ReadDistractors(options.distractors);
  if (!distractors.ok()) return distractors.status();

  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(options.precision);
  if (!precision.ok()) return precision.status();
  Result<std::unique_ptr<inference::BertEmbedder>> embedder = inference::BertEmbedder::OpenOrDefault(
      options.model, {.n_threads = options.threads, .precision = *precision});
  if (!embedder.ok()) return embedder.status();

  const bool temporary = options.work_dir.empty();
  const ScratchDir scratch(temporary ? fs::temp_directory_path() /
                                           ("engram-eval-retrieval-" + std::to_string(::getpid()))
                                     : fs::path(options.work_dir),
                           /*keep=*/!temporary);
  const fs::path& dir = scratch.path();
  retrieval::CollectionOptions copts;
  copts.chunking = {.max_tokens = options.chunk_tokens, .overlap_tokens = options.overlap_tokens};
  copts.mode = retrieval::OpenMode::kCreate;
  Result<std::unique_ptr<retrieval::Collection>> opened =
      retrieval::Collection::Open(dir.string(), embedder->get(), copts);
  if (!opened.ok()) return opened.status();
  retrieval::Collection& c = **opened;

  // Ingest: the paragraphs (timed), then the distractors.
  std::vector<uint64_t> paragraph_id(paragraphs.size());
  ProgressReporter progress("ingest", paragraphs.size() + distractors->size(), {.unit = "docs"});
  const auto ingest_start = Clock::now();
  for (size_t start = 0; start < paragraphs.size(); start += 64) {
    const size_t n = std::min<size_t>(64, paragraphs.size() - start);
    Result<std::vector<retrieval::IngestResult>> r =
        c.IngestBatch(std::span(paragraphs).subspan(start, n));
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < n; ++i) paragraph_id[start + i] = (*r)[i].id;
    progress.Add(n);
  }
  const double ingest_seconds = Seconds(ingest_start);
  const auto distractor_start = Clock::now();
  for (size_t start = 0; start < distractors->size(); start += 8) {
    const size_t n = std::min<size_t>(8, distractors->size() - start);
    Result<std::vector<retrieval::IngestResult>> r =
        c.IngestBatch(std::span(*distractors).subspan(start, n));
    if (!r.ok()) return r.status();
    progress.Add(n);
  }
  const double distractor_seconds = Seconds(distractor_start);
  progress.Finish();
  if (Status s = c.Flush(); !s.ok()) return s;

  json out;
  const retrieval::SearchMode modes[] = {retrieval::SearchMode::kBm25,
                                         retrieval::SearchMode::kDense,
                                         retrieval::SearchMode::kHybrid};
  for (retrieval::SearchMode mode : modes) {
    ProgressReporter qprogress(std::string("eval ") + std::string(retrieval::SearchModeName(mode)),
                               questions.size(), {.unit = "questions"});
    double hits1 = 0, hits5 = 0, hits20 = 0, mrr = 0;
    std::vector<double> latency;
    latency.reserve(questions.size());
    for (const Question& q : questions) {
      const auto t0 = Clock::now();
      Result<std::vector<retrieval::SearchHit>> hits = c.Search(q.text, {.mode = mode, .k = 50});
      latency.push_back(Seconds(t0) * 1000.0);
      if (!hits.ok()) return hits.status();
      // Documents in rank order (several chunks of one document count once).
      std::vector<uint64_t> docs;
      std::unordered_set<uint64_t> seen;
      for (const retrieval::SearchHit& h : *hits) {
        if (seen.insert(h.document_id).second) docs.push_back(h.document_id);
      }
      const auto at = std::find(docs.begin(), docs.end(), paragraph_id[q.paragraph]);
      const size_t rank = at == docs.end() ? SIZE_MAX : static_cast<size_t>(at - docs.begin()) + 1;
      hits1 += rank <= 1;
      hits5 += rank <= 5;
      hits20 += rank <= 20;
      if (rank <= 10) mrr += 1.0 / static_cast<double>(rank);
      qprogress.Add(1);
    }
    qprogress.Finish();
    const double n = static_cast<double>(questions.size());
    out[std::string(retrieval::SearchModeName(mode))] = {
        {"recall@1", hits1 / n},           {"recall@5", hits5 / n},
        {"recall@20", hits20 / n},         {"mrr@10", mrr / n},
        {"query_ms_p50", Percentile(latency, 0.5)}, {"query_ms_p99", Percentile(latency, 0.99)}};
  }
  if (options.fusion_sweep) {
    struct Variant {
      std::string name;
      std::function<std::vector<retrieval::RankedItem>(const std::vector<retrieval::RankedItem>&,
                                                        const std::vector<retrieval::RankedItem>&)>
          fuse;
      double hits1 = 0, hits5 = 0, hits20 = 0;
    };
    std::vector<Variant> variants;
    for (double w : {1.0, 0.7, 0.5, 0.3}) {
      variants.push_back({"rrf60 dense_weight " + std::to_string(w), [w](const auto& b, const auto& d) {
                            return retrieval::ReciprocalRankFusion({&b, &d}, 60.0, {1.0, w});
                          }});
    }
    for (double w : {0.5, 0.4, 0.3, 0.2}) {
      variants.push_back({"weighted dense_weight " + std::to_string(w), [w](const auto& b, const auto& d) {
                            return retrieval::WeightedFusion(b, d, 1.0 - w, w);
                          }});
    }
    for (const Question& q : questions) {
      Result<std::vector<retrieval::SearchHit>> b = c.Search(q.text, {.mode = retrieval::SearchMode::kBm25, .k = 50});
      Result<std::vector<retrieval::SearchHit>> d = c.Search(q.text, {.mode = retrieval::SearchMode::kDense, .k = 50});
      if (!b.ok()) return b.status();
      if (!d.ok()) return d.status();
      std::unordered_map<uint64_t, uint64_t> doc_of;
      std::vector<retrieval::RankedItem> bl, dl;
      for (const auto& h : *b) bl.push_back({h.chunk_id, h.score}), doc_of[h.chunk_id] = h.document_id;
      for (const auto& h : *d) dl.push_back({h.chunk_id, h.score}), doc_of[h.chunk_id] = h.document_id;
      for (Variant& v : variants) {
        std::vector<uint64_t> docs;
        std::unordered_set<uint64_t> seen;
        for (const auto& r : v.fuse(bl, dl)) {
          if (seen.insert(doc_of[r.id]).second) docs.push_back(doc_of[r.id]);
        }
        const auto at = std::find(docs.begin(), docs.end(), paragraph_id[q.paragraph]);
        const size_t rank = at == docs.end() ? SIZE_MAX : static_cast<size_t>(at - docs.begin()) + 1;
        v.hits1 += rank <= 1;
        v.hits5 += rank <= 5;
        v.hits20 += rank <= 20;
      }
    }
    json sweep = json::object();
    const double n = static_cast<double>(questions.size());
    for (const Variant& v : variants) {
      sweep[v.name] = {{"recall@1", v.hits1 / n}, {"recall@5", v.hits5 / n}, {"recall@20", v.hits20 / n}};
    }
    out["fusion_sweep"] = sweep;
  }
  const retrieval::CollectionStats stats = c.Stats();
  out["ingest_paragraphs_per_s"] = static_cast<double>(paragraphs.size()) / ingest_seconds;
  out["questions"] = questions.size();
  out["paragraphs"] = paragraphs.size();
  out["distractor_documents"] = distractors->size();
  out["distractor_ingest_s"] = distractor_seconds;
  out["chunks"] = stats.chunks;
  out["config"] = {{"embedder", std::string((*embedder)->Name())},
                   {"precision", std::string(inference::EmbedPrecisionName((*embedder)->precision()))},
                   {"chunk_tokens", options.chunk_tokens},
                   {"overlap_tokens", options.overlap_tokens},
                   {"bm25", {{"k1", copts.bm25.k1}, {"b", copts.bm25.b}}},
                   {"hybrid", "weighted fusion of min-max normalised scores, dense weight 0.5, 50 candidates per mode"},
                   {"index", std::string(retrieval::IndexKindName(stats.index_kind))}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatRetrievalEval(const json& r) {
  std::string out = "retrieval eval: " + std::to_string(r["questions"].get<size_t>()) +
                    " questions, " + std::to_string(r["paragraphs"].get<size_t>()) +
                    " paragraphs + " + std::to_string(r["distractor_documents"].get<size_t>()) +
                    " distractor documents, " + std::to_string(r["chunks"].get<uint64_t>()) +
                    " chunks\n";
  char line[200];
  std::snprintf(line, sizeof line, "%-7s %9s %9s %9s %8s %10s %10s\n", "mode", "recall@1",
                "recall@5", "recall@20", "mrr@10", "p50 ms", "p99 ms");
  out += line;
  for (const char* mode : {"bm25", "dense", "hybrid"}) {
    const json& m = r[mode];
    std::snprintf(line, sizeof line, "%-7s %9.3f %9.3f %9.3f %8.3f %10.2f %10.2f\n", mode,
                  m["recall@1"].get<double>(), m["recall@5"].get<double>(),
                  m["recall@20"].get<double>(), m["mrr@10"].get<double>(),
                  m["query_ms_p50"].get<double>(), m["query_ms_p99"].get<double>());
    out += line;
  }
  std::snprintf(line, sizeof line, "ingest: %.1f paragraphs/s\n", r["ingest_paragraphs_per_s"].get<double>());
  out += line;
  return out;
}

}  // namespace engram::bench
