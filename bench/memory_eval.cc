#include "bench/memory_eval.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "bench/cross_validation.h"
#include "bench/locomo.h"
#include "bench/rerank.h"
#include "bench/scratch_dir.h"
#include "bench/stats.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "inference/engine.h"
#include "inference/lm_reranker.h"
#include "memory/episodic_store.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// How a store indexes its turns for BM25 (StoreOptions::index_context_turns, ::index_date,
// ::stemming).
struct IndexVariant {
  std::string name;
  int context_turns;
  bool date;
  retrieval::Stemming stemming = retrieval::Stemming::kNone;
};

// The stores a run builds: the defaults first (the reported modes use it), then, for the grid,
// the default index text without stemming and the other index texts (unstemmed, as they were
// measured before stemming) the cross-validation may choose.
std::vector<IndexVariant> IndexVariants(bool grid) {
  const memory::StoreOptions d;
  std::vector<IndexVariant> out = {
      {"default index", d.index_context_turns, d.index_date, d.stemming}};
  if (!grid) return out;
  if (d.stemming != retrieval::Stemming::kNone) {
    out.push_back({"default index unstemmed", d.index_context_turns, d.index_date});
  }
  for (IndexVariant v : {IndexVariant{"", 0, false},
                         {"", 0, true},
                         {"", 1, true},
                         {"", 2, false},
                         {"", 2, true},
                         {"", 3, true}}) {
    if (v.context_turns == d.index_context_turns && v.date == d.index_date) continue;
    v.name = "index " + std::to_string(v.context_turns) + " turns" + (v.date ? " + date" : "");
    out.push_back(v);
  }
  return out;
}

// A ranking configuration: the store it reads (an index of IndexVariants) and the combined
// score's weights.
struct Mode {
  std::string name;
  memory::RecallOptions weights;
  size_t store = 0;
};

memory::RecallOptions Weights(double relevance, double bm25, double recency, double importance) {
  memory::RecallOptions o;
  o.relevance_weight = relevance;
  o.bm25_weight = bm25;
  o.recency_weight = recency;
  o.importance_weight = importance;
  return o;
}

json WeightsJson(const memory::RecallOptions& w) {
  return {{"relevance", w.relevance_weight},
          {"bm25", w.bm25_weight},
          {"recency", w.recency_weight},
          {"importance", w.importance_weight},
          {"half_life_hours", w.half_life_hours},
          {"feedback_terms", w.feedback_terms},
          {"feedback_episodes", w.feedback_episodes},
          {"feedback_weight", w.feedback_weight},
          {"dense_feedback", w.dense_feedback_weight},
          {"role", w.role_weight}};
}

// The configurations --weight-sweep scores and --cross-validate chooses among: the index text
// (one store per IndexVariants entry), the combined score's weights, the BM25 and dense
// feedback and role matching (memory/episodic_store.h); the defaults first, so that a tie keeps
// them. The plain index (the techniques before index texts) gets the weights, BM25 feedback and
// role matching; the default index the weights, both feedbacks and role matching; the other
// index texts the BM25 weight and feedback.
std::vector<Mode> Candidates(const std::vector<IndexVariant>& variants) {
  struct Feedback {
    int terms;
    double weight;
  };
  std::vector<Mode> out = {{"default", memory::RecallOptions{}, 0}};
  for (size_t v = 0; v < variants.size(); ++v) {
    const bool plain = variants[v].context_turns == 0 && !variants[v].date;
    // The default index text, stemmed or not, gets the full grid.
    const bool first = variants[v].context_turns == variants[0].context_turns &&
                       variants[v].date == variants[0].date;
    using Doubles = std::vector<double>;
    const Doubles recencies = plain ? Doubles{0.0, 0.05} : Doubles{0.0};
    const Doubles roles = plain ? Doubles{0.0, 0.15} : first ? Doubles{0.0, 0.1} : Doubles{0.0};
    const Doubles dense = first ? Doubles{0.0, 0.5, 1.0} : Doubles{0.0};
    const std::vector<Feedback> feedbacks =
        plain   ? std::vector<Feedback>{{0, 0.0}, {25, 0.6}, {25, 1.0}}
        : first ? std::vector<Feedback>{{0, 0.0}, {25, 1.0}, {25, 1.5}, {50, 1.0}}
                : std::vector<Feedback>{{0, 0.0}, {25, 1.0}};
    for (double bm25 : {0.5, 1.0, 1.5}) {
      for (double recency : recencies) {
        for (Feedback feedback : feedbacks) {
          for (double dense_feedback : dense) {
            for (double role : roles) {
              char name[200];
              std::snprintf(name, sizeof name,
                            "%s, bm25 %.2f recency %.2f feedback %d x %.2f dense feedback %.2f "
                            "role %.2f",
                            variants[v].name.c_str(), bm25, recency, feedback.terms,
                            feedback.weight, dense_feedback, role);
              memory::RecallOptions o = Weights(1, bm25, recency, 0.1);
              o.feedback_terms = feedback.terms;
              o.feedback_weight = feedback.weight;
              o.dense_feedback_weight = dense_feedback;
              o.role_weight = role;
              out.push_back({name, o, v});
            }
          }
        }
      }
    }
  }
  return out;
}

// Every `stride`th question of all the conversations, in order, with its conversation's index.
struct QuestionRef {
  const LocomoConversation* conversation;
  const LocomoQuestion* question;
  int group;
};

std::vector<QuestionRef> AllQuestions(const std::vector<LocomoConversation>& conversations,
                                      int stride) {
  std::vector<QuestionRef> out;
  size_t seen = 0;
  for (size_t c = 0; c < conversations.size(); ++c) {
    for (const LocomoQuestion& q : conversations[c].questions) {
      if (seen++ % static_cast<size_t>(stride) == 0) {
        out.push_back({&conversations[c], &q, static_cast<int>(c)});
      }
    }
  }
  return out;
}

// recall[q][i]: question q's evidence recall at ks[i].
using RecallTable = std::vector<std::vector<double>>;

// Recall@k averaged over questions, overall and per LoCoMo category.
json SummaryJson(const RecallTable& recall, const std::vector<QuestionRef>& questions,
                 const std::vector<int>& ks) {
  std::vector<double> sum(ks.size(), 0.0);
  std::map<std::string, std::vector<double>> by_category;
  std::map<std::string, int> count;
  for (size_t q = 0; q < questions.size(); ++q) {
    const std::string& category = questions[q].question->category;
    auto& c = by_category.try_emplace(category, ks.size(), 0.0).first->second;
    ++count[category];
    for (size_t i = 0; i < ks.size(); ++i) sum[i] += recall[q][i], c[i] += recall[q][i];
  }
  json out;
  const double n = static_cast<double>(std::max<size_t>(questions.size(), 1));
  for (size_t i = 0; i < ks.size(); ++i) out["recall@" + std::to_string(ks[i])] = sum[i] / n;
  json by = json::object();
  for (const auto& [category, sums] : by_category) {
    json c;
    for (size_t i = 0; i < ks.size(); ++i) {
      c["recall@" + std::to_string(ks[i])] = sums[i] / count[category];
    }
    c["questions"] = count[category];
    by[category] = c;
  }
  out["by_category"] = by;
  return out;
}

// The share of the question's evidence among the first k hits, for each k.
std::vector<double> EvidenceRecall(const std::vector<memory::RecalledEpisode>& hits,
                                   const LocomoQuestion& q, const std::vector<int>& ks) {
  std::vector<double> out;
  for (int k : ks) {
    std::set<std::string> found;
    for (size_t i = 0; i < hits.size() && i < static_cast<size_t>(k); ++i) {
      auto it = hits[i].episode.metadata.find("dia_id");
      if (it != hits[i].episode.metadata.end()) found.insert(it->second);
    }
    int matched = 0;
    for (const std::string& e : q.evidence) matched += found.count(e) ? 1 : 0;
    out.push_back(static_cast<double>(matched) / static_cast<double>(q.evidence.size()));
  }
  return out;
}

struct AppendFigures {
  std::vector<double> append_ms;
  double embed_s = 0.0;
  size_t turns = 0;
};

// Every turn's embedding, conversation by conversation (in batches, timed apart from appends).
Result<std::vector<std::vector<float>>> EmbedTurns(
    const std::vector<LocomoConversation>& conversations, inference::BertEmbedder& embedder,
    bool dated, AppendFigures& f) {
  std::vector<std::vector<float>> out;
  for (const LocomoConversation& c : conversations) {
    std::vector<std::string> texts;
    for (const LocomoTurn& t : c.turns) {
      memory::Episode e;
      e.text = t.text;
      e.timestamp_ms = t.time_ms;
      texts.push_back(memory::EmbeddingText(e, dated));
    }
    std::vector<float>& vectors = out.emplace_back();
    const auto embed_start = Clock::now();
    for (size_t start = 0; start < texts.size(); start += 64) {
      const size_t n = std::min<size_t>(64, texts.size() - start);
      Result<retrieval::EmbeddingBatch> batch = embedder.Embed(std::span(texts).subspan(start, n));
      if (!batch.ok()) return batch.status();
      vectors.insert(vectors.end(), batch->values.begin(), batch->values.end());
    }
    f.embed_s += Ms(embed_start) / 1e3;
    f.turns += c.turns.size();
  }
  return out;
}

// Each conversation into its own namespace, turn by turn with their embeddings (`vectors`,
// EmbedTurns), so the append latency (into `append_ms` when given) is the store's.
Status AppendConversations(const std::vector<LocomoConversation>& conversations,
                           const std::vector<std::vector<float>>& vectors, size_t dim,
                           memory::EpisodicStore& store, std::vector<double>* append_ms,
                           ProgressReporter& progress) {
  for (size_t ci = 0; ci < conversations.size(); ++ci) {
    const LocomoConversation& c = conversations[ci];
    for (size_t i = 0; i < c.turns.size(); ++i) {
      const LocomoTurn& t = c.turns[i];
      memory::Episode e;
      e.session = t.session;
      e.role = t.speaker;
      e.text = t.text;
      e.timestamp_ms = t.time_ms;
      e.metadata = {{"dia_id", t.dia_id}};
      e.embedding.assign(vectors[ci].begin() + i * dim, vectors[ci].begin() + (i + 1) * dim);
      const auto start = Clock::now();
      Result<uint64_t> id = store.Append(c.id, e);
      if (append_ms != nullptr) append_ms->push_back(Ms(start));
      if (!id.ok()) return id.status();
      progress.Add();
    }
  }
  return Status::OK();
}

// recall[mode][question][k index], and the latency of the first mode's recalls.
struct ScoredModes {
  std::vector<RecallTable> recall;
  std::vector<double> recall_ms;
};

// The first mode's recalls embed the question (their latency is the store's, embedding
// included); the other modes reuse that embedding.
Result<ScoredModes> ScoreModes(const std::vector<std::unique_ptr<memory::EpisodicStore>>& stores,
                               retrieval::Embedder& embedder, const std::vector<Mode>& modes,
                               const std::vector<QuestionRef>& questions,
                               const std::vector<int>& ks) {
  const int max_k = *std::max_element(ks.begin(), ks.end());
  ScoredModes out;
  out.recall.assign(modes.size(), RecallTable(questions.size()));
  ProgressReporter progress("recall", questions.size() * modes.size(), {.unit = "queries"});
  for (size_t q = 0; q < questions.size(); ++q) {
    const QuestionRef& ref = questions[q];
    std::vector<float> question_vector;
    if (modes.size() > 1) {
      ENGRAM_TRY_ASSIGN(const retrieval::EmbeddingBatch e,
                        embedder.Embed(std::span(&ref.question->text, 1)));
      question_vector = e.values;
    }
    for (size_t m = 0; m < modes.size(); ++m) {
      memory::RecallOptions o = modes[m].weights;
      o.k = max_k;
      o.now_ms = ref.conversation->last_session_ms;
      if (m > 0) o.query_embedding = question_vector;
      const auto start = Clock::now();
      Result<std::vector<memory::RecalledEpisode>> hits =
          stores[modes[m].store]->Recall(ref.conversation->id, ref.question->text, o);
      if (m == 0) out.recall_ms.push_back(Ms(start));
      if (!hits.ok()) return hits.status();
      out.recall[m][q] = EvidenceRecall(*hits, *ref.question, ks);
      progress.Add();
    }
  }
  progress.Finish();
  return out;
}

// Leave one conversation out: each conversation's questions are scored with the candidate that
// has the best recall@10 (or the first k's recall, without 10 in ks) on the other conversations.
json CrossValidatedJson(const std::vector<std::string>& names, const std::vector<json>& settings,
                        const std::vector<RecallTable>& recall,
                        const std::vector<QuestionRef>& questions,
                        const std::vector<LocomoConversation>& conversations,
                        const std::vector<int>& ks) {
  const auto ten = std::find(ks.begin(), ks.end(), 10);
  const size_t selected = ten != ks.end() ? static_cast<size_t>(ten - ks.begin()) : 0;
  std::vector<int> group;
  for (const QuestionRef& q : questions) group.push_back(q.group);
  // The per-k figures of each fold use the configuration chosen on the selection k.
  std::vector<std::vector<double>> score(names.size(), std::vector<double>(questions.size()));
  for (size_t c = 0; c < names.size(); ++c) {
    for (size_t q = 0; q < questions.size(); ++q) score[c][q] = recall[c][q][selected];
  }
  const CrossValidation cv =
      LeaveOneGroupOut(score, group, static_cast<int>(conversations.size()));
  RecallTable held_out(questions.size());
  for (size_t q = 0; q < questions.size(); ++q) held_out[q] = recall[cv.chosen[q]][q];
  json out = SummaryJson(held_out, questions, ks);  // pooled over the held-out questions
  json mean = json::object(), folds = json::array();
  for (size_t i = 0; i < ks.size(); ++i) {
    double sum = 0.0;
    for (const Fold& f : cv.folds) {
      double fold_sum = 0.0;
      for (size_t q = 0; q < questions.size(); ++q) {
        if (questions[q].group == f.group) fold_sum += held_out[q][i];
      }
      sum += fold_sum / static_cast<double>(f.items);
    }
    mean["recall@" + std::to_string(ks[i])] = sum / std::max<double>(1.0, cv.folds.size());
  }
  for (const Fold& f : cv.folds) {
    folds.push_back({{"held_out", conversations[f.group].id},
                     {"questions", f.items},
                     {"chosen", names[f.chosen]},
                     {"weights", settings[f.chosen]},
                     {"train_recall@" + std::to_string(ks[selected]), f.train_mean},
                     {"held_out_recall@" + std::to_string(ks[selected]), f.held_out_mean}});
  }
  out["mean_over_folds"] = mean;
  out["selected_on"] = "recall@" + std::to_string(ks[selected]);
  out["candidates"] = names.size();
  out["folds"] = folds;
  return out;
}

// Each technique alone and together, honestly: the cross-validated figures when the choice is
// restricted to the candidates that use only those techniques.
json AblationJson(const std::vector<Mode>& candidates, const std::vector<IndexVariant>& variants,
                  const std::vector<RecallTable>& tables, const std::vector<QuestionRef>& questions,
                  const std::vector<LocomoConversation>& conversations,
                  const std::vector<int>& ks) {
  enum : unsigned { kIndexText = 1, kFeedback = 2, kDense = 4, kRole = 8, kStemming = 16 };
  const auto techniques = [&](const Mode& m) {
    const IndexVariant& v = variants[m.store];
    return (v.context_turns > 0 || v.date ? kIndexText : 0u) |
           (v.stemming != retrieval::Stemming::kNone ? kStemming : 0u) |
           (m.weights.feedback_terms > 0 ? kFeedback : 0u) |
           (m.weights.dense_feedback_weight > 0 ? kDense : 0u) |
           (m.weights.role_weight > 0 ? kRole : 0u);
  };
  const std::pair<const char*, unsigned> rows[] = {
      {"weights only", 0u},
      {"weights + index text", kIndexText},
      {"weights + feedback", kFeedback},
      {"weights + role", kRole},
      {"weights + index text + feedback", kIndexText | kFeedback},
      {"weights + index text + feedback + dense feedback", kIndexText | kFeedback | kDense},
      {"all but stemming", ~kStemming},
      {"all", ~0u}};
  std::vector<std::pair<const char*, std::function<bool(const Mode&)>>> subsets;
  for (const auto& [name, allowed] : rows) {
    subsets.push_back(
        {name, [&, allowed](const Mode& m) { return (techniques(m) & ~allowed) == 0; }});
  }
  json out = json::object();
  for (const auto& [name, keep] : subsets) {
    std::vector<std::string> names;
    std::vector<json> settings;
    std::vector<RecallTable> kept;
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (!keep(candidates[c])) continue;
      names.push_back(candidates[c].name);
      settings.push_back(json::object());
      kept.push_back(tables[c]);
    }
    if (names.empty()) continue;
    json cv = CrossValidatedJson(names, settings, kept, questions, conversations, ks);
    json row = {{"mean_over_folds", cv["mean_over_folds"]}, {"candidates", names.size()}};
    json by = json::object();
    for (const auto& [category, figures] : cv["by_category"].items()) by[category] = figures;
    row["by_category"] = by;
    for (const auto& [key, value] : cv.items()) {
      if (key.starts_with("recall@")) row[key] = value;
    }
    out[name] = row;
  }
  return out;
}

// What the language model reads for a recalled turn: the turn with up to two turns before it in
// its session, as the store's BM25 index text has them (the reply "yes, it was so inspiring"
// says nothing alone).
std::string RerankPassage(const LocomoConversation& c, const memory::RecalledEpisode& hit) {
  auto dia = hit.episode.metadata.find("dia_id");
  if (dia == hit.episode.metadata.end()) return hit.episode.text;
  for (size_t i = 0; i < c.turns.size(); ++i) {
    if (c.turns[i].dia_id != dia->second) continue;
    std::string passage = c.turns[i].text;
    for (size_t back = 1; back <= 2 && back <= i && c.turns[i - back].session == c.turns[i].session;
         ++back) {
      passage = c.turns[i - back].text + "\n" + passage;
    }
    return passage;
  }
  return hit.episode.text;
}

// --rerank N: the combined score's first N episodes (RerankPassage) rescored with the language
// model at each weight of bench/rerank.h, the weight chosen leaving one conversation out.
Result<json> RerankedJson(memory::EpisodicStore& store, const std::vector<QuestionRef>& questions,
                          const std::vector<LocomoConversation>& conversations,
                          const std::vector<int>& ks, int n, int threads) {
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::Engine> engine, inference::Engine::Load({}));
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::LmReranker> reranker,
                    inference::LmReranker::Create(*engine, {.threads = threads}));
  const int max_k = std::max(n, *std::max_element(ks.begin(), ks.end()));
  std::vector<RecallTable> tables(std::size(kRerankWeights), RecallTable(questions.size()));
  std::vector<double> ms;
  ProgressReporter progress("rerank", questions.size(), {.unit = "queries"});
  for (size_t q = 0; q < questions.size(); ++q) {
    const QuestionRef& ref = questions[q];
    memory::RecallOptions o;
    o.k = max_k;
    o.now_ms = ref.conversation->last_session_ms;
    ENGRAM_TRY_ASSIGN(const std::vector<memory::RecalledEpisode> hits,
                      store.Recall(ref.conversation->id, ref.question->text, o));
    std::vector<double> first;
    std::vector<std::string> passages;
    for (const memory::RecalledEpisode& h : hits) {
      first.push_back(h.score);
      if (passages.size() < static_cast<size_t>(n)) {
        passages.push_back(RerankPassage(*ref.conversation, h));
      }
    }
    const auto start = Clock::now();
    ENGRAM_TRY_ASSIGN(const std::vector<double> lm, reranker->Score(ref.question->text, passages));
    ms.push_back(Ms(start));
    const std::vector<std::vector<size_t>> orders = RerankOrders(first, lm);
    for (size_t w = 0; w < orders.size(); ++w) {
      std::vector<memory::RecalledEpisode> reordered;
      for (size_t i : orders[w]) reordered.push_back(hits[i]);
      tables[w][q] = EvidenceRecall(reordered, *ref.question, ks);
    }
    progress.Add();
  }
  progress.Finish();
  std::vector<std::string> names;
  std::vector<json> settings;
  json by_weight = json::object();
  for (size_t w = 0; w < std::size(kRerankWeights); ++w) {
    names.push_back("rerank weight " + std::to_string(kRerankWeights[w]));
    settings.push_back({{"rerank_weight", kRerankWeights[w]}});
    json row = SummaryJson(tables[w], questions, ks);
    row.erase("by_category");
    by_weight[names.back()] = row;
  }
  json out = CrossValidatedJson(names, settings, tables, questions, conversations, ks);
  out["by_weight"] = by_weight;
  AddRerankCost(out, reranker->Name(), n, ms);
  return out;
}

}  // namespace

Result<json> RunMemoryEval(const MemoryEvalOptions& options) {
  if (options.ks.empty() || *std::min_element(options.ks.begin(), options.ks.end()) < 1) {
    return Status::InvalidArgument("eval memory: --k needs positive values");
  }
  Result<std::vector<LocomoConversation>> conversations =
      ReadLocomo(options.locomo_file, {.captions = options.captions});
  if (!conversations.ok()) return conversations.status();
  if (options.cross_validate && conversations->size() < 2) {
    return Status::InvalidArgument("eval memory: --cross-validate needs at least two "
                                   "conversations in '" + options.locomo_file + "'");
  }
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(options.precision);
  if (!precision.ok()) return precision.status();
  Result<std::unique_ptr<inference::BertEmbedder>> embedder = inference::BertEmbedder::OpenOrDefault(
      options.model, {.n_threads = options.threads, .precision = *precision});
  if (!embedder.ok()) return embedder.status();

  const ScratchDir scratch((options.work_dir.empty() ? fs::temp_directory_path()
                                                     : fs::path(options.work_dir)) /
                               ("engram-eval-memory-" + std::to_string(::getpid())),
                           /*keep=*/false);
  const bool grid = options.weight_sweep || options.cross_validate;
  const std::vector<IndexVariant> variants = IndexVariants(grid);
  AppendFigures appended;
  ENGRAM_TRY_ASSIGN(const std::vector<std::vector<float>> vectors,
                    EmbedTurns(*conversations, **embedder, options.dated_embeddings, appended));
  // One store per index text, from the same embeddings; the first one's appends are timed.
  std::vector<std::unique_ptr<memory::EpisodicStore>> stores;
  ProgressReporter progress("append", appended.turns * variants.size(), {.unit = "turns"});
  for (const IndexVariant& v : variants) {
    memory::StoreOptions store_options;
    store_options.embedder = embedder->get();
    store_options.sync = options.sync;
    store_options.embed_date = options.dated_embeddings;
    store_options.index_context_turns = v.context_turns;
    store_options.index_date = v.date;
    store_options.stemming = v.stemming;
    ENGRAM_TRY_ASSIGN(
        std::unique_ptr<memory::EpisodicStore> store,
        memory::EpisodicStore::Open((scratch.path() / std::to_string(stores.size())).string(),
                                    store_options));
    if (Status st =
            AppendConversations(*conversations, vectors, static_cast<size_t>((*embedder)->Dim()),
                                *store, stores.empty() ? &appended.append_ms : nullptr, progress);
        !st.ok()) {
      return st;
    }
    stores.push_back(std::move(store));
  }
  progress.Finish();

  // The first three modes are the reported ones; the candidates follow when asked for.
  std::vector<Mode> modes = {{"combined", memory::RecallOptions{}, 0},
                             {"bm25", Weights(0, 1, 0, 0), 0},
                             {"dense", Weights(1, 0, 0, 0), 0}};
  const std::vector<Mode> candidates = Candidates(variants);
  if (grid) modes.insert(modes.end(), candidates.begin() + 1, candidates.end());
  const std::vector<QuestionRef> questions =
      AllQuestions(*conversations, std::max(1, options.question_stride));
  Result<ScoredModes> scored = ScoreModes(stores, **embedder, modes, questions, options.ks);
  if (!scored.ok()) return scored.status();

  json out;
  for (size_t m = 0; m < 3; ++m) out[modes[m].name] = SummaryJson(scored->recall[m], questions, options.ks);
  if (grid) {
    // The candidates' tables: the default is mode 0, the rest follow the reported modes.
    std::vector<RecallTable> tables = {scored->recall[0]};
    tables.insert(tables.end(), scored->recall.begin() + 3, scored->recall.end());
    if (options.weight_sweep) {
      json sweep = json::object();
      for (size_t c = 1; c < candidates.size(); ++c) {
        json row = SummaryJson(tables[c], questions, options.ks);
        row.erase("by_category");
        sweep[candidates[c].name] = row;
      }
      out["weight_sweep"] = sweep;
    }
    if (options.cross_validate) {
      std::vector<std::string> names;
      std::vector<json> settings;
      for (const Mode& m : candidates) {
        names.push_back(m.name);
        json setting = WeightsJson(m.weights);
        setting["index_context_turns"] = variants[m.store].context_turns;
        setting["index_date"] = variants[m.store].date;
        setting["stemming"] = std::string(retrieval::StemmingName(variants[m.store].stemming));
        settings.push_back(setting);
      }
      out["cross_validated"] =
          CrossValidatedJson(names, settings, tables, questions, *conversations, options.ks);
      out["cross_validated"]["ablation"] =
          AblationJson(candidates, variants, tables, questions, *conversations, options.ks);
    }
  }
  if (options.rerank > 0) {
    Result<json> reranked = RerankedJson(*stores[0], questions, *conversations, options.ks,
                                         options.rerank, options.threads);
    if (!reranked.ok()) return reranked.status();
    out["reranked"] = *reranked;
  }
  out["append_ms_p50"] = Percentile(appended.append_ms, 0.5);
  out["append_ms_p99"] = Percentile(appended.append_ms, 0.99);
  out["recall_ms_p50"] = Percentile(scored->recall_ms, 0.5);
  out["recall_ms_p99"] = Percentile(scored->recall_ms, 0.99);
  out["embed_s"] = appended.embed_s;
  out["questions"] = questions.size();
  out["episodes"] = appended.turns;
  out["namespaces"] = conversations->size();
  const std::string text =
      options.captions ? "<speaker>: <text> [shared <image caption>]" : "<speaker>: <text>";
  out["config"] = {
      {"embedder", std::string((*embedder)->Name())},
      {"precision", std::string(inference::EmbedPrecisionName((*embedder)->precision()))},
      {"sync", options.sync},
      {"episode_text", text},
      {"embedded_text", options.dated_embeddings ? "[<session date>] " + text : text},
      {"combined", WeightsJson(memory::RecallOptions{})},
      {"index_text",
       {{"context_turns", variants[0].context_turns},
        {"date", variants[0].date},
        {"stemming", std::string(retrieval::StemmingName(variants[0].stemming))}}},
      {"now", "the conversation's last session time"}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatMemoryEval(const json& r) {
  std::string out = "memory eval (LoCoMo): " + std::to_string(r["questions"].get<size_t>()) +
                    " questions, " + std::to_string(r["episodes"].get<size_t>()) + " episodes in " +
                    std::to_string(r["namespaces"].get<size_t>()) + " namespaces\n";
  char line[256];
  std::vector<std::string> keys;
  for (const auto& [key, value] : r["combined"].items()) {
    if (key != "by_category") keys.push_back(key);
  }
  std::snprintf(line, sizeof line, "%-9s", "mode");
  out += line;
  for (const std::string& k : keys) {
    std::snprintf(line, sizeof line, " %10s", k.c_str());
    out += line;
  }
  out += "\n";
  for (const char* mode : {"combined", "bm25", "dense"}) {
    std::snprintf(line, sizeof line, "%-9s", mode);
    out += line;
    for (const std::string& k : keys) {
      std::snprintf(line, sizeof line, " %10.3f", r[mode][k].get<double>());
      out += line;
    }
    out += "\n";
  }
  if (r.contains("cross_validated")) {
    const json& cv = r["cross_validated"];
    std::snprintf(line, sizeof line, "%-9s", "held-out");
    out += line;
    for (const std::string& k : keys) {
      std::snprintf(line, sizeof line, " %10.3f", cv["mean_over_folds"][k].get<double>());
      out += line;
    }
    out += "   (leave one conversation out, mean over folds)\n";
  }
  std::snprintf(line, sizeof line, "append p50 %.2f ms, recall p50 %.2f ms / p99 %.2f ms\n",
                r["append_ms_p50"].get<double>(), r["recall_ms_p50"].get<double>(),
                r["recall_ms_p99"].get<double>());
  out += line;
  return out;
}

}  // namespace engram::bench
