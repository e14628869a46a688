#include "bench/memory_eval.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "bench/scratch_dir.h"
#include "bench/stats.h"
#include "common/build_info.h"
#include "common/json_read.h"
#include "common/machine_info.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

struct Turn {
  std::string session, dia_id, text;  // text: "<speaker>: <text>"
  int64_t time_ms = 0;
};

struct Question {
  std::string text, category;
  std::vector<std::string> evidence;
};

struct Conversation {
  std::string id;
  std::vector<Turn> turns;
  std::vector<Question> questions;
  int64_t last_session_ms = 0;
};

std::string Trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// "D8:6; D9:17" -> {"D8:6", "D9:17"}: a few evidence entries list two ids in one string.
void AddEvidenceIds(const std::string& ids, std::vector<std::string>* out) {
  for (size_t start = 0; start <= ids.size();) {
    const size_t end = std::min(ids.find(';', start), ids.size());
    const std::string id = Trim(ids.substr(start, end - start));
    if (!id.empty()) out->push_back(id);
    start = end + 1;
  }
}

Result<Question> ReadQuestion(const JsonValue& qa) {
  Question q;
  ENGRAM_TRY_ASSIGN(q.text, qa.StringFieldOr("question", ""));
  if (qa.Has("category")) {
    ENGRAM_TRY_ASSIGN(const int64_t category, qa.IntField("category", 0, 1000));
    q.category = std::to_string(category);
  } else {
    q.category = "?";
  }
  if (qa.Has("evidence")) {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> evidence, qa.ArrayField("evidence"));
    for (const JsonValue& e : evidence) {
      ENGRAM_TRY_ASSIGN(const std::string ids, e.String());
      AddEvidenceIds(ids, &q.evidence);
    }
  }
  return q;
}

// The turns of one session ("session_3"), dated by "session_3_date_time".
Status ReadSession(const JsonValue& item, const std::string& key, Conversation* c) {
  ENGRAM_TRY_ASSIGN(const std::string date, item.StringField(key + "_date_time"));
  Result<int64_t> time = ParseLocomoDateTime(date);
  if (!time.ok()) return time.status().WithContext(item.Describe());
  c->last_session_ms = std::max(c->last_session_ms, *time);
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> turns, item.ArrayField(key));
  for (const JsonValue& turn : turns) {
    Turn t{.session = key, .time_ms = *time};
    ENGRAM_TRY_ASSIGN(t.dia_id, turn.StringFieldOr("dia_id", ""));
    ENGRAM_TRY_ASSIGN(const std::string speaker, turn.StringFieldOr("speaker", ""));
    ENGRAM_TRY_ASSIGN(const std::string text, turn.StringFieldOr("text", ""));
    t.text = speaker + ": " + text;
    c->turns.push_back(std::move(t));
  }
  return Status::OK();
}

Result<Conversation> ReadConversation(const JsonValue& item) {
  Conversation c;
  ENGRAM_TRY_ASSIGN(const JsonValue id, item.Field("sample_id"));
  if (id.raw().is_string()) {
    ENGRAM_TRY_ASSIGN(c.id, id.String());
  } else {
    ENGRAM_TRY_ASSIGN(const int64_t number, id.Int());
    c.id = std::to_string(number);
  }
  // Sessions in numeric order ("session_2" before "session_10").
  std::map<int, std::string> sessions;
  const std::regex session_key("session_(\\d{1,6})");
  ENGRAM_TRY_ASSIGN(const auto members, item.Members());
  for (const auto& [key, value] : members) {
    std::smatch m;
    if (std::regex_match(key, m, session_key) && value.IsArray()) {
      sessions[std::stoi(m[1])] = key;
    }
  }
  for (const auto& [number, key] : sessions) {
    if (Status s = ReadSession(item, key, &c); !s.ok()) return s;
  }
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> qas, item.ArrayField("qa"));
  for (const JsonValue& qa : qas) {
    ENGRAM_TRY_ASSIGN(Question q, ReadQuestion(qa));
    if (!q.evidence.empty() && !q.text.empty()) c.questions.push_back(std::move(q));
  }
  return c;
}

Result<std::vector<Conversation>> ReadLocomo(const std::string& path) {
  Result<nlohmann::json> data = ReadJsonFile(path, "LoCoMo file");
  if (!data.ok()) return data.status().WithContext("eval memory");
  const JsonValue root(*data, "LoCoMo file '" + path + "'");
  Result<std::vector<JsonValue>> items = root.Items();
  if (!items.ok()) return items.status().WithContext("eval memory (a list of conversations)");
  if (items->empty()) {
    return Status::InvalidArgument("eval memory: LoCoMo file '" + path +
                                   "' holds no conversations");
  }
  std::vector<Conversation> out;
  for (const JsonValue& item : *items) {
    Result<Conversation> c = ReadConversation(item);
    if (!c.ok()) return c.status().WithContext("eval memory");
    out.push_back(std::move(*c));
  }
  return out;
}

struct Mode {
  std::string name;
  memory::RecallOptions weights;
};

struct Tally {
  std::map<int, double> sum;  // k -> summed recall
  std::map<std::string, std::map<int, double>> by_category;
  std::map<std::string, int> category_count;
  int questions = 0;
};

json TallyJson(const Tally& t, const std::vector<int>& ks) {
  json out;
  for (int k : ks) out["recall@" + std::to_string(k)] = t.sum.at(k) / std::max(t.questions, 1);
  json by = json::object();
  for (const auto& [category, sums] : t.by_category) {
    json c;
    for (int k : ks) c["recall@" + std::to_string(k)] = sums.at(k) / t.category_count.at(category);
    c["questions"] = t.category_count.at(category);
    by[category] = c;
  }
  out["by_category"] = by;
  return out;
}

memory::RecallOptions Weights(double relevance, double bm25, double recency, double importance) {
  memory::RecallOptions o;
  o.relevance_weight = relevance;
  o.bm25_weight = bm25;
  o.recency_weight = recency;
  o.importance_weight = importance;
  return o;
}

}  // namespace

Result<int64_t> ParseLocomoDateTime(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%I:%M %p on %d %B, %Y", &tm);
  if (end == nullptr || *end != '\0') {
    return Status::InvalidArgument("eval memory: cannot read the date '" + text +
                                   "' (expected like '1:56 pm on 8 May, 2023')");
  }
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

Result<json> RunMemoryEval(const MemoryEvalOptions& options) {
  if (options.ks.empty() || *std::min_element(options.ks.begin(), options.ks.end()) < 1) {
    return Status::InvalidArgument("eval memory: --k needs positive values");
  }
  Result<std::vector<Conversation>> conversations = ReadLocomo(options.locomo_file);
  if (!conversations.ok()) return conversations.status();
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(options.precision);
  if (!precision.ok()) return precision.status();
  Result<std::unique_ptr<inference::BertEmbedder>> embedder = inference::BertEmbedder::OpenOrDefault(
      options.model, {.n_threads = options.threads, .precision = *precision});
  if (!embedder.ok()) return embedder.status();

  const ScratchDir scratch((options.work_dir.empty() ? fs::temp_directory_path()
                                                     : fs::path(options.work_dir)) /
                               ("engram-eval-memory-" + std::to_string(::getpid())),
                           /*keep=*/false);
  const fs::path& dir = scratch.path();
  memory::StoreOptions store_options;
  store_options.embedder = embedder->get();
  store_options.sync = options.sync;
  Result<std::unique_ptr<memory::EpisodicStore>> opened =
      memory::EpisodicStore::Open(dir.string(), store_options);
  if (!opened.ok()) return opened.status();
  memory::EpisodicStore& store = **opened;

  // Embed every turn first (batched), then append with the embeddings: the append latency is
  // the store's own.
  size_t turns = 0, questions = 0;
  for (const Conversation& c : *conversations) {
    turns += c.turns.size();
    questions += c.questions.size();
  }
  std::vector<double> append_ms;
  double embed_s = 0.0;
  {
    ProgressReporter progress("append", turns, {.unit = "turns"});
    for (const Conversation& c : *conversations) {
      std::vector<std::string> texts;
      for (const Turn& t : c.turns) texts.push_back(t.text);
      std::vector<float> vectors;
      const auto embed_start = Clock::now();
      for (size_t start = 0; start < texts.size(); start += 64) {
        const size_t n = std::min<size_t>(64, texts.size() - start);
        Result<retrieval::EmbeddingBatch> batch = (*embedder)->Embed(std::span(texts).subspan(start, n));
        if (!batch.ok()) return batch.status();
        vectors.insert(vectors.end(), batch->values.begin(), batch->values.end());
      }
      embed_s += Ms(embed_start) / 1e3;
      const size_t dim = static_cast<size_t>((*embedder)->Dim());
      for (size_t i = 0; i < c.turns.size(); ++i) {
        const Turn& t = c.turns[i];
        memory::Episode e;
        e.session = t.session;
        e.role = t.text.substr(0, t.text.find(':'));
        e.text = t.text;
        e.timestamp_ms = t.time_ms;
        e.metadata = {{"dia_id", t.dia_id}};
        e.embedding.assign(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
        const auto start = Clock::now();
        Result<uint64_t> id = store.Append(c.id, e);
        append_ms.push_back(Ms(start));
        if (!id.ok()) return id.status();
        progress.Add();
      }
    }
  }

  std::vector<Mode> modes = {{"combined", memory::RecallOptions{}},
                             {"bm25", Weights(0, 1, 0, 0)},
                             {"dense", Weights(1, 0, 0, 0)}};
  if (options.weight_sweep) {
    for (double bm25 : {0.25, 0.5, 1.0}) {
      for (double recency : {0.0, 0.05, 0.1, 0.2}) {
        char name[64];
        std::snprintf(name, sizeof name, "sweep bm25 %.2f recency %.2f", bm25, recency);
        modes.push_back({name, Weights(1, bm25, recency, 0.1)});
      }
    }
  }
  const int max_k = *std::max_element(options.ks.begin(), options.ks.end());
  std::vector<Tally> tallies(modes.size());
  std::vector<double> recall_ms;
  ProgressReporter progress("recall", questions * modes.size(), {.unit = "queries"});
  for (const Conversation& c : *conversations) {
    for (const Question& q : c.questions) {
      for (size_t m = 0; m < modes.size(); ++m) {
        memory::RecallOptions o = modes[m].weights;
        o.k = max_k;
        o.now_ms = c.last_session_ms;
        const auto start = Clock::now();
        Result<std::vector<memory::RecalledEpisode>> hits = store.Recall(c.id, q.text, o);
        if (m == 0) recall_ms.push_back(Ms(start));
        if (!hits.ok()) return hits.status();
        Tally& t = tallies[m];
        t.questions += 1;
        t.category_count[q.category] += 1;
        for (int k : options.ks) {
          std::set<std::string> found;
          for (size_t i = 0; i < hits->size() && i < static_cast<size_t>(k); ++i) {
            auto it = (*hits)[i].episode.metadata.find("dia_id");
            if (it != (*hits)[i].episode.metadata.end()) found.insert(it->second);
          }
          int matched = 0;
          for (const std::string& e : q.evidence) matched += found.count(e) ? 1 : 0;
          const double recall = static_cast<double>(matched) / static_cast<double>(q.evidence.size());
          t.sum[k] += recall;
          t.by_category[q.category][k] += recall;
        }
        progress.Add();
      }
    }
  }
  progress.Finish();

  json out;
  for (size_t m = 0; m < 3; ++m) out[modes[m].name] = TallyJson(tallies[m], options.ks);
  if (options.weight_sweep) {
    json sweep = json::object();
    for (size_t m = 3; m < modes.size(); ++m) {
      json row;
      for (int k : options.ks) {
        row["recall@" + std::to_string(k)] = tallies[m].sum[k] / std::max(tallies[m].questions, 1);
      }
      sweep[modes[m].name] = row;
    }
    out["weight_sweep"] = sweep;
  }
  out["append_ms_p50"] = Percentile(append_ms, 0.5);
  out["append_ms_p99"] = Percentile(append_ms, 0.99);
  out["recall_ms_p50"] = Percentile(recall_ms, 0.5);
  out["recall_ms_p99"] = Percentile(recall_ms, 0.99);
  out["embed_s"] = embed_s;
  out["questions"] = questions;
  out["episodes"] = turns;
  out["namespaces"] = conversations->size();
  const memory::RecallOptions defaults;
  out["config"] = {
      {"embedder", std::string((*embedder)->Name())},
      {"precision", std::string(inference::EmbedPrecisionName((*embedder)->precision()))},
      {"sync", options.sync},
      {"episode_text", "<speaker>: <text>"},
      {"combined", {{"relevance", defaults.relevance_weight},
                    {"bm25", defaults.bm25_weight},
                    {"recency", defaults.recency_weight},
                    {"importance", defaults.importance_weight},
                    {"half_life_hours", defaults.half_life_hours}}},
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
  std::snprintf(line, sizeof line, "append p50 %.2f ms, recall p50 %.2f ms / p99 %.2f ms\n",
                r["append_ms_p50"].get<double>(), r["recall_ms_p50"].get<double>(),
                r["recall_ms_p99"].get<double>());
  out += line;
  return out;
}

}  // namespace engram::bench
