#include "bench/eval_data.h"
#include "bench/generate_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/build_info.h"
#include "common/default_models.h"
#include "common/machine_info.h"
#include "common/paths.h"
#include "inference/engine.h"
#include "inference/llama_context.h"
#include "inference/tokenizer.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result<std::string> ReadText(const GenerateBenchOptions& options) {
  std::vector<std::string> files;
  if (!options.text_file.empty()) {
    files.push_back(options.text_file);
  } else {
    Result<fs::path> essays = RequireSharedData("haystack/pg_essays");
    if (!essays.ok()) return essays.status();
    for (const auto& entry : fs::directory_iterator(*essays)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
  }
  std::string text;
  for (const std::string& file : files) {
    ENGRAM_TRY_ASSIGN(const std::string part, ReadTextFile(file, "bench"));
    text += part;
  }
  if (text.empty()) return Status::InvalidArgument("bench: the text is empty");
  return text;
}

struct Setup {
  std::unique_ptr<inference::Engine> engine;
  std::vector<int32_t> tokens;  // at least max(contexts) long
  TensorType kv_type;
};

Result<Setup> Prepare(const GenerateBenchOptions& options, bool decode) {
  if (options.contexts.empty()) return Status::InvalidArgument("bench: give at least one --ctx");
  for (int64_t c : options.contexts) {
    if (c <= 0) return Status::InvalidArgument("bench: context " + std::to_string(c) + " must be > 0");
    if (decode && c <= options.decode_tokens) {
      return Status::InvalidArgument("bench: context " + std::to_string(c) +
                                     " must be larger than --tokens " +
                                     std::to_string(options.decode_tokens));
    }
  }
  if (decode && options.decode_tokens <= 0) {
    return Status::InvalidArgument("bench: --tokens must be > 0");
  }
  Setup setup;
  Result<TensorType> kv_type = inference::ParseKvType(options.kv_type);
  if (!kv_type.ok()) return kv_type.status().WithContext("bench: --kv-type");
  setup.kv_type = *kv_type;
  inference::EngineOptions engine;
  engine.model = options.model;
  ENGRAM_TRY_ASSIGN(setup.engine, inference::Engine::Load(engine));
  Result<std::string> text = ReadText(options);
  if (!text.ok()) return text.status();
  const std::vector<int32_t> ids = setup.engine->tokenizer().Encode(*text, {.add_special = false});
  if (ids.empty()) return Status::InvalidArgument("bench: the text has no tokens");
  const int64_t need = *std::max_element(options.contexts.begin(), options.contexts.end());
  while (static_cast<int64_t>(setup.tokens.size()) < need) {
    setup.tokens.insert(setup.tokens.end(), ids.begin(), ids.end());
  }
  setup.tokens.resize(static_cast<size_t>(need));
  return setup;
}

int RunsFor(const GenerateBenchOptions& options, int64_t ctx) {
  if (options.repeat > 0) return options.repeat;
  return ctx <= 2048 ? 3 : 1;
}

nlohmann::ordered_json Header(const char* name, const GenerateBenchOptions& options,
                              const Setup& setup, int threads) {
  nlohmann::ordered_json out;
  out["bench"] = name;
  out["model"] = setup.engine->model_path();
  out["threads"] = threads;
  out["kv_type"] = options.kv_type;
  return out;
}

void Footer(nlohmann::ordered_json& out) {
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
}

}  // namespace

Result<nlohmann::ordered_json> RunPrefillBench(const GenerateBenchOptions& options) {
  Result<Setup> setup = Prepare(options, /*decode=*/false);
  if (!setup.ok()) return setup.status();
  nlohmann::ordered_json out;
  nlohmann::ordered_json results = nlohmann::json::array();
  int threads = 0;
  for (int64_t ctx : options.contexts) {
    Result<std::unique_ptr<inference::LlamaContext>> context = setup->engine->NewContext(
        {.n_ctx = ctx, .n_threads = options.threads, .kv_type = setup->kv_type});
    if (!context.ok()) return context.status();
    threads = (*context)->n_threads();
    std::vector<double> ms;
    for (int run = 0; run < RunsFor(options, ctx); ++run) {
      (*context)->Rewind(0);
      const auto start = Clock::now();
      if (Status s = (*context)->Eval(std::span(setup->tokens).first(ctx)); !s.ok()) return s;
      ms.push_back(Ms(start));
    }
    const double median = Median(ms);
    results.push_back({{"ctx", ctx},
                       {"prefill_tokens", ctx},
                       {"prefill_tokens_per_s", static_cast<double>(ctx) * 1000.0 / median},
                       {"prefill_ms", median},
                       {"runs", ms.size()}});
  }
  out = Header("prefill", options, *setup, threads);
  out["results"] = results;
  Footer(out);
  return out;
}

Result<nlohmann::ordered_json> RunDecodeBench(const GenerateBenchOptions& options) {
  Result<Setup> setup = Prepare(options, /*decode=*/true);
  if (!setup.ok()) return setup.status();
  nlohmann::ordered_json results = nlohmann::json::array();
  int threads = 0;
  const int steps = options.decode_tokens;
  for (int64_t ctx : options.contexts) {
    Result<std::unique_ptr<inference::LlamaContext>> context = setup->engine->NewContext(
        {.n_ctx = ctx, .n_threads = options.threads, .kv_type = setup->kv_type});
    if (!context.ok()) return context.status();
    threads = (*context)->n_threads();
    std::vector<double> prefill_ms, decode_ms;
    const int64_t prompt = ctx - steps;
    for (int run = 0; run < RunsFor(options, ctx); ++run) {
      (*context)->Rewind(0);
      auto start = Clock::now();
      if (Status s = (*context)->Eval(std::span(setup->tokens).first(prompt)); !s.ok()) return s;
      prefill_ms.push_back(Ms(start));
      start = Clock::now();
      for (int i = 0; i < steps; ++i) {
        if (Status s = (*context)->Eval(std::span(setup->tokens).subspan(prompt + i, 1)); !s.ok()) {
          return s;
        }
      }
      decode_ms.push_back(Ms(start));
    }
    const double p = Median(prefill_ms), d = Median(decode_ms);
    results.push_back({{"ctx", ctx},
                       {"prefill_tokens", prompt},
                       {"prefill_tokens_per_s", static_cast<double>(prompt) * 1000.0 / p},
                       {"decode_tokens", steps},
                       {"decode_tokens_per_s", steps * 1000.0 / d},
                       {"decode_ms_per_token", d / steps},
                       {"runs", decode_ms.size()}});
  }
  nlohmann::ordered_json out = Header("decode", options, *setup, threads);
  out["results"] = results;
  Footer(out);
  return out;
}

std::string FormatGenerateBench(const nlohmann::ordered_json& r) {
  const bool decode = r["bench"] == "decode";
  std::string out = std::string("engram bench ") + r["bench"].get<std::string>() + ": " +
                    r["model"].get<std::string>() + ", " + std::to_string(r["threads"].get<int>()) +
                    " threads, kv " + r["kv_type"].get<std::string>() + "\n";
  char line[256];
  std::snprintf(line, sizeof line, decode ? "%8s %14s %14s %14s\n" : "%8s %14s %14s\n", "ctx",
                "prefill tok/s", decode ? "decode tok/s" : "prefill ms", "ms/token");
  out += line;
  for (const auto& row : r["results"]) {
    if (decode) {
      std::snprintf(line, sizeof line, "%8lld %14.1f %14.1f %14.2f\n",
                    static_cast<long long>(row["ctx"].get<int64_t>()),
                    row["prefill_tokens_per_s"].get<double>(),
                    row["decode_tokens_per_s"].get<double>(),
                    row["decode_ms_per_token"].get<double>());
    } else {
      std::snprintf(line, sizeof line, "%8lld %14.1f %14.1f\n",
                    static_cast<long long>(row["ctx"].get<int64_t>()),
                    row["prefill_tokens_per_s"].get<double>(), row["prefill_ms"].get<double>());
    }
    out += line;
  }
  out += "  commit " + r["commit"].get<std::string>() + " on " + r["machine"].get<std::string>() +
         "\n";
  return out;
}

}  // namespace engram::bench
