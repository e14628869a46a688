#include "bench/eval_data.h"
#include "bench/attention_eval.h"
#include "bench/synthetic_kv.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>

#include <unistd.h>

#include "common/build_info.h"
#include "common/default_models.h"
#include "common/machine_info.h"
#include "common/paths.h"
#include "compress/kv_retention.h"
#include "inference/device_plan.h"
#include "inference/engine.h"
#include "inference/llama_context.h"
#include "inference/tokenizer.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using inference::AttentionKind;
using inference::AttentionOptions;
using inference::LlamaContext;
using inference::SequenceId;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A policy of the eval: a decode attention policy, or a KV retention policy (then decode
// attends what it keeps and the attention options stay full).
struct EvalPolicy {
  AttentionOptions attention;
  std::optional<compress::KvRetentionOptions> retention = std::nullopt;

  bool full() const { return !retention && attention.kind == AttentionKind::kFull; }
  double budget() const { return full() ? 1.0 : attention.budget; }
  void set_budget(double b) {
    attention.budget = b;
    if (retention) retention->budget = b;
  }
};

Result<EvalPolicy> ParsePolicy(const std::string& spec, int sinks, int window,
                               double candidate_factor = 3.0) {
  EvalPolicy p;
  p.attention.sinks = sinks;
  p.attention.window = window;
  p.attention.candidate_factor = candidate_factor;
  const std::string kind = spec.substr(0, spec.find(':'));
  if (Result<compress::RetentionKind> k = compress::ParseRetentionKind(kind); k.ok()) {
    if (kind != spec) {
      return Status::InvalidArgument("eval attention: policy '" + spec +
                                     "': only retrieval takes an index (retrieval:aware)");
    }
    p.retention = compress::KvRetentionOptions{.kind = *k, .sinks = sinks, .window = window};
    return p;
  }
  if (!inference::ParseAttentionKind(kind).ok()) {
    return Status::InvalidArgument("eval attention: policy '" + spec +
                                   "' is unknown; use full, window, quest, retrieval, snapkv or "
                                   "h2o");
  }
  Result<AttentionOptions> a = inference::ParseAttentionPolicy(spec, p.attention);
  if (!a.ok()) return a.status();
  p.attention = *a;
  return p;
}

// Options out of range: kInvalidArgument.
Status ValidatePolicy(const EvalPolicy& p) {
  if (Status s = ValidateAttentionOptions(p.attention); !s.ok()) return s;
  return p.retention ? compress::ValidateKvRetentionOptions(*p.retention) : Status::OK();
}

// Makes `p` the context's decode policy.
Status Apply(LlamaContext& ctx, const EvalPolicy& p) {
  if (Status s = ctx.SetAttention(p.attention); !s.ok()) return s;
  if (!p.retention) {
    ctx.SetRetention(nullptr);
    return Status::OK();
  }
  Result<std::unique_ptr<inference::KvRetention>> made = compress::MakeKvRetention(*p.retention);
  if (!made.ok()) return made.status();
  ctx.SetRetention(std::move(*made));
  return Status::OK();
}

std::string PolicyName(const EvalPolicy& p) {
  return std::string(p.retention ? compress::RetentionKindName(p.retention->kind)
                                 : AttentionKindName(p.attention.kind));
}
std::string IndexName(const EvalPolicy& p) {
  return !p.retention && p.attention.kind == AttentionKind::kRetrieval
             ? std::string(KeyIndexKindName(p.attention.index))
             : "";
}
std::string Describe(const EvalPolicy& p) {
  return p.retention ? (*compress::MakeKvRetention(*p.retention))->Describe()
                     : DescribeAttention(p.attention);
}

Result<std::string> Essays() {
  Result<fs::path> dir = RequireSharedData("haystack/pg_essays");
  if (!dir.ok()) return dir.status();
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(*dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const fs::path& f : files) {
    Result<std::string> t = ReadTextFile(f.string(), "eval attention");
    if (!t.ok()) return t.status();
    text += *t;
  }
  return text;
}

// The longest L-Eval Natural Questions page (140k characters, ~33k tokens): a long Wikipedia
// article, long enough for a 32k context.
Result<std::string> LevalPage() {
  Result<fs::path> file = RequireSharedData("leval/natural_question.shared.jsonl");
  if (!file.ok()) return file.status();
  ENGRAM_TRY_ASSIGN(std::vector<std::string> pages,
                    ReadJsonlInputs(file->string(), "eval attention", 0));
  if (pages.empty()) {
    return Status::InvalidArgument("eval attention: '" + file->string() + "' holds no page");
  }
  return std::move(*std::max_element(pages.begin(), pages.end(), [](const auto& a, const auto& b) {
    return a.size() < b.size();
  }));
}

struct Setup {
  std::unique_ptr<inference::Engine> engine;
  std::shared_ptr<const inference::LlamaModel> model;
  const inference::Tokenizer* tokenizer = nullptr;
  std::string model_path;
};

Result<Setup> LoadModel(const std::string& model_path) {
  Setup s;
  inference::EngineOptions options;
  options.model = model_path;
  ENGRAM_TRY_ASSIGN(s.engine, inference::Engine::Load(options));
  s.model = s.engine->model();
  s.tokenizer = &s.engine->tokenizer();
  s.model_path = s.engine->model_path();
  return s;
}

int32_t ArgMax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// KL(p || q) of the softmaxes of two logit rows, in nats.
double KlDivergence(std::span<const float> p_logits, std::span<const float> q_logits) {
  auto log_sum_exp = [](std::span<const float> x) {
    const double m = *std::max_element(x.begin(), x.end());
    double s = 0.0;
    for (float v : x) s += std::exp(v - m);
    return m + std::log(s);
  };
  const double lp = log_sum_exp(p_logits), lq = log_sum_exp(q_logits);
  double kl = 0.0;
  for (size_t i = 0; i < p_logits.size(); ++i) {
    const double log_p = p_logits[i] - lp;
    kl += std::exp(log_p) * (log_p - (q_logits[i] - lq));
  }
  return std::max(0.0, kl);
}

// One teacher-forced run of a policy from `base`: figures against full attention's logits
// (`full_logits`, steps × vocab), or, for full attention itself, those logits.
struct RunFigures {
  double top1 = 0, kl = 0, mass = 1, err = 0;
  double attention_ms = 0, decode_ms = 0, keys = 0;
  double policy_attention_ms = 0, policy_keys = 0;  // layers the policy governs
  double build_ms = 0;
  double index_bytes = 0;
  double kv_bytes = 0, kv_bytes_kept = 0;  // at the end of the run
  std::vector<double> layer_mass;
};

// Layers the attention policy governs (all but sliding-window layers).
double PolicyLayers(const inference::LlamaModel& model) {
  double layers = 0;
  for (const inference::LlamaLayerWeights& l : model.layers()) layers += l.sliding ? 0 : 1;
  return layers;
}

Result<RunFigures> RunPolicy(LlamaContext& ctx, SequenceId base, const EvalPolicy& a,
                             std::span<const int32_t> continuation,
                             std::vector<float>* full_logits) {
  const bool full = a.full();
  const size_t vocab = static_cast<size_t>(ctx.model().config().n_vocab);
  Result<SequenceId> fork = ctx.Fork();
  if (!fork.ok()) return fork.status();
  if (Status s = ctx.Switch(*fork); !s.ok()) return s;
  if (Status s = Apply(ctx, a); !s.ok()) return s;
  RunFigures f;
  const auto build_start = Clock::now();
  ctx.PrepareAttention();
  f.build_ms = Seconds(build_start) * 1000.0;
  ctx.ResetDecodeStats();
  inference::AttentionComparison comparison;
  if (!full) ctx.CompareAttention(&comparison);
  if (full) full_logits->resize(continuation.size() * vocab);
  int agree = 0;
  double kl = 0.0;
  for (size_t i = 0; i < continuation.size(); ++i) {
    if (Status s = ctx.Eval(continuation.subspan(i, 1)); !s.ok()) return s;
    std::span<const float> logits = ctx.logits();
    std::span<const float> reference(full_logits->data() + i * vocab, vocab);
    if (full) {
      std::copy(logits.begin(), logits.end(), full_logits->begin() + i * vocab);
      continue;
    }
    agree += ArgMax(logits) == ArgMax(reference);
    kl += KlDivergence(reference, logits);
  }
  ctx.CompareAttention(nullptr);
  const inference::DecodeStats stats = ctx.decode_stats();
  const auto steps = static_cast<double>(continuation.size());
  const auto& c = ctx.model().config();
  f.top1 = full ? 1.0 : agree / steps;
  f.kl = full ? 0.0 : kl / steps;
  if (!full && comparison.count > 0) {
    f.mass = comparison.mass_recall_sum / comparison.count;
    f.err = comparison.output_rel_err_sum / comparison.count;
    const double per_layer = static_cast<double>(comparison.count) /
                             static_cast<double>(comparison.layer_mass_recall_sum.size());
    for (double m : comparison.layer_mass_recall_sum) f.layer_mass.push_back(m / per_layer);
  }
  f.attention_ms = stats.attention_seconds * 1000.0 / steps;
  f.decode_ms = stats.seconds * 1000.0 / steps;
  f.keys = stats.keys_attended / (steps * c.n_layer * c.n_kv_head);
  f.policy_attention_ms = stats.policy_attention_seconds * 1000.0 / steps;
  f.policy_keys = stats.policy_keys_attended / (steps * PolicyLayers(ctx.model()) * c.n_kv_head);
  f.index_bytes = static_cast<double>(stats.index_bytes);
  f.kv_bytes = static_cast<double>(stats.kv_bytes);
  f.kv_bytes_kept = static_cast<double>(stats.kv_bytes_kept);
  if (Status s = ctx.Switch(base); !s.ok()) return s;
  if (Status s = ctx.Free(*fork); !s.ok()) return s;
  return f;
}

// The policies × budgets of a run; full attention once, with budget 1.
std::vector<std::pair<EvalPolicy, double>> Configs(const std::vector<EvalPolicy>& policies,
                                                   const std::vector<double>& budgets) {
  std::vector<std::pair<EvalPolicy, double>> out;
  for (const EvalPolicy& p : policies) {
    if (p.full()) {
      out.push_back({p, 1.0});
      continue;
    }
    for (double b : budgets) {
      EvalPolicy a = p;
      a.set_budget(b);
      out.push_back({a, b});
    }
  }
  return out;
}

std::string ConfigKey(const EvalPolicy& a, double budget) {
  return PolicyName(a) + "/" + IndexName(a) + "/" + std::to_string(budget);
}

AttentionOptions SamplingAttention(int sinks, int window) {
  // Prefills run under the attention-aware policy so the context keeps the prefill queries its
  // index (and the retention policies) learn from; prefill itself is full attention under every
  // policy.
  AttentionOptions a;
  a.kind = AttentionKind::kRetrieval;
  a.sinks = sinks;
  a.window = window;
  return a;
}

// Needle: accuracy per config over the depths, at one context length.
Result<std::map<std::string, double>> RunNeedle(
    const Setup& setup, const AttentionEvalOptions& o,
    const std::vector<std::pair<EvalPolicy, double>>& configs,
    const std::vector<int32_t>& haystack, int64_t ctx_len) {
  const inference::Tokenizer& tok = *setup.tokenizer;
  const std::vector<int32_t> question =
      tok.Encode("\n\nWhat is the special magic pass key? The special magic pass key is");
  constexpr int kAnswerTokens = 10;
  Result<std::unique_ptr<LlamaContext>> made = LlamaContext::Create(
      setup.model, {.n_ctx = ctx_len, .n_threads = o.threads, .kv_pool_positions = 3 * ctx_len,
                    .attention = SamplingAttention(o.sinks, o.window)});
  if (!made.ok()) return made.status();
  LlamaContext& ctx = **made;
  const SequenceId base = ctx.sequence();
  std::map<std::string, double> correct;
  std::mt19937 rng(static_cast<uint32_t>(ctx_len));
  int64_t done = 0;  // haystack tokens in `base`
  for (int d = 0; d < o.depths; ++d) {
    const std::string key = std::to_string(1000000 + rng() % 9000000);
    const std::vector<int32_t> needle = tok.Encode(
        " The special magic pass key is " + key + ". Remember it. The special magic pass key is " +
        key + ".");
    const int64_t room = ctx_len - static_cast<int64_t>(needle.size() + question.size()) -
                         kAnswerTokens;
    if (room <= 0 || static_cast<int64_t>(haystack.size()) < room) {
      return Status::InvalidArgument("eval attention: context " + std::to_string(ctx_len) +
                                     " is too short or the text too small for the needle test");
    }
    const double depth = o.depths == 1 ? 0.5 : static_cast<double>(d) / (o.depths - 1);
    const auto at = std::max<int64_t>(done, static_cast<int64_t>(depth * room));
    // The haystack before the needle is shared by every depth: extend it, then fork.
    if (Status s = Apply(ctx, {.attention = SamplingAttention(o.sinks, o.window)}); !s.ok()) {
      return s;
    }
    if (at > done) {
      if (Status s = ctx.Eval(std::span(haystack).subspan(done, at - done)); !s.ok()) return s;
      done = at;
    }
    Result<SequenceId> with_needle = ctx.Fork();
    if (!with_needle.ok()) return with_needle.status();
    if (Status s = ctx.Switch(*with_needle); !s.ok()) return s;
    std::vector<int32_t> rest = needle;
    rest.insert(rest.end(), haystack.begin() + at, haystack.begin() + room);
    rest.insert(rest.end(), question.begin(), question.end() - 1);
    if (Status s = ctx.Eval(rest); !s.ok()) return s;
    const SequenceId prompt = ctx.sequence();
    const int64_t prompt_length = ctx.position();
    // Configs differing only in budget share one fork, so their key indexes are built once:
    // after each answer the fork rewinds to the prompt, which keeps indexes that hold no key
    // past it.
    SequenceId run = -1;
    std::string run_policy;
    for (const auto& [a, budget] : configs) {
      const std::string policy = PolicyName(a) + ":" + IndexName(a);
      if (policy != run_policy) {
        if (run >= 0) {
          if (Status s = ctx.Switch(prompt); !s.ok()) return s;
          if (Status s = ctx.Free(run); !s.ok()) return s;
        }
        Result<SequenceId> fork = ctx.Fork();
        if (!fork.ok()) return fork.status();
        run = *fork;
        run_policy = policy;
        if (Status s = ctx.Switch(run); !s.ok()) return s;
      }
      ctx.Rewind(prompt_length);
      if (Status s = Apply(ctx, a); !s.ok()) return s;
      // The question's last token is the first step under the policy.
      std::vector<int32_t> answer;
      int32_t next = question.back();
      for (int i = 0; i < kAnswerTokens; ++i) {
        if (Status s = ctx.Eval({&next, 1}); !s.ok()) return s;
        next = ArgMax(ctx.logits());
        answer.push_back(next);
      }
      const std::string text = tok.Decode(answer);
      correct[ConfigKey(a, budget)] += text.find(key) != std::string::npos ? 1.0 : 0.0;
    }
    if (run >= 0) {
      if (Status s = ctx.Switch(prompt); !s.ok()) return s;
      if (Status s = ctx.Free(run); !s.ok()) return s;
    }
    if (Status s = ctx.Switch(base); !s.ok()) return s;
    if (Status s = ctx.Free(*with_needle); !s.ok()) return s;
  }
  for (auto& [k, v] : correct) v /= o.depths;
  return correct;
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

Result<nlohmann::ordered_json> RunAttentionEval(const AttentionEvalOptions& o) {
  if (o.contexts.empty() || o.policies.empty()) {
    return Status::InvalidArgument("eval attention: give at least one --ctx and one --policies");
  }
  if (o.steps <= 0 || o.depths < 0) {
    return Status::InvalidArgument("eval attention: --steps must be > 0 and --depths >= 0");
  }
  std::vector<EvalPolicy> policies;
  for (const std::string& spec : o.policies) {
    Result<EvalPolicy> a = ParsePolicy(spec, o.sinks, o.window, o.candidate_factor);
    if (!a.ok()) return a.status();
    policies.push_back(*a);
  }
  bool has_full = false;
  for (const EvalPolicy& p : policies) has_full |= p.full();
  if (!has_full) policies.insert(policies.begin(), EvalPolicy{});  // the reference
  for (const auto& [a, budget] : Configs(policies, o.budgets)) {
    if (Status s = ValidatePolicy(a); !s.ok()) return s;
  }
  for (int64_t c : o.contexts) {
    if (c <= o.steps + o.window + o.sinks) {
      return Status::InvalidArgument("eval attention: context " + std::to_string(c) +
                                     " must exceed --steps + window + sinks");
    }
  }
  Result<Setup> setup = LoadModel(o.model);
  if (!setup.ok()) return setup.status();
  std::vector<std::pair<std::string, std::vector<int32_t>>> texts;
  for (const std::string& name : o.texts) {
    Result<std::string> text = name == "essays" ? Essays()
                               : name == "leval"
                                   ? LevalPage()
                                   : Result<std::string>(Status::InvalidArgument(
                                         "eval attention: text '" + name +
                                         "' is unknown; use essays or leval"));
    if (!text.ok()) return text.status();
    texts.push_back({name, setup->tokenizer->Encode(*text)});
  }
  const auto configs = Configs(policies, o.budgets);
  nlohmann::ordered_json results = nlohmann::json::array();
  int threads = 0;
  for (int64_t ctx_len : o.contexts) {
    std::map<std::string, std::vector<RunFigures>> figures;
    double prefill_s = 0.0;
    for (const auto& [name, tokens] : texts) {
      if (static_cast<int64_t>(tokens.size()) < ctx_len) {
        return Status::InvalidArgument("eval attention: text '" + name + "' has " +
                                       std::to_string(tokens.size()) + " tokens, fewer than " +
                                       std::to_string(ctx_len));
      }
      Result<std::unique_ptr<LlamaContext>> made = LlamaContext::Create(
          setup->model, {.n_ctx = ctx_len, .n_threads = o.threads,
                         .attention = SamplingAttention(o.sinks, o.window)});
      if (!made.ok()) return made.status();
      LlamaContext& ctx = **made;
      threads = ctx.n_threads();
      const int64_t prompt = ctx_len - o.steps;
      const auto start = Clock::now();
      if (Status s = ctx.Eval(std::span(tokens).first(prompt)); !s.ok()) return s;
      prefill_s += Seconds(start);
      const SequenceId base = ctx.sequence();
      std::span<const int32_t> continuation = std::span(tokens).subspan(prompt, o.steps);
      std::vector<float> full_logits;
      for (const auto& [a, budget] : configs) {  // full attention comes first
        std::fprintf(stderr, "eval attention: %s, ctx %lld, %s\n", name.c_str(),
                     static_cast<long long>(ctx_len), Describe(a).c_str());
        Result<RunFigures> f = RunPolicy(ctx, base, a, continuation, &full_logits);
        if (!f.ok()) return f.status();
        figures[ConfigKey(a, budget)].push_back(*f);
      }
    }
    std::map<std::string, double> needle;
    if (o.depths > 0) {
      std::vector<int32_t> haystack;
      for (const auto& [name, tokens] : texts) {
        if (name == "essays") haystack = tokens;
      }
      if (haystack.empty()) {
        Result<std::string> essays = Essays();
        if (!essays.ok()) return essays.status();
        haystack = setup->tokenizer->Encode(*essays);
      }
      Result<std::map<std::string, double>> n = RunNeedle(*setup, o, configs, haystack, ctx_len);
      if (!n.ok()) return n.status();
      needle = *n;
    }
    for (const auto& [a, budget] : configs) {
      const std::vector<RunFigures>& runs = figures[ConfigKey(a, budget)];
      RunFigures m;
      m.mass = 0;
      for (const RunFigures& r : runs) {
        m.layer_mass.resize(r.layer_mass.size(), 0.0);
        for (size_t i = 0; i < r.layer_mass.size(); ++i) m.layer_mass[i] += r.layer_mass[i];
        m.top1 += r.top1, m.kl += r.kl, m.mass += r.mass, m.err += r.err;
        m.attention_ms += r.attention_ms, m.decode_ms += r.decode_ms, m.keys += r.keys;
        m.policy_attention_ms += r.policy_attention_ms, m.policy_keys += r.policy_keys;
        m.build_ms += r.build_ms, m.index_bytes += r.index_bytes;
        m.kv_bytes += r.kv_bytes, m.kv_bytes_kept += r.kv_bytes_kept;
      }
      const auto n = static_cast<double>(runs.size());
      nlohmann::ordered_json row;
      row["policy"] = PolicyName(a);
      row["index"] = IndexName(a);
      row["ctx"] = ctx_len;
      row["budget"] = budget;
      row["top1_agreement"] = m.top1 / n;
      row["kl"] = m.kl / n;
      row["mass_recall"] = m.mass / n;
      row["output_rel_err"] = m.err / n;
      if (o.depths > 0) {
        row["needle_accuracy"] = needle[ConfigKey(a, budget)];
      } else {
        row["needle_accuracy"] = nullptr;
      }
      row["attention_ms_per_token"] = m.attention_ms / n;
      row["decode_ms_per_token"] = m.decode_ms / n;
      row["keys_attended"] = m.keys / n;
      row["policy_layers_attention_ms_per_token"] = m.policy_attention_ms / n;
      row["policy_layers_keys_attended"] = m.policy_keys / n;
      row["index_build_ms"] = m.build_ms / n;
      row["index_bytes"] = m.index_bytes / n;
      row["kv_bytes_kept"] = m.kv_bytes_kept / n;
      row["kv_kept_share"] = m.kv_bytes > 0 ? m.kv_bytes_kept / m.kv_bytes : 1.0;
      row["prefill_s"] = prefill_s / static_cast<double>(texts.size());
      std::vector<double> by_layer;
      for (double v : m.layer_mass) by_layer.push_back(std::round(v / n * 1000.0) / 1000.0);
      row["mass_recall_by_layer"] = by_layer;
      results.push_back(row);
    }
  }
  nlohmann::ordered_json out;
  out["eval"] = "attention";
  out["model"] = setup->model_path;
  out["threads"] = threads;
  out["steps"] = o.steps;
  out["depths"] = o.depths;
  out["texts"] = o.texts;
  out["sinks"] = o.sinks;
  out["window"] = o.window;
  out["candidate_factor"] = o.candidate_factor;
  out["results"] = results;
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatAttentionEval(const nlohmann::ordered_json& r) {
  std::string out =
      "ctx    policy           budget  top1    KL      mass    out err  needle  attn ms  "
      "pol ms  decode ms  keys  KV kept MiB (share)\n";
  for (const auto& row : r["results"]) {
    std::string policy = row["policy"].get<std::string>();
    if (!row["index"].get<std::string>().empty()) policy += ":" + row["index"].get<std::string>();
    char line[300];
    std::snprintf(line, sizeof line,
                  "%-6lld %-16s %-7s %-7s %-7s %-7s %-8s %-7s %-8s %-7s %-10s %-5s %s (%s)\n",
                  static_cast<long long>(row["ctx"].get<int64_t>()), policy.c_str(),
                  Fixed(row["budget"].get<double>(), 2).c_str(),
                  Fixed(row["top1_agreement"].get<double>(), 3).c_str(),
                  Fixed(row["kl"].get<double>(), 4).c_str(),
                  Fixed(row["mass_recall"].get<double>(), 3).c_str(),
                  Fixed(row["output_rel_err"].get<double>(), 3).c_str(),
                  row["needle_accuracy"].is_null()
                      ? "-"
                      : Fixed(row["needle_accuracy"].get<double>(), 2).c_str(),
                  Fixed(row["attention_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["policy_layers_attention_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["decode_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["keys_attended"].get<double>(), 0).c_str(),
                  Fixed(row["kv_bytes_kept"].get<double>() / (1 << 20), 1).c_str(),
                  Fixed(row["kv_kept_share"].get<double>(), 3).c_str());
    out += line;
  }
  return out;
}

}  // namespace engram::bench

namespace engram::bench {

namespace {

constexpr std::string_view kOffload = "+offload";

// One policy's decode steps on a context holding the synthetic cache `file`.
Result<nlohmann::ordered_json> BenchPolicy(const AttentionBenchOptions& o, const Setup& setup,
                                           const EvalPolicy& a, bool offload, int64_t ctx_len,
                                           const std::string& file, int* threads,
                                           std::string* device) {
  inference::ContextOptions options;
  options.n_ctx = ctx_len;
  options.n_threads = o.threads;
  ENGRAM_TRY_ASSIGN(options.device, inference::ParseDevice(o.device));
  options.gpu = o.gpu;
  options.attention = a.attention;
  options.kv_offload = offload;
  Result<std::unique_ptr<LlamaContext>> made = LlamaContext::Create(setup.model, options);
  if (!made.ok()) return made.status();
  LlamaContext& ctx = **made;
  *threads = ctx.n_threads();
  *device = ctx.device() == inference::Device::kCuda ? ctx.device_name() : "cpu";
  if (Status s = ctx.LoadCache(file); !s.ok()) return s;
  if (Status s = Apply(ctx, a); !s.ok()) return s;
  const int32_t token = setup.tokenizer->Encode(" the").front();
  const auto build_start = Clock::now();
  ctx.PrepareAttention();
  const double build_ms = Seconds(build_start) * 1000.0;
  ctx.ResetDecodeStats();
  for (int i = 0; i < o.steps; ++i) {
    if (Status s = ctx.Eval({&token, 1}); !s.ok()) return s;
  }
  const inference::DecodeStats stats = ctx.decode_stats();
  const auto& c = ctx.model().config();
  nlohmann::ordered_json row = {
      {"policy", PolicyName(a) + (offload ? std::string(kOffload) : "")},
      {"index", IndexName(a)},
      {"ctx", ctx_len},
      {"budget", a.budget()},
      {"decode_ms_per_token", stats.seconds * 1000.0 / o.steps},
      {"attention_ms_per_token", stats.attention_seconds * 1000.0 / o.steps},
      {"policy_layers_attention_ms_per_token", stats.policy_attention_seconds * 1000.0 / o.steps},
      {"keys_attended",
       stats.keys_attended / (static_cast<double>(o.steps) * c.n_layer * c.n_kv_head)},
      {"index_build_ms", build_ms},
      {"index_bytes", stats.index_bytes}};
  if (offload && stats.seconds > 0) {
    row["offload_cpu_share"] = stats.offload_cpu_seconds / stats.seconds;
    row["offload_wait_share"] = stats.offload_wait_seconds / stats.seconds;
  }
  return row;
}

}  // namespace

Result<nlohmann::ordered_json> RunAttentionBench(const AttentionBenchOptions& o) {
  if (o.contexts.empty() || o.policies.empty() || o.steps <= 0) {
    return Status::InvalidArgument("bench attention: give --ctx, --policies and --steps > 0");
  }
  std::vector<std::pair<EvalPolicy, bool>> policies;  // and whether offloaded
  for (std::string spec : o.policies) {
    const bool offload = spec.ends_with(kOffload);
    if (offload) spec.resize(spec.size() - kOffload.size());
    Result<EvalPolicy> a = ParsePolicy(spec, o.sinks, o.window);
    if (!a.ok()) return a.status();
    a->set_budget(o.budget);
    if (Status s = ValidatePolicy(*a); !s.ok()) return s;
    policies.emplace_back(*a, offload);
  }
  Result<Setup> setup = LoadModel(o.model);
  if (!setup.ok()) return setup.status();
  const fs::path dir = o.work_dir.empty() ? fs::temp_directory_path() : fs::path(o.work_dir);
  const fs::path file = dir / ("engram-attention-bench-" + std::to_string(::getpid()) + ".kv");
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } remove{file};
  nlohmann::ordered_json results = nlohmann::json::array();
  int threads = 0;
  std::string device = "cpu";
  for (int64_t ctx_len : o.contexts) {
    if (ctx_len <= o.steps) {
      return Status::InvalidArgument("bench attention: context " + std::to_string(ctx_len) +
                                     " must exceed --steps");
    }
    {  // a context of this length must be possible before anything is written
      Result<std::unique_ptr<LlamaContext>> probe =
          LlamaContext::Create(setup->model, {.n_ctx = ctx_len, .n_threads = 1});
      if (!probe.ok()) return probe.status();
      std::fprintf(stderr, "bench attention: writing a synthetic cache of %lld positions\n",
                   static_cast<long long>(ctx_len - o.steps));
      if (Status s = WriteSyntheticCache(**probe, ctx_len - o.steps, file.string()); !s.ok()) {
        return s;
      }
    }
    for (const auto& [a, offload] : policies) {
      std::fprintf(stderr, "bench attention: ctx %lld, %s%s\n", static_cast<long long>(ctx_len),
                   Describe(a).c_str(), offload ? " (offloaded)" : "");
      Result<nlohmann::ordered_json> row =
          BenchPolicy(o, *setup, a, offload, ctx_len, file.string(), &threads, &device);
      if (!row.ok()) return row.status();
      results.push_back(*row);
    }
  }
  nlohmann::ordered_json out;
  out["bench"] = "attention";
  out["model"] = setup->model_path;
  out["device"] = device;
  out["threads"] = threads;
  out["steps"] = o.steps;
  out["cache"] = "synthetic keys and values (speed only)";
  out["results"] = results;
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatAttentionBench(const nlohmann::ordered_json& r) {
  std::string out =
      "ctx      policy           decode ms/token  attention ms/token  policy-layer ms  keys   "
      "index build ms\n";
  for (const auto& row : r["results"]) {
    std::string policy = row["policy"].get<std::string>();
    if (!row["index"].get<std::string>().empty()) policy += ":" + row["index"].get<std::string>();
    char line[200];
    std::snprintf(line, sizeof line, "%-8lld %-16s %-16s %-19s %-16s %-6s %s\n",
                  static_cast<long long>(row["ctx"].get<int64_t>()), policy.c_str(),
                  Fixed(row["decode_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["attention_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["policy_layers_attention_ms_per_token"].get<double>(), 2).c_str(),
                  Fixed(row["keys_attended"].get<double>(), 0).c_str(),
                  Fixed(row["index_build_ms"].get<double>(), 0).c_str());
    out += line;
  }
  return out;
}

}  // namespace engram::bench
