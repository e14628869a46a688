#include "bench/compress_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <memory>
#include <random>
#include <sstream>

#include "bench/eval_data.h"
#include "bench/qa_metrics.h"
#include "bench/stats.h"
#include "common/build_info.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "common/machine_info.h"
#include "compress/token_scorer.h"
#include "inference/bert_embedder.h"
#include "inference/engine.h"
#include "retrieval/chunker.h"

namespace engram::bench {
namespace {

constexpr std::string_view kWhat = "eval compress";
constexpr int kRetrievalChunkTokens = 200;
constexpr std::string_view kAnswerInstruction =
    "Answer the question using only the context. Keep the answer short.";

struct Case {
  std::string id, dataset, question;
  std::vector<std::string> documents, answers;
};

// What every method runs on.
struct Tools {
  std::unique_ptr<inference::Engine> engine;
  std::unique_ptr<inference::BertEmbedder> embedder;
  std::unique_ptr<compress::TokenScorer> scorer;
  std::unique_ptr<inference::LlamaContext> answer_ctx;
  std::function<int(std::string_view)> count;
};

// A compressed context and what it cost.
struct Outcome {
  std::string text;
  double latency_ms = 0;
  int64_t tokens_in = 0, tokens_out = 0;
};

// The questions of document `d` in a fixed pseudo-random order, so a limit picks questions from
// anywhere in the document (SQuAD's come in paragraph order: the first ones would all favour
// truncation).
std::vector<size_t> QuestionOrder(size_t d, size_t count) {
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(0x5eed + d);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

bool InSplit(size_t index, const std::string& split) {
  return split == "all" || (split == "even") == (index % 2 == 0);
}

Result<std::vector<Case>> SquadCases(const CompressEvalOptions& o) {
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> articles, ReadSquad(o.squad_file, kWhat));
  std::vector<std::vector<std::string>> documents;
  std::vector<std::vector<SquadQuestion>> questions;
  for (size_t a = 0; a < articles.size(); ++a) {
    if (!InSplit(a, o.split)) continue;
    documents.emplace_back();
    questions.emplace_back();
    for (const SquadParagraph& p : articles[a].paragraphs) {
      documents.back().push_back(p.context);
      for (const SquadQuestion& q : p.qas) {
        if (!q.answers.empty()) questions.back().push_back(q);
      }
    }
  }
  std::vector<size_t> counts;
  for (const auto& q : questions) counts.push_back(q.size());
  std::vector<Case> cases;
  for (const auto& [d, round] : SpreadQuestions(counts, o.limit)) {
    const size_t q = QuestionOrder(d, counts[d])[round];
    const SquadQuestion& s = questions[d][q];
    cases.push_back({s.id.empty() ? "squad-" + std::to_string(d) + "-" + std::to_string(q) : s.id,
                     "squad", s.question, documents[d], s.answers});
  }
  return cases;
}

Result<std::vector<Case>> NqCases(const CompressEvalOptions& o, const Tools& tools) {
  ENGRAM_TRY_ASSIGN(const std::vector<LevalDocument> pages, ReadLevalFile(o.nq_file, kWhat));
  std::vector<size_t> counts, kept;
  for (size_t d = 0; d < pages.size(); ++d) {
    if (!InSplit(d, o.split)) continue;
    kept.push_back(d);
    counts.push_back(pages[d].instructions.size());
  }
  std::map<size_t, std::vector<std::string>> chunked;  // page -> its chunks
  std::vector<Case> cases;
  for (const auto& [k, round] : SpreadQuestions(counts, o.limit)) {
    const size_t q = QuestionOrder(kept[k], counts[k])[round];
    const LevalDocument& page = pages[kept[k]];
    std::vector<std::string>& chunks = chunked[kept[k]];
    if (chunks.empty()) {
      ENGRAM_TRY_ASSIGN(const std::vector<retrieval::TextChunk> spans,
                        retrieval::ChunkText(page.input,
                                             {.max_tokens = o.nq_chunk_tokens, .overlap_tokens = 0},
                                             tools.count));
      for (const retrieval::TextChunk& c : spans) {
        chunks.push_back(page.input.substr(c.begin, c.end - c.begin));
      }
    }
    cases.push_back({"nq-" + std::to_string(kept[k]) + "-" + std::to_string(q), "nq",
                     page.instructions[q], chunks, {page.outputs[q]}});
  }
  return cases;
}

Status DumpCases(const std::string& path, const std::vector<Case>& cases) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::InvalidArgument("eval compress: cannot write --dump-cases '" + path + "'");
  for (const Case& c : cases) {
    const nlohmann::json line = {{"id", c.id},           {"dataset", c.dataset},
                                 {"question", c.question}, {"documents", c.documents},
                                 {"answers", c.answers}};
    out << JsonText(line) << "\n";
  }
  out.close();
  if (!out) return Status::IOError("eval compress: writing '" + path + "' failed");
  return Status::OK();
}

int64_t Budget(int64_t tokens_in, double ratio) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(tokens_in / ratio)));
}

// Random sentences, seeded by the case and ratio, kept in their original order.
std::string RandomSentences(const Case& c, int64_t budget, double ratio, const Tools& tools) {
  struct Unit {
    size_t document;
    retrieval::TextSpan span;
  };
  std::vector<Unit> units;
  for (size_t d = 0; d < c.documents.size(); ++d) {
    for (const retrieval::TextSpan& s : retrieval::SplitSentences(c.documents[d])) units.push_back({d, s});
  }
  std::vector<size_t> order(units.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(std::hash<std::string>{}(c.id) ^ static_cast<uint64_t>(ratio * 1000));
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> keep(units.size(), false);
  int64_t used = 0;
  for (size_t i : order) {
    const Unit& u = units[i];
    const int t = tools.count(std::string_view(c.documents[u.document]).substr(u.span.begin, u.span.end - u.span.begin));
    if (used + t > budget) continue;
    keep[i] = true;
    used += t;
  }
  std::string text;
  for (size_t i = 0; i < units.size(); ++i) {
    if (!keep[i]) continue;
    if (!text.empty()) text += i > 0 && units[i - 1].document == units[i].document ? " " : "\n\n";
    text += c.documents[units[i].document].substr(units[i].span.begin, units[i].span.end - units[i].span.begin);
  }
  return text;
}

// The first `budget` tokens of `text`.
std::string FirstTokens(std::string_view text, int64_t budget, const inference::Tokenizer& tok) {
  std::vector<int32_t> tokens = tok.Encode(text);
  if (static_cast<int64_t>(tokens.size()) <= budget) return std::string(text);
  tokens.resize(static_cast<size_t>(budget));
  return tok.Decode(tokens);
}

std::string Joined(const Case& c) {
  std::string all;
  for (const std::string& d : c.documents) all += (all.empty() ? "" : "\n\n") + d;
  return all;
}

Result<Outcome> RunMethod(const std::string& method, const Case& c, double ratio, Tools& tools,
                          const CompressEvalOptions& o) {
  Outcome out;
  for (const std::string& d : c.documents) out.tokens_in += tools.count(d);
  const int64_t budget = Budget(out.tokens_in, ratio);
  const auto start = std::chrono::steady_clock::now();
  if (method == "engram" || method == "engram-fine" || method == "retrieval-only") {
    compress::CompressOptions options = o.compress;
    options.ratio = ratio;
    compress::CompressModels models{tools.count, nullptr, nullptr};
    if (method == "retrieval-only" || o.dense) models.embedder = tools.embedder.get();
    if (method == "retrieval-only") {
      options.coarse.chunk_tokens = kRetrievalChunkTokens;
      options.coarse.document_weight = 0;
    } else if (method == "engram-fine") {
      models.scorer = tools.scorer.get();
    }
    ENGRAM_TRY_ASSIGN(compress::Compressed r, compress::Compress(c.question, c.documents, options, models));
    out.text = std::move(r.text);
  } else if (method == "random") {
    out.text = RandomSentences(c, budget, ratio, tools);
  } else {
    out.text = FirstTokens(Joined(c), budget, tools.engine->tokenizer());
  }
  out.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out.tokens_out = out.text.empty() ? 0 : tools.count(out.text);
  return out;
}

// The generator's answer from the context (cut to the model's window when needed), scored.
Result<double> AnswerF1(const Case& c, const std::string& context, Tools& tools,
                        const CompressEvalOptions& o) {
  const inference::Engine& engine = *tools.engine;
  auto prompt_for = [&](const std::string& text) {
    const std::vector<inference::ChatMessage> messages = {
        {"system", std::string(kAnswerInstruction)},
        {"user", "Context:\n" + text + "\n\nQuestion: " + c.question}};
    return engine.EncodeChat(messages);
  };
  std::vector<int32_t> prompt = prompt_for(context);
  const int64_t room = tools.answer_ctx->n_ctx() - o.max_answer_tokens;
  if (static_cast<int64_t>(prompt.size()) > room) {
    const int64_t overhead = static_cast<int64_t>(prompt_for("").size());
    prompt = prompt_for(FirstTokens(context, std::max<int64_t>(room - overhead - 8, 1), engine.tokenizer()));
  }
  inference::GenerateOptions generation;
  generation.max_tokens = o.max_answer_tokens;
  generation.sampler.temperature = 0;
  std::string answer;
  tools.answer_ctx->Rewind(0);
  Result<inference::GenerateStats> g = engine.Generate(*tools.answer_ctx, prompt, generation,
                                                       [&](std::string_view piece) {
                                                         answer += piece;
                                                         return true;
                                                       });
  if (!g.ok()) return g.status();
  return MaxSquadF1(answer, c.answers);
}

// Per-method figures over the cases.
struct Tally {
  std::vector<double> survival, f1, latency, tokens_in, tokens_out;
  nlohmann::ordered_json Summary(bool with_f1) const {
    auto mean = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += x;
      return v.empty() ? 0.0 : s / static_cast<double>(v.size());
    };
    nlohmann::ordered_json j = {{"answer_survival", mean(survival)}};
    j["f1"] = with_f1 ? nlohmann::ordered_json(mean(f1)) : nlohmann::ordered_json(nullptr);
    j["latency_ms_p50"] = Percentile(latency, 0.5);
    j["latency_ms_p99"] = Percentile(latency, 0.99);
    j["tokens_in"] = mean(tokens_in);
    j["tokens_out"] = mean(tokens_out);
    j["cases"] = survival.size();
    return j;
  }
};

Status Score(const Case& c, const Outcome& outcome, Tools& tools, const CompressEvalOptions& o,
             Tally& tally) {
  tally.survival.push_back(MaxSquadContains(outcome.text, c.answers));
  tally.latency.push_back(outcome.latency_ms);
  tally.tokens_in.push_back(static_cast<double>(outcome.tokens_in));
  tally.tokens_out.push_back(static_cast<double>(outcome.tokens_out));
  if (!o.f1) return Status::OK();
  ENGRAM_TRY_ASSIGN(const double f1, AnswerF1(c, outcome.text, tools, o));
  tally.f1.push_back(f1);
  return Status::OK();
}

std::string RatioKey(double ratio) {
  std::ostringstream s;
  s << ratio;
  return s.str();
}

// The peer's lines: (method, ratio key) -> case id -> outcome.
using PeerOutcomes = std::map<std::pair<std::string, std::string>, std::map<std::string, Outcome>>;

Result<PeerOutcomes> ReadPeer(const std::string& path, const Tools& tools) {
  ENGRAM_TRY_ASSIGN(const std::string text, ReadTextFile(path, kWhat));
  std::istringstream in(text);
  PeerOutcomes peer;
  size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = "eval compress: --peer '" + path + "' line " + std::to_string(line_no);
    ENGRAM_TRY_ASSIGN(const nlohmann::json j, ParseJsonText(line, where));
    const JsonValue v(j, where);
    Outcome out;
    ENGRAM_TRY_ASSIGN(const std::string id, v.StringField("id"));
    ENGRAM_TRY_ASSIGN(const std::string method, v.StringField("method"));
    ENGRAM_TRY_ASSIGN(const double r, v.NumberField("ratio"));
    ENGRAM_TRY_ASSIGN(out.text, v.StringField("compressed"));
    ENGRAM_TRY_ASSIGN(out.latency_ms, v.NumberField("latency_ms"));
    out.tokens_out = out.text.empty() ? 0 : tools.count(out.text);
    peer[{method, RatioKey(r)}][id] = std::move(out);
  }
  return peer;
}

Result<Tools> LoadTools(const CompressEvalOptions& o) {
  Tools tools;
  inference::EngineOptions engine_options;
  engine_options.model = o.model;
  engine_options.context.n_ctx = o.ctx;
  engine_options.context.n_threads = o.threads;
  ENGRAM_TRY_ASSIGN(tools.engine, inference::Engine::Load(engine_options));
  ENGRAM_TRY_ASSIGN(tools.embedder, inference::BertEmbedder::OpenOrDefault("", {.n_threads = o.threads}));
  ENGRAM_TRY_ASSIGN(tools.scorer, compress::TokenScorer::Create(*tools.engine));
  if (o.f1) {
    ENGRAM_TRY_ASSIGN(tools.answer_ctx, tools.engine->NewContext());
  }
  const inference::Engine* engine = tools.engine.get();
  tools.count = [engine](std::string_view s) {
    return static_cast<int>(engine->tokenizer().Encode(s).size());
  };
  return tools;
}

}  // namespace

Status ValidateCompressEvalOptions(const CompressEvalOptions& o) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("eval compress: " + what); };
  if (o.squad_file.empty() && o.nq_file.empty()) return bad("give --squad FILE and/or --nq FILE");
  if (o.ratios.empty()) return bad("--ratios: give at least one ratio");
  for (double r : o.ratios) {
    if (Status s = compress::ValidateRatioOrBudget(r, 0); !s.ok()) return s;
  }
  for (const std::string& m : o.methods) {
    if (m != "engram" && m != "engram-fine" && m != "random" && m != "first" &&
        m != "retrieval-only") {
      return bad("--methods: unknown method '" + m +
                 "'; use engram, engram-fine, random, first, retrieval-only");
    }
  }
  if (o.split != "all" && o.split != "even" && o.split != "odd") return bad("--split: all, even or odd");
  if (o.limit < 0) return bad("--limit must be >= 0");
  if (o.nq_chunk_tokens < 16) return bad("--nq-chunk-tokens must be >= 16");
  compress::CompressOptions c = o.compress;
  c.ratio = 2;
  return compress::ValidateCompressOptions(c);
}

Result<nlohmann::ordered_json> RunCompressEval(const CompressEvalOptions& o) {
  if (Status s = ValidateCompressEvalOptions(o); !s.ok()) return s;
  ENGRAM_TRY_ASSIGN(Tools tools, LoadTools(o));
  std::vector<Case> cases;
  if (!o.squad_file.empty()) {
    ENGRAM_TRY_ASSIGN(cases, SquadCases(o));
  }
  size_t squad_cases = cases.size();
  if (!o.nq_file.empty()) {
    ENGRAM_TRY_ASSIGN(std::vector<Case> nq, NqCases(o, tools));
    cases.insert(cases.end(), nq.begin(), nq.end());
  }
  if (cases.empty()) return Status::InvalidArgument("eval compress: no question with an answer in the data");
  if (!o.dump_cases.empty()) {
    if (Status s = DumpCases(o.dump_cases, cases); !s.ok()) return s;
  }
  PeerOutcomes peer;
  if (!o.peer_file.empty()) {
    ENGRAM_TRY_ASSIGN(peer, ReadPeer(o.peer_file, tools));
  }
  nlohmann::ordered_json ratios = nlohmann::ordered_json::object();
  for (double ratio : o.ratios) {
    nlohmann::ordered_json& at = ratios[RatioKey(ratio)];
    for (const std::string& method : o.methods) {
      Tally tally;
      for (const Case& c : cases) {
        ENGRAM_TRY_ASSIGN(const Outcome outcome, RunMethod(method, c, ratio, tools, o));
        if (Status s = Score(c, outcome, tools, o, tally); !s.ok()) return s;
      }
      at[method] = tally.Summary(o.f1);
      std::fprintf(stderr, "eval compress: ratio %g %s done\n", ratio, method.c_str());
    }
    for (auto& [key, outcomes] : peer) {
      if (key.second != RatioKey(ratio)) continue;
      Tally tally;
      for (const Case& c : cases) {
        auto it = outcomes.find(c.id);
        if (it == outcomes.end()) continue;
        Outcome outcome = it->second;
        for (const std::string& d : c.documents) outcome.tokens_in += tools.count(d);
        if (Status s = Score(c, outcome, tools, o, tally); !s.ok()) return s;
      }
      at[key.first] = tally.Summary(o.f1);
    }
  }
  nlohmann::ordered_json out;
  out["eval"] = "compress";
  out["model"] = tools.engine->model_path();
  out["cases"] = {{"squad", squad_cases}, {"nq", cases.size() - squad_cases}};
  out["ratios"] = std::move(ratios);
  out["options"] = {{"limit_per_dataset", o.limit}, {"split", o.split}, {"f1", o.f1},
                    {"dense", o.dense},
                    {"fine_share", o.compress.fine_share},
                    {"fine_scope", o.compress.fine_scope},
                    {"contrast_weight", o.compress.contrast_weight},
                    {"dense_weight", o.compress.coarse.dense_weight},
                    {"document_weight", o.compress.coarse.document_weight},
                    {"nq_chunk_tokens", o.nq_chunk_tokens}, {"threads", o.threads}};
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatCompressEval(const nlohmann::ordered_json& r) {
  std::string out = "ratio  method            survival  f1      p50 ms    p99 ms    tokens in -> out\n";
  char line[256];
  for (const auto& [ratio, methods] : r["ratios"].items()) {
    for (const auto& [method, m] : methods.items()) {
      const std::string f1 = m["f1"].is_null() ? "-" : std::to_string(m["f1"].get<double>()).substr(0, 5);
      std::snprintf(line, sizeof line, "%-6s %-17s %-9.3f %-7s %-9.1f %-9.1f %.0f -> %.0f\n",
                    ratio.c_str(), method.c_str(), m["answer_survival"].get<double>(), f1.c_str(),
                    m["latency_ms_p50"].get<double>(), m["latency_ms_p99"].get<double>(),
                    m["tokens_in"].get<double>(), m["tokens_out"].get<double>());
      out += line;
    }
  }
  out += "commit " + r["commit"].get<std::string>() + "\n";
  return out;
}

}  // namespace engram::bench
