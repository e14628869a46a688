#include "bench/retrieval_eval.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "bench/cross_validation.h"
#include "bench/eval_data.h"
#include "bench/rerank.h"
#include "bench/scratch_dir.h"
#include "bench/stats.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "inference/engine.h"
#include "inference/lm_reranker.h"
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
  int article;       // index into the SQuAD articles (the cross-validation folds)
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

// Ranks are 1-based; a paragraph not among the hits ranks past every cut-off.
constexpr size_t kMissing = SIZE_MAX;

// The rank of document `gold` among the documents of chunk hits (a document's first chunk
// counts, later ones are skipped).
template <typename Hits, typename DocumentOf>
size_t DocumentRank(const Hits& hits, DocumentOf document_of, uint64_t gold) {
  std::unordered_set<uint64_t> seen;
  size_t rank = 0;
  for (const auto& h : hits) {
    const uint64_t doc = document_of(h);
    if (!seen.insert(doc).second) continue;
    ++rank;
    if (doc == gold) return rank;
  }
  return kMissing;
}

// A SQuAD question's type: its first wh-word ("how many" and "how much" apart from "how"), or
// "other".
std::string QuestionType(std::string_view question) {
  std::string lower(question);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::istringstream in(lower);
  std::string word, previous;
  while (in >> word) {
    word.erase(
        std::remove_if(word.begin(), word.end(), [](unsigned char c) { return !std::isalpha(c); }),
        word.end());
    if (previous == "how" && (word == "many" || word == "much")) return "how " + word;
    if (previous == "how") return "how";
    for (const char* wh : {"what", "who", "whom", "whose", "when", "where", "which", "why"}) {
      if (word == wh) return word == "whom" || word == "whose" ? "who" : word;
    }
    previous = word;
  }
  return previous == "how" ? "how" : "other";
}

json RankFigures(const std::vector<size_t>& ranks) {
  double hits1 = 0, hits5 = 0, hits20 = 0, mrr = 0;
  for (size_t rank : ranks) {
    hits1 += rank <= 1;
    hits5 += rank <= 5;
    hits20 += rank <= 20;
    if (rank <= 10) mrr += 1.0 / static_cast<double>(rank);
  }
  const double n = static_cast<double>(std::max<size_t>(ranks.size(), 1));
  return {{"recall@1", hits1 / n}, {"recall@5", hits5 / n}, {"recall@20", hits20 / n},
          {"mrr@10", mrr / n}};
}

// RankFigures of the questions of each type (QuestionType), with their count.
json ByQuestionType(const std::vector<size_t>& ranks, const std::vector<Question>& questions) {
  std::map<std::string, std::vector<size_t>> by_type;
  for (size_t q = 0; q < questions.size() && q < ranks.size(); ++q) {
    by_type[QuestionType(questions[q].text)].push_back(ranks[q]);
  }
  json out = json::object();
  for (const auto& [type, type_ranks] : by_type) {
    json figures = RankFigures(type_ranks);
    figures["questions"] = type_ranks.size();
    out[type] = figures;
  }
  return out;
}

struct Corpus {
  std::vector<retrieval::DocumentInput> paragraphs;
  std::vector<Question> questions;
};

Result<Corpus> ReadCorpus(const RetrievalEvalOptions& options) {
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> squad,
                    ReadSquad(options.squad_file, "eval retrieval"));
  Corpus corpus;
  for (size_t a = 0; a < squad.size(); ++a) {
    // Wikipedia page names: "Super_Bowl_50" is the title "Super Bowl 50".
    std::string title = squad[a].title;
    std::replace(title.begin(), title.end(), '_', ' ');
    for (const SquadParagraph& p : squad[a].paragraphs) {
      const size_t index = corpus.paragraphs.size();
      corpus.paragraphs.push_back(
          {.text = p.context, .title = title, .source = "squad:" + std::to_string(index)});
      for (const std::string& q : p.questions) {
        corpus.questions.push_back({q, index, static_cast<int>(a)});
      }
    }
  }
  if (corpus.paragraphs.empty() || corpus.questions.empty()) {
    return Status::InvalidArgument("eval: '" + options.squad_file +
                                   "' holds no paragraphs with questions");
  }
  if (options.question_stride > 1) {
    std::vector<Question> kept;
    for (size_t i = 0; i < corpus.questions.size();
         i += static_cast<size_t>(options.question_stride)) {
      kept.push_back(std::move(corpus.questions[i]));
    }
    corpus.questions = std::move(kept);
  }
  if (options.max_questions > 0 &&
      corpus.questions.size() > static_cast<size_t>(options.max_questions)) {
    corpus.questions.resize(static_cast<size_t>(options.max_questions));
  }
  return corpus;
}

struct IngestFigures {
  std::vector<uint64_t> paragraph_id;
  double paragraph_seconds = 0.0, distractor_seconds = 0.0;
};

// The paragraphs (timed), then the distractors, in batches.
Result<IngestFigures> Ingest(retrieval::Collection& c,
                             const std::vector<retrieval::DocumentInput>& paragraphs,
                             const std::vector<retrieval::DocumentInput>& distractors) {
  IngestFigures f;
  f.paragraph_id.resize(paragraphs.size());
  ProgressReporter progress("ingest", paragraphs.size() + distractors.size(), {.unit = "docs"});
  const auto ingest_start = Clock::now();
  for (size_t start = 0; start < paragraphs.size(); start += 64) {
    const size_t n = std::min<size_t>(64, paragraphs.size() - start);
    Result<std::vector<retrieval::IngestResult>> r =
        c.IngestBatch(std::span(paragraphs).subspan(start, n));
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < n; ++i) f.paragraph_id[start + i] = (*r)[i].id;
    progress.Add(n);
  }
  f.paragraph_seconds = Seconds(ingest_start);
  const auto distractor_start = Clock::now();
  for (size_t start = 0; start < distractors.size(); start += 8) {
    const size_t n = std::min<size_t>(8, distractors.size() - start);
    Result<std::vector<retrieval::IngestResult>> r =
        c.IngestBatch(std::span(distractors).subspan(start, n));
    if (!r.ok()) return r.status();
    progress.Add(n);
  }
  f.distractor_seconds = Seconds(distractor_start);
  progress.Finish();
  if (Status s = c.Flush(); !s.ok()) return s;
  return f;
}

// Each search mode's figures and latency.
Result<json> ModeFigures(retrieval::Collection& c, retrieval::SearchMode mode,
                         const std::vector<Question>& questions,
                         const std::vector<uint64_t>& paragraph_id) {
  ProgressReporter progress(std::string("eval ") + std::string(retrieval::SearchModeName(mode)),
                            questions.size(), {.unit = "questions"});
  std::vector<size_t> ranks;
  std::vector<double> latency;
  for (const Question& q : questions) {
    const auto t0 = Clock::now();
    Result<std::vector<retrieval::SearchHit>> hits = c.Search(q.text, {.mode = mode, .k = 50});
    latency.push_back(Seconds(t0) * 1000.0);
    if (!hits.ok()) return hits.status();
    ranks.push_back(DocumentRank(*hits, [](const retrieval::SearchHit& h) { return h.document_id; },
                                 paragraph_id[q.paragraph]));
    progress.Add(1);
  }
  progress.Finish();
  json out = RankFigures(ranks);
  out["by_question_type"] = ByQuestionType(ranks, questions);
  out["query_ms_p50"] = Percentile(latency, 0.5);
  out["query_ms_p99"] = Percentile(latency, 0.99);
  return out;
}

using Fuse = std::function<std::vector<retrieval::RankedItem>(
    const std::vector<retrieval::RankedItem>&, const std::vector<retrieval::RankedItem>&)>;

// A hybrid configuration: a fusion of one bm25 and one dense candidate list, or (with `fuse`
// empty) a search of its own with `search`'s options (the rescoring variants).
struct Variant {
  std::string name;
  Fuse fuse;
  retrieval::SearchOptions search;
};

// Hybrid's configurations: its default (weighted fusion at SearchOptions' dense_weight,
// rescored) first, so that a cross-validation tie keeps it; the rescoring's weights scaled;
// then the fusions of the same bm25 and dense candidate lists without rescoring.
std::vector<Variant> FusionVariants() {
  const retrieval::SearchOptions defaults{.mode = retrieval::SearchMode::kHybrid, .k = 50};
  const retrieval::RescoreOptions r = defaults.rescore;
  std::vector<Variant> out = {{"default (rescored)", nullptr, defaults}};
  for (double cosine : {0.5, 1.5}) {
    for (double terms : {0.5, 1.0, 1.5}) {
      retrieval::SearchOptions o = defaults;
      o.rescore = {.candidates = r.candidates,
                   .cosine = r.cosine * cosine,
                   .sentence_cosine = r.sentence_cosine * cosine,
                   .coverage = r.coverage * terms,
                   .sentence = r.sentence * terms,
                   .bigrams = r.bigrams * terms};
      char name[120];
      std::snprintf(name, sizeof name, "rescored, cosines x %.1f, term matches x %.1f", cosine,
                    terms);
      out.push_back({name, nullptr, o});
    }
  }
  // The chunk's cosine against its best sentence's; (4.5, 0) was the default before sentence
  // vectors (issue 24's sixth session).
  for (const auto [cosine, sentence] :
       {std::pair{4.5, 0.0}, {0.0, 5.0}, {3.0, 5.0}, {1.5, 3.0}, {1.5, 7.0}}) {
    retrieval::SearchOptions o = defaults;
    o.rescore.cosine = cosine;
    o.rescore.sentence_cosine = sentence;
    char name[120];
    std::snprintf(name, sizeof name, "rescored, cosine %.1f, best sentence's cosine %.1f", cosine,
                  sentence);
    out.push_back({name, nullptr, o});
  }
  const double dw = defaults.dense_weight;
  out.push_back({"weighted dense_weight " + std::to_string(dw) + " (not rescored)",
                 [dw](const auto& b, const auto& d) {
                   return retrieval::WeightedFusion(b, d, 1.0 - dw, dw);
                 }});
  for (double w : {1.0, 0.7, 0.5, 0.3}) {
    out.push_back({"rrf60 dense_weight " + std::to_string(w), [w](const auto& b, const auto& d) {
                     return retrieval::ReciprocalRankFusion({&b, &d}, 60.0, {1.0, w});
                   }});
  }
  for (double w : {0.6, 0.5, 0.3, 0.2}) {
    out.push_back({"weighted dense_weight " + std::to_string(w), [w](const auto& b, const auto& d) {
                     return retrieval::WeightedFusion(b, d, 1.0 - w, w);
                   }});
  }
  return out;
}

// The rank of a question's paragraph under one variant, given the question's bm25 and dense
// candidate lists (and each chunk's document).
Result<size_t> VariantRank(retrieval::Collection& c, const Variant& v, const Question& q,
                           const std::vector<retrieval::RankedItem>& bm25,
                           const std::vector<retrieval::RankedItem>& dense,
                           std::unordered_map<uint64_t, uint64_t>& doc_of, uint64_t gold) {
  if (v.fuse) {
    return DocumentRank(
        v.fuse(bm25, dense), [&](const retrieval::RankedItem& r) { return doc_of[r.id]; }, gold);
  }
  ENGRAM_TRY_ASSIGN(const std::vector<retrieval::SearchHit> hits, c.Search(q.text, v.search));
  return DocumentRank(
      hits, [](const retrieval::SearchHit& h) { return h.document_id; }, gold);
}

// ranks[variant][question] of the gold paragraph under each variant.
Result<std::vector<std::vector<size_t>>> FusionRanks(retrieval::Collection& c,
                                                     const std::vector<Variant>& variants,
                                                     const std::vector<Question>& questions,
                                                     const std::vector<uint64_t>& paragraph_id) {
  std::vector<std::vector<size_t>> ranks(variants.size());
  ProgressReporter progress("eval fusions", questions.size(), {.unit = "questions"});
  for (const Question& q : questions) {
    Result<std::vector<retrieval::SearchHit>> b =
        c.Search(q.text, {.mode = retrieval::SearchMode::kBm25, .k = 50});
    if (!b.ok()) return b.status();
    Result<std::vector<retrieval::SearchHit>> d =
        c.Search(q.text, {.mode = retrieval::SearchMode::kDense, .k = 50});
    if (!d.ok()) return d.status();
    std::unordered_map<uint64_t, uint64_t> doc_of;
    std::vector<retrieval::RankedItem> bl, dl;
    for (const auto& h : *b) bl.push_back({h.chunk_id, h.score}), doc_of[h.chunk_id] = h.document_id;
    for (const auto& h : *d) dl.push_back({h.chunk_id, h.score}), doc_of[h.chunk_id] = h.document_id;
    for (size_t v = 0; v < variants.size(); ++v) {
      ENGRAM_TRY_ASSIGN(const size_t rank,
                        VariantRank(c, variants[v], q, bl, dl, doc_of, paragraph_id[q.paragraph]));
      ranks[v].push_back(rank);
    }
    progress.Add(1);
  }
  progress.Finish();
  return ranks;
}

// Leave one SQuAD article out: each article's questions are ranked with the fusion that has the
// best recall@1 on the other articles.
json CrossValidatedJson(const std::vector<std::string>& variants,
                        const std::vector<std::vector<size_t>>& ranks,
                        const std::vector<Question>& questions, int articles) {
  std::vector<std::vector<double>> score(variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    for (size_t rank : ranks[v]) score[v].push_back(rank <= 1 ? 1.0 : 0.0);
  }
  std::vector<int> group;
  for (const Question& q : questions) group.push_back(q.article);
  const CrossValidation cv = LeaveOneGroupOut(score, group, articles);
  std::vector<size_t> held_out;
  for (size_t q = 0; q < questions.size(); ++q) held_out.push_back(ranks[cv.chosen[q]][q]);
  json out = RankFigures(held_out);  // pooled over the held-out questions
  out["by_question_type"] = ByQuestionType(held_out, questions);
  // The mean over folds of each figure (articles weigh the same whatever their size).
  json mean = json::object();
  std::map<std::string, double> sums;
  std::map<std::string, int> chosen;
  for (const Fold& f : cv.folds) {
    std::vector<size_t> fold_ranks;
    for (size_t q = 0; q < questions.size(); ++q) {
      if (questions[q].article == f.group) fold_ranks.push_back(held_out[q]);
    }
    const json figures = RankFigures(fold_ranks);
    for (const auto& [key, value] : figures.items()) sums[key] += value.get<double>();
    ++chosen[variants[f.chosen]];
  }
  for (const auto& [key, sum] : sums) mean[key] = sum / std::max<double>(1.0, cv.folds.size());
  out["mean_over_folds"] = mean;
  out["selected_on"] = "recall@1";
  out["folds"] = cv.folds.size();
  out["chosen"] = chosen;  // how many folds chose each fusion
  return out;
}

// --rerank N: hybrid's first N chunks rescored with the language model at each weight of
// bench/rerank.h, the weight chosen leaving one article out.
Result<json> RerankedJson(retrieval::Collection& c, retrieval::Reranker* reranker,
                          const std::vector<Question>& questions,
                          const std::vector<uint64_t>& paragraph_id, int n) {
  std::vector<std::vector<size_t>> ranks(std::size(kRerankWeights));
  std::vector<double> ms;
  ProgressReporter progress("eval rerank", questions.size(), {.unit = "questions"});
  for (const Question& q : questions) {
    ENGRAM_TRY_ASSIGN(const std::vector<retrieval::SearchHit> hits,
                      c.Search(q.text, {.mode = retrieval::SearchMode::kHybrid, .k = 50}));
    std::vector<double> first;
    std::vector<std::string> passages;
    for (const retrieval::SearchHit& h : hits) {
      first.push_back(h.score);
      if (passages.size() < static_cast<size_t>(n)) passages.push_back(h.text);
    }
    const auto t0 = Clock::now();
    ENGRAM_TRY_ASSIGN(const std::vector<double> lm, reranker->Score(q.text, passages));
    ms.push_back(Seconds(t0) * 1000.0);
    const std::vector<std::vector<size_t>> orders = RerankOrders(first, lm);
    for (size_t w = 0; w < orders.size(); ++w) {
      std::vector<uint64_t> documents;
      for (size_t i : orders[w]) documents.push_back(hits[i].document_id);
      ranks[w].push_back(DocumentRank(documents, [](uint64_t d) { return d; },
                                      paragraph_id[q.paragraph]));
    }
    progress.Add(1);
  }
  progress.Finish();
  int articles = 0;
  for (const Question& q : questions) articles = std::max(articles, q.article + 1);
  std::vector<std::string> names;
  json by_weight = json::object();
  for (size_t w = 0; w < std::size(kRerankWeights); ++w) {
    names.push_back("weight " + std::to_string(kRerankWeights[w]));
    by_weight[names.back()] = RankFigures(ranks[w]);
  }
  json out = CrossValidatedJson(names, ranks, questions, articles);
  out["by_weight"] = by_weight;
  AddRerankCost(out, reranker->Name(), n, ms);
  return out;
}

// What hybrid search is in this run (its defaults).
std::string HybridConfig() {
  const retrieval::SearchOptions o;
  char text[400];
  std::snprintf(text, sizeof text,
                "weighted fusion of min-max normalised scores, dense weight %g, 50 candidates per "
                "mode; the first max(%d, k) rescored as fused + %g cosine + %g best sentence's "
                "cosine + %g coverage + %g sentence + %g bigrams (retrieval/term_match.h)",
                o.dense_weight, o.rescore.candidates, o.rescore.cosine, o.rescore.sentence_cosine,
                o.rescore.coverage, o.rescore.sentence, o.rescore.bigrams);
  return text;
}

}  // namespace

Result<json> RunRetrievalEval(const RetrievalEvalOptions& options) {
  Result<Corpus> corpus = ReadCorpus(options);
  if (!corpus.ok()) return corpus.status();
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
  retrieval::CollectionOptions copts;
  copts.chunking = {.max_tokens = options.chunk_tokens, .overlap_tokens = options.overlap_tokens};
  copts.mode = retrieval::OpenMode::kCreate;
  copts.index_title = options.titles;
  copts.stemming = options.stemming ? retrieval::Stemming::kEnglish : retrieval::Stemming::kNone;
  copts.sentence_vectors = options.sentence_vectors;
  Result<std::unique_ptr<retrieval::Collection>> opened =
      retrieval::Collection::Open(scratch.path().string(), embedder->get(), copts);
  if (!opened.ok()) return opened.status();
  retrieval::Collection& c = **opened;
  Result<IngestFigures> ingested = Ingest(c, corpus->paragraphs, *distractors);
  if (!ingested.ok()) return ingested.status();

  json out;
  for (retrieval::SearchMode mode : {retrieval::SearchMode::kBm25, retrieval::SearchMode::kDense,
                                     retrieval::SearchMode::kHybrid}) {
    Result<json> figures = ModeFigures(c, mode, corpus->questions, ingested->paragraph_id);
    if (!figures.ok()) return figures.status();
    out[std::string(retrieval::SearchModeName(mode))] = *figures;
  }
  if (options.fusion_sweep || options.cross_validate) {
    const std::vector<Variant> variants = FusionVariants();
    Result<std::vector<std::vector<size_t>>> ranks =
        FusionRanks(c, variants, corpus->questions, ingested->paragraph_id);
    if (!ranks.ok()) return ranks.status();
    if (options.fusion_sweep) {
      json sweep = json::object();
      for (size_t v = 1; v < variants.size(); ++v) {
        json row = RankFigures((*ranks)[v]);
        row.erase("mrr@10");
        sweep[variants[v].name] = row;
      }
      out["fusion_sweep"] = sweep;
    }
    if (options.cross_validate) {
      int articles = 0;
      for (const Question& q : corpus->questions) articles = std::max(articles, q.article + 1);
      std::vector<std::string> names;
      for (const Variant& v : variants) names.push_back(v.name);
      out["cross_validated"] = CrossValidatedJson(names, *ranks, corpus->questions, articles);
    }
  }
  if (options.rerank > 0) {
    if (options.reranker != "lm") {
      return Status::InvalidArgument("eval retrieval: --reranker '" + options.reranker +
                                     "' is unknown; use lm");
    }
    ENGRAM_TRY_ASSIGN(const std::unique_ptr<inference::Engine> engine, inference::Engine::Load({}));
    ENGRAM_TRY_ASSIGN(const std::unique_ptr<inference::LmReranker> reranker,
                      inference::LmReranker::Create(*engine, {.threads = options.threads}));
    Result<json> reranked =
        RerankedJson(c, reranker.get(), corpus->questions, ingested->paragraph_id, options.rerank);
    if (!reranked.ok()) return reranked.status();
    out["reranked"] = *reranked;
  }
  const retrieval::CollectionStats stats = c.Stats();
  out["ingest_paragraphs_per_s"] =
      static_cast<double>(corpus->paragraphs.size()) / ingested->paragraph_seconds;
  out["questions"] = corpus->questions.size();
  out["paragraphs"] = corpus->paragraphs.size();
  out["distractor_documents"] = distractors->size();
  out["distractor_ingest_s"] = ingested->distractor_seconds;
  out["chunks"] = stats.chunks;
  out["config"] = {
      {"embedder", std::string((*embedder)->Name())},
      {"precision", std::string(inference::EmbedPrecisionName((*embedder)->precision()))},
      {"chunk_tokens", options.chunk_tokens},
      {"overlap_tokens", options.overlap_tokens},
      {"index_title", stats.index_title},
      {"stemming", std::string(retrieval::StemmingName(stats.stemming))},
      {"sentence_vectors", stats.sentence_vectors},
      {"bm25", {{"k1", copts.bm25.k1}, {"b", copts.bm25.b}}},
      {"hybrid", HybridConfig()},
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
  if (r.contains("cross_validated")) {
    const json& m = r["cross_validated"]["mean_over_folds"];
    std::snprintf(line, sizeof line, "%-7s %9.3f %9.3f %9.3f %8.3f   (fusion chosen leaving each article out, mean over folds)\n",
                  "held-out", m["recall@1"].get<double>(), m["recall@5"].get<double>(),
                  m["recall@20"].get<double>(), m["mrr@10"].get<double>());
    out += line;
  }
  std::snprintf(line, sizeof line, "ingest: %.1f paragraphs/s\n", r["ingest_paragraphs_per_s"].get<double>());
  out += line;
  return out;
}

}  // namespace engram::bench
