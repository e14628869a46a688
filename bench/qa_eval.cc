#include "bench/qa_eval.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "agent/document_kv_cache.h"
#include "agent/qa.h"
#include "bench/eval_data.h"
#include "bench/qa_metrics.h"
#include "bench/scratch_dir.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/attention_policy.h"
#include "inference/bert_embedder.h"
#include "inference/device_plan.h"
#include "inference/engine.h"
#include "retrieval/collection.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

enum class Dataset { kSquad, kQuality, kNq };
constexpr Dataset kDatasets[] = {Dataset::kSquad, Dataset::kQuality, Dataset::kNq};

std::string_view DatasetKey(Dataset d) {
  switch (d) {
    case Dataset::kSquad: return "squad";
    case Dataset::kQuality: return "quality";
    case Dataset::kNq: return "nq";
  }
  return "?";
}

struct Mode {
  std::string name;                   // as given: "long:full"
  agent::AskMode ask = agent::AskMode::kRag;
  std::string attention;              // the policy spec its engine decodes with
};

// "rag" / "long:retrieval:exact" -> the ask mode and the policy.
Result<Mode> ParseMode(const std::string& name, const std::string& default_attention) {
  const size_t colon = name.find(':');
  const std::string base = name.substr(0, colon);
  Result<agent::AskMode> ask = agent::ParseAskMode(base);
  if (!ask.ok()) {
    return Status::InvalidArgument("--modes: unknown mode '" + name +
                                   "' (none, rag, long, auto, long:<policy>, auto:<policy>)");
  }
  Mode mode{name, *ask, "full"};
  if (*ask == agent::AskMode::kLong || *ask == agent::AskMode::kAuto) {
    mode.attention = colon == std::string::npos ? default_attention : name.substr(colon + 1);
  } else if (colon != std::string::npos) {
    return Status::InvalidArgument("--modes: '" + name +
                                   "': only long and auto take an attention policy (none and "
                                   "rag decode with full attention)");
  }
  Result<inference::AttentionOptions> policy = inference::ParseAttentionPolicy(mode.attention);
  if (!policy.ok()) return policy.status().WithContext("--modes '" + name + "'");
  return mode;
}

struct Document {
  Dataset dataset;
  size_t index = 0;  // in its file
  std::string source, title, text;
  uint64_t id = 0;   // in the collection
};

struct Question {
  Dataset dataset = Dataset::kSquad;
  size_t document = 0;  // into the documents
  size_t index = 0;     // within its document
  std::string id, text;
  std::vector<std::string> answers;  // SQuAD, NQ
  MultipleChoice choice;             // QuALITY
  int gold = -1;                     // QuALITY
};

struct Corpus {
  std::vector<Document> documents;
  std::vector<Question> questions;  // grouped by document, in file order
  std::map<Dataset, json> info;     // per dataset: file, documents, questions, ...
};

bool KeepDocument(size_t index, const std::string& split) {
  if (split == "even") return index % 2 == 0;
  if (split == "odd") return index % 2 == 1;
  return true;
}

// Whether another document may join `candidates` (--documents).
bool Room(size_t candidates, int documents) {
  return documents <= 0 || candidates < static_cast<size_t>(documents);
}

// Adds the questions `picked` selects; `make(d, q)` builds question q of candidate document d.
template <typename Make>
void AddPicked(Corpus& corpus, const std::vector<Document>& candidates,
               const std::vector<std::pair<size_t, size_t>>& picked, Make make) {
  std::map<size_t, size_t> placed;  // candidate -> corpus document
  for (const auto& [d, q] : picked) {
    auto it = placed.find(d);
    if (it == placed.end()) {
      it = placed.emplace(d, corpus.documents.size()).first;
      corpus.documents.push_back(candidates[d]);
    }
    Question question = make(d, q);
    question.document = it->second;
    corpus.questions.push_back(std::move(question));
  }
}

Status LoadSquad(const QaEvalOptions& o, Corpus& corpus) {
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> articles, ReadSquad(o.squad_file, "eval qa"));
  std::vector<Document> candidates;
  std::vector<std::vector<SquadQuestion>> qas;
  for (size_t a = 0; a < articles.size() && Room(candidates.size(), o.documents); ++a) {
    if (!KeepDocument(a, o.split)) continue;
    Document doc{Dataset::kSquad, a, "squad:" + std::to_string(a), articles[a].title, ""};
    std::vector<SquadQuestion> questions;
    for (const SquadParagraph& p : articles[a].paragraphs) {
      if (!doc.text.empty()) doc.text += "\n\n";
      doc.text += p.context;
      for (const SquadQuestion& q : p.qas) {
        if (!q.answers.empty()) questions.push_back(q);
      }
    }
    if (questions.empty()) continue;
    candidates.push_back(std::move(doc));
    qas.push_back(std::move(questions));
  }
  std::vector<size_t> counts;
  for (const auto& q : qas) counts.push_back(q.size());
  const auto picked = SpreadQuestions(counts, o.limit);
  if (picked.empty()) {
    return Status::InvalidArgument("eval qa: '" + o.squad_file +
                                   "' holds no question with answers (split " + o.split + ")");
  }
  const size_t first = corpus.documents.size();
  AddPicked(corpus, candidates, picked, [&](size_t d, size_t q) {
    const SquadQuestion& s = qas[d][q];
    Question question;
    question.dataset = Dataset::kSquad;
    question.index = q;
    question.id = s.id;
    question.text = s.question;
    question.answers = s.answers;
    return question;
  });
  json ids = json::array();
  for (size_t i = corpus.questions.size() - picked.size(); i < corpus.questions.size(); ++i) {
    ids.push_back(corpus.questions[i].id);
  }
  corpus.info[Dataset::kSquad] = {{"file", o.squad_file},
                                  {"documents", corpus.documents.size() - first},
                                  {"questions", picked.size()},
                                  {"question_ids", std::move(ids)}};
  return Status::OK();
}

Status LoadLeval(const QaEvalOptions& o, Dataset dataset, Corpus& corpus) {
  const std::string& file = dataset == Dataset::kQuality ? o.quality_file : o.nq_file;
  ENGRAM_TRY_ASSIGN(const std::vector<LevalDocument> docs, ReadLevalFile(file, "eval qa"));
  std::vector<Document> candidates;
  std::vector<std::vector<Question>> questions;
  size_t unparsed = 0;
  for (size_t i = 0; i < docs.size() && Room(candidates.size(), o.documents); ++i) {
    if (!KeepDocument(i, o.split)) continue;
    std::vector<Question> qs;
    for (size_t q = 0; q < docs[i].instructions.size(); ++q) {
      Question question;
      question.dataset = dataset;
      question.index = q;
      question.id = std::string(DatasetKey(dataset)) + ":" + std::to_string(i) + ":" + std::to_string(q);
      if (dataset == Dataset::kQuality) {
        Result<MultipleChoice> mc = ParseMultipleChoice(docs[i].instructions[q]);
        Result<int> gold = mc.ok() ? ParseChoiceLetter(docs[i].outputs[q], mc->options.size())
                                   : Result<int>(mc.status());
        if (!gold.ok()) {
          ++unparsed;
          continue;
        }
        question.text = mc->question;
        question.choice = std::move(*mc);
        question.gold = *gold;
      } else {
        question.text = docs[i].instructions[q];
        question.answers = {docs[i].outputs[q]};
      }
      qs.push_back(std::move(question));
    }
    if (qs.empty()) continue;
    candidates.push_back({dataset, i, std::string(DatasetKey(dataset)) + ":" + std::to_string(i),
                          "", docs[i].input});
    questions.push_back(std::move(qs));
  }
  std::vector<size_t> counts;
  for (const auto& q : questions) counts.push_back(q.size());
  const auto picked = SpreadQuestions(counts, o.limit);
  if (picked.empty()) {
    return Status::InvalidArgument("eval qa: '" + file + "' holds no usable question (split " +
                                   o.split + ")");
  }
  const size_t first = corpus.documents.size();
  AddPicked(corpus, candidates, picked, [&](size_t d, size_t q) { return questions[d][q]; });
  json info = {{"file", file},
               {"documents", corpus.documents.size() - first},
               {"questions", picked.size()}};
  if (dataset == Dataset::kQuality) info["unparsed_questions"] = unparsed;
  corpus.info[dataset] = std::move(info);
  return Status::OK();
}

// Sums of one mode (and one dataset within it).
struct Tally {
  double em = 0, f1 = 0, contains = 0, correct = 0, correct_sum = 0, correct_mean = 0,
         chance = 0;
  int scored = 0, skipped = 0;
  double seconds = 0;
  json examples = json::array();
};

struct ModeTally {
  std::map<Dataset, Tally> datasets;
  double ttft_cold = 0, ttft_cached = 0, prompt_tokens = 0, seconds = 0, prefill_cold = 0,
         cache_load = 0, sources = 0, compress_ms = 0;
  int cold = 0, cached = 0, loaded = 0, answers = 0, questions = 0, skipped = 0, compressed = 0;
};

json MeanOrNull(double sum, int n) { return n > 0 ? json(sum / n) : json(nullptr); }

int ArgMax(const std::vector<double>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

Status ValidateQaEvalOptions(const QaEvalOptions& o) {
  if (o.squad_file.empty() && o.quality_file.empty() && o.nq_file.empty()) {
    return Status::InvalidArgument("eval qa: give at least one of --squad, --quality, --nq");
  }
  if (o.modes.empty()) return Status::InvalidArgument("--modes: no mode given");
  for (const std::string& m : o.modes) {
    Result<Mode> mode = ParseMode(m, o.attention);
    if (!mode.ok()) return mode.status();
  }
  if (std::count(o.modes.begin(), o.modes.end(), std::string()) > 0) {
    return Status::InvalidArgument("--modes: empty mode name");
  }
  for (size_t i = 0; i < o.modes.size(); ++i) {
    if (std::find(o.modes.begin(), o.modes.begin() + static_cast<ptrdiff_t>(i), o.modes[i]) !=
        o.modes.begin() + static_cast<ptrdiff_t>(i)) {
      return Status::InvalidArgument("--modes: '" + o.modes[i] + "' given twice");
    }
  }
  if (o.split != "all" && o.split != "even" && o.split != "odd") {
    return Status::InvalidArgument("--split: '" + o.split + "' is not all, even or odd");
  }
  if (o.limit < 0) return Status::InvalidArgument("--limit: must be >= 0");
  if (o.documents < 0) return Status::InvalidArgument("--documents: must be >= 0");
  if (o.k < 1 || o.k > retrieval::kMaxSearchK) {
    return Status::InvalidArgument("--k: must be within 1.." + std::to_string(retrieval::kMaxSearchK));
  }
  if (o.max_answer_tokens < 1) return Status::InvalidArgument("--max-answer-tokens: must be >= 1");
  if (o.budget_tokens < 0) {
    return Status::InvalidArgument("--budget-tokens: must be >= 0 (0: what the context leaves)");
  }
  if (o.ctx < 0) return Status::InvalidArgument("--ctx: must be >= 0");
  return Status::OK();
}

Result<json> RunQaEval(const QaEvalOptions& o) {
  if (Status s = ValidateQaEvalOptions(o); !s.ok()) return s;
  std::vector<Mode> modes;
  for (const std::string& m : o.modes) {
    ENGRAM_TRY_ASSIGN(Mode mode, ParseMode(m, o.attention));
    modes.push_back(std::move(mode));
  }

  // The data, before anything heavy is loaded, so a bad file fails fast.
  Corpus corpus;
  if (!o.squad_file.empty()) {
    if (Status s = LoadSquad(o, corpus); !s.ok()) return s;
  }
  if (!o.quality_file.empty()) {
    if (Status s = LoadLeval(o, Dataset::kQuality, corpus); !s.ok()) return s;
  }
  if (!o.nq_file.empty()) {
    if (Status s = LoadLeval(o, Dataset::kNq, corpus); !s.ok()) return s;
  }

  // One engine per attention policy (none and rag: full).
  std::map<std::string, std::unique_ptr<inference::Engine>> engines;
  for (const Mode& m : modes) {
    if (engines.count(m.attention)) continue;
    inference::EngineOptions eo;
    eo.model = o.model;
    eo.context.n_ctx = o.ctx;
    eo.context.n_threads = o.threads;
    ENGRAM_TRY_ASSIGN(eo.context.device, inference::ParseDevice(o.device));
    eo.context.gpu = o.gpu;
    ENGRAM_TRY_ASSIGN(eo.context.attention, inference::ParseAttentionPolicy(m.attention));
    eo.generation.max_tokens = o.max_answer_tokens;
    eo.generation.sampler.temperature = 0.0f;  // greedy: answers are reproducible
    ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::Engine> engine, inference::Engine::Load(eo));
    engines.emplace(m.attention, std::move(engine));
  }
  const inference::Engine& any_engine = *engines.begin()->second;

  // The collection (and the KV cache) in a fresh directory.
  Result<std::unique_ptr<inference::BertEmbedder>> embedder =
      inference::BertEmbedder::OpenOrDefault(o.embedder, {.n_threads = o.threads});
  if (!embedder.ok()) return embedder.status();
  const bool temporary = o.work_dir.empty();
  const ScratchDir scratch(temporary ? fs::temp_directory_path() /
                                           ("engram-eval-qa-" + std::to_string(::getpid()))
                                     : fs::path(o.work_dir) / "engram-eval-qa",
                           /*keep=*/!temporary);
  const fs::path& dir = scratch.path();
  retrieval::CollectionOptions copts;
  copts.mode = retrieval::OpenMode::kCreate;
  ENGRAM_TRY_ASSIGN(std::unique_ptr<retrieval::Collection> collection,
                    retrieval::Collection::Open((dir / "collection").string(), embedder->get(), copts));
  const auto ingest_start = Clock::now();
  {
    ProgressReporter progress("ingest", corpus.documents.size(), {.unit = "docs"});
    for (Document& d : corpus.documents) {
      retrieval::DocumentInput input;
      input.text = d.text;
      input.title = d.title;
      input.source = d.source;
      ENGRAM_TRY_ASSIGN(const retrieval::IngestResult r, collection->Ingest(input));
      d.id = r.id;
      progress.Add(1);
    }
  }
  if (Status s = collection->Flush(); !s.ok()) return s;
  const double ingest_s = Ms(ingest_start) / 1000.0;

  // One KV cache for every mode: a document prefilled by one long mode is loaded from disk by
  // the next (the attention policy decodes; the prefix is the same).
  ENGRAM_TRY_ASSIGN(std::unique_ptr<agent::DocumentKvCache> kv_cache,
                    agent::DocumentKvCache::Open(dir / "kv", /*limit_bytes=*/0));

  json modes_out = json::object();
  for (const Mode& mode : modes) {
    const inference::Engine& engine = *engines.at(mode.attention);
    // A pipeline per mode: its context (and the prefix it holds) goes with the mode.
    agent::QaPipeline qa(&engine, collection.get(), kv_cache.get());
    ModeTally t;
    ProgressReporter progress("eval qa " + mode.name, corpus.questions.size(), {.unit = "questions"});
    for (const Question& q : corpus.questions) {
      const Document& doc = corpus.documents[q.document];
      Tally& d = t.datasets[q.dataset];
      agent::AskOptions ask;
      ask.mode = mode.ask;
      ask.k = o.k;
      ask.max_answer_tokens = o.max_answer_tokens;
      ask.budget_tokens = o.budget_tokens;
      ask.compress = o.compress;
      ask.document = doc.id;
      const auto start = Clock::now();
      if (q.dataset == Dataset::kQuality) {
        Result<std::vector<double>> scores = qa.ScoreOptions(q.text, q.choice.options, ask);
        const double ms = Ms(start);
        if (!scores.ok() && scores.status().code() == StatusCode::kOutOfRange) {
          ++d.skipped, ++t.skipped;
          progress.Add(1);
          continue;
        }
        if (!scores.ok()) return scores.status().WithContext("eval qa " + mode.name + ", " + q.id);
        std::vector<double> mean(scores->size());
        for (size_t i = 0; i < scores->size(); ++i) {
          const size_t n = engine.tokenizer().Encode(q.choice.options[i]).size();
          mean[i] = (*scores)[i] / static_cast<double>(std::max<size_t>(n, 1));
        }
        const int by_sum = ArgMax(*scores), by_mean = ArgMax(mean);
        const int pick = o.length_normalise ? by_mean : by_sum;
        d.correct += pick == q.gold;
        d.correct_sum += by_sum == q.gold;
        d.correct_mean += by_mean == q.gold;
        d.chance += 1.0 / static_cast<double>(q.choice.options.size());
        ++d.scored;
        d.seconds += ms / 1000.0;
        t.seconds += ms / 1000.0;
        ++t.questions;
        if (static_cast<int>(d.examples.size()) < o.examples) {
          d.examples.push_back({{"id", q.id}, {"question", q.text},
                                {"pick", std::string(1, static_cast<char>('A' + pick))},
                                {"gold", std::string(1, static_cast<char>('A' + q.gold))},
                                {"log_prob", *scores}});
        }
        progress.Add(1);
        continue;
      }
      Result<agent::Answer> answer = qa.Ask(q.text, ask);
      const double ms = Ms(start);
      if (!answer.ok() && answer.status().code() == StatusCode::kOutOfRange) {
        ++d.skipped, ++t.skipped;
        progress.Add(1);
        continue;
      }
      if (!answer.ok()) return answer.status().WithContext("eval qa " + mode.name + ", " + q.id);
      const std::string text = StripCitations(answer->text);
      d.em += MaxSquadExactMatch(text, q.answers);
      d.f1 += MaxSquadF1(text, q.answers);
      d.contains += MaxSquadContains(text, q.answers);
      ++d.scored;
      d.seconds += ms / 1000.0;
      t.seconds += ms / 1000.0;
      ++t.questions;
      ++t.answers;
      const agent::AskTiming& timing = answer->timing;
      if (timing.cache_hit) {
        t.ttft_cached += timing.ttft_ms, ++t.cached;
        if (timing.cache_load_ms > 0) t.cache_load += timing.cache_load_ms, ++t.loaded;
      } else {
        t.ttft_cold += timing.ttft_ms, ++t.cold;
        t.prefill_cold += timing.prefill_ms;
      }
      t.prompt_tokens += static_cast<double>(timing.prompt_tokens);
      t.sources += answer->sources;
      if (answer->compression.applied) ++t.compressed, t.compress_ms += timing.compress_ms;
      if (static_cast<int>(d.examples.size()) < o.examples) {
        d.examples.push_back({{"id", q.id}, {"question", q.text}, {"answer", answer->text},
                              {"gold", q.answers}, {"mode_ran", std::string(agent::AskModeName(answer->mode))},
                              {"ttft_ms", timing.ttft_ms}, {"cache_hit", timing.cache_hit}});
      }
      progress.Add(1);
    }
    progress.Finish();

    json m;
    m["attention"] = mode.attention;
    json examples = json::object();
    for (Dataset ds : kDatasets) {
      if (!corpus.info.count(ds)) continue;
      const Tally& d = t.datasets[ds];
      const std::string key(DatasetKey(ds));
      if (ds == Dataset::kQuality) {
        m["quality_accuracy"] = MeanOrNull(d.correct, d.scored);
        m["quality_accuracy_sum"] = MeanOrNull(d.correct_sum, d.scored);
        m["quality_accuracy_mean"] = MeanOrNull(d.correct_mean, d.scored);
        m["quality_chance"] = MeanOrNull(d.chance, d.scored);
      } else {
        m[key + "_em"] = MeanOrNull(d.em, d.scored);
        m[key + "_f1"] = MeanOrNull(d.f1, d.scored);
        m[key + "_contains"] = MeanOrNull(d.contains, d.scored);
      }
      m[key + "_questions"] = d.scored;
      m[key + "_skipped"] = d.skipped;
      m[key + "_seconds_per_question"] = MeanOrNull(d.seconds, d.scored);
      examples[key] = d.examples;
    }
    m["ttft_ms_cold"] = MeanOrNull(t.ttft_cold, t.cold);
    m["ttft_ms_cached"] = MeanOrNull(t.ttft_cached, t.cached);
    m["answers_cold"] = t.cold;
    m["answers_cached"] = t.cached;
    m["prefill_ms_cold"] = MeanOrNull(t.prefill_cold, t.cold);
    m["answers_loaded_from_disk"] = t.loaded;
    m["cache_load_ms"] = MeanOrNull(t.cache_load, t.loaded);
    m["tokens_per_answer"] = MeanOrNull(t.prompt_tokens, t.answers);
    m["sources_per_answer"] = MeanOrNull(t.sources, t.answers);
    m["answers_compressed"] = t.compressed;
    m["compress_ms"] = MeanOrNull(t.compress_ms, t.compressed);
    m["seconds_per_question"] = MeanOrNull(t.seconds, t.questions);
    m["questions"] = t.questions;
    m["skipped"] = t.skipped;
    m["examples"] = std::move(examples);
    modes_out[mode.name] = std::move(m);
  }

  json out;
  out["modes"] = std::move(modes_out);
  json datasets = json::object();
  for (Dataset ds : kDatasets) {
    if (corpus.info.count(ds)) datasets[std::string(DatasetKey(ds))] = corpus.info[ds];
  }
  out["datasets"] = std::move(datasets);
  out["ingest_s"] = ingest_s;
  out["config"] = {
      {"ctx", any_engine.context_length()},
      {"threads", o.threads},
      {"k", o.k},
      {"max_answer_tokens", o.max_answer_tokens},
      {"budget_tokens", o.budget_tokens},
      {"compress", o.compress},
      {"sampling", "greedy"},
      {"limit_per_dataset", o.limit},
      {"documents_per_dataset", o.documents},
      {"kv_cache", "one for all modes, in the order given: a document prefilled by an earlier "
                   "mode is loaded from disk by a later one (a hit)"},
      {"split", o.split},
      {"attention_default", o.attention},
      {"quality_choice", o.length_normalise ? "mean log-probability per option token"
                                            : "summed log-probability"},
      {"embedder", std::string((*embedder)->Name())},
      {"chunking", {{"max_tokens", copts.chunking.max_tokens},
                    {"overlap_tokens", copts.chunking.overlap_tokens}}},
      {"scoring", "SQuAD v1.1 normalisation, max over references, citation markers stripped"}};
  out["model"] = fs::path(any_engine.model_path()).filename().string();
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatQaEval(const json& r) {
  std::string out = "qa eval: model " + r["model"].get<std::string>() + ", ";
  for (const auto& [name, info] : r["datasets"].items()) {
    out += name + " " + std::to_string(info["questions"].get<size_t>()) + " questions / " +
           std::to_string(info["documents"].get<size_t>()) + " docs; ";
  }
  out += "commit " + r["commit"].get<std::string>() + "\n";
  const auto cell = [](const json& m, const char* key, const char* fmt) {
    char buf[32];
    if (!m.contains(key) || m[key].is_null()) return std::string("-");
    std::snprintf(buf, sizeof buf, fmt, m[key].get<double>());
    return std::string(buf);
  };
  char line[300];
  std::snprintf(line, sizeof line, "%-16s %7s %7s %8s %7s %7s %10s %10s %9s %7s %7s\n", "mode",
                "sq EM", "sq F1", "qual acc", "nq EM", "nq F1", "ttft cold", "ttft hit",
                "tok/ans", "s/q", "skipped");
  out += line;
  for (const auto& [name, m] : r["modes"].items()) {
    std::snprintf(line, sizeof line, "%-16s %7s %7s %8s %7s %7s %10s %10s %9s %7s %7d\n",
                  name.c_str(), cell(m, "squad_em", "%.3f").c_str(),
                  cell(m, "squad_f1", "%.3f").c_str(), cell(m, "quality_accuracy", "%.3f").c_str(),
                  cell(m, "nq_em", "%.3f").c_str(), cell(m, "nq_f1", "%.3f").c_str(),
                  cell(m, "ttft_ms_cold", "%.0f ms").c_str(),
                  cell(m, "ttft_ms_cached", "%.0f ms").c_str(),
                  cell(m, "tokens_per_answer", "%.0f").c_str(),
                  cell(m, "seconds_per_question", "%.2f").c_str(), m["skipped"].get<int>());
    out += line;
  }
  if (r["datasets"].contains("quality")) {
    out += "QuALITY: chance level 0.25 (4 options); the choice is the option of highest " +
           r["config"]["quality_choice"].get<std::string>() + "\n";
  }
  return out;
}

}  // namespace engram::bench
