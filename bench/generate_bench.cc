#include "bench/eval_data.h"
#include "bench/generate_bench.h"
#include "bench/synthetic_kv.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/build_info.h"
#include "common/default_models.h"
#include "common/machine_info.h"
#include "common/paths.h"
#include "inference/device_plan.h"
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
  inference::Device device = inference::Device::kCpu;
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
  Result<inference::Device> device = inference::ParseDevice(options.device);
  if (!device.ok()) return device.status().WithContext("bench: --device");
  setup.device = *device;
  if (options.batch < 1) return Status::InvalidArgument("bench: --batch must be >= 1");
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

// A context of `ctx` positions on the chosen device, room for `batch` sequences. A synthetic
// cache may exceed the model's training window, so it skips the engine's check.
Result<std::unique_ptr<inference::LlamaContext>> MakeContext(const GenerateBenchOptions& options,
                                                             const Setup& setup, int64_t ctx) {
  inference::ContextOptions c;
  c.n_ctx = ctx;
  c.n_threads = options.threads;
  c.kv_type = setup.kv_type;
  c.device = setup.device;
  c.gpu = options.gpu;
  c.n_ubatch = std::max(c.n_ubatch, options.batch);
  c.kv_pool_positions = ctx + static_cast<int64_t>(options.batch) * (options.decode_tokens + 32);
  if (options.synthetic) return inference::LlamaContext::Create(setup.engine->model(), c);
  return setup.engine->NewContext(c);
}

std::string DeviceLabel(const inference::LlamaContext& ctx) {
  return ctx.device() == inference::Device::kCuda ? ctx.device_name() : "cpu";
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
  std::string device = "cpu";
  for (int64_t ctx : options.contexts) {
    Result<std::unique_ptr<inference::LlamaContext>> context = MakeContext(options, *setup, ctx);
    if (!context.ok()) return context.status();
    threads = (*context)->n_threads();
    device = DeviceLabel(**context);
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
  out["device"] = device;
  out["results"] = results;
  Footer(out);
  return out;
}

namespace {

// Positions [0, prompt) of the context's current sequence: a prefill of the text, or synthetic.
// Returns the prefill's milliseconds (0 for a synthetic cache).
Result<double> FillPrompt(const GenerateBenchOptions& options, const Setup& setup,
                          inference::LlamaContext& ctx, int64_t prompt) {
  if (options.synthetic) {
    if (Status s = LoadSyntheticCache(ctx, prompt, options.work_dir); !s.ok()) return s;
    return 0.0;
  }
  ctx.Rewind(0);
  const auto start = Clock::now();
  if (Status s = ctx.Eval(std::span(setup.tokens).first(prompt)); !s.ok()) return s;
  return Ms(start);
}

// Milliseconds of `steps` decode steps of `batch` sequences (forks of the current one, which
// holds `prompt` positions), teacher-forced with the text's tokens.
Result<double> TimeDecode(const Setup& setup, inference::LlamaContext& ctx, int64_t prompt,
                          int steps, int batch) {
  const std::span<const int32_t> text(setup.tokens);
  if (batch == 1) {
    const auto start = Clock::now();
    for (int i = 0; i < steps; ++i) {
      if (Status s = ctx.Eval(text.subspan(prompt + i, 1)); !s.ok()) return s;
    }
    return Ms(start);
  }
  std::vector<inference::BatchEntry> entries{{ctx.sequence(), 0}};
  for (int b = 1; b < batch; ++b) {
    Result<inference::SequenceId> fork = ctx.Fork();
    if (!fork.ok()) return fork.status();
    entries.push_back({*fork, 0});
  }
  const auto start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    for (inference::BatchEntry& e : entries) e.token = text[prompt + i];
    if (Status s = ctx.DecodeBatch(entries); !s.ok()) return s;
  }
  const double ms = Ms(start);
  for (size_t b = 1; b < entries.size(); ++b) {
    if (Status s = ctx.Free(entries[b].seq); !s.ok()) return s;
  }
  return ms;
}

// Bytes one step of `batch` sequences at `length` reads: the weights once, each sequence's
// keys and values.
double StepBytes(const inference::LlamaModel& model, int64_t length, TensorType kv, int batch) {
  const auto weights = static_cast<double>(inference::DecodeBytesRead(model, 0, kv));
  const auto one = static_cast<double>(inference::DecodeBytesRead(model, length, kv));
  return weights + batch * (one - weights);
}

}  // namespace

Result<nlohmann::ordered_json> RunDecodeBench(const GenerateBenchOptions& options) {
  Result<Setup> setup = Prepare(options, /*decode=*/true);
  if (!setup.ok()) return setup.status();
  nlohmann::ordered_json results = nlohmann::json::array();
  int threads = 0;
  std::string device = "cpu";
  const int steps = options.decode_tokens;
  for (int64_t ctx : options.contexts) {
    Result<std::unique_ptr<inference::LlamaContext>> made = MakeContext(options, *setup, ctx);
    if (!made.ok()) return made.status();
    inference::LlamaContext& context = **made;
    threads = context.n_threads();
    device = DeviceLabel(context);
    std::vector<double> prefill_ms, decode_ms, single_ms;
    const int64_t prompt = ctx - steps;
    for (int run = 0; run < RunsFor(options, ctx); ++run) {
      for (int batch : {options.batch, 1}) {
        if (batch == 1 && options.batch == 1 && !single_ms.empty()) break;
        Result<double> filled = FillPrompt(options, *setup, context, prompt);
        if (!filled.ok()) return filled.status();
        if (batch == options.batch) prefill_ms.push_back(*filled);
        Result<double> ms = TimeDecode(*setup, context, prompt, steps, batch);
        if (!ms.ok()) return ms.status();
        (batch == options.batch ? decode_ms : single_ms).push_back(*ms);
        if (options.batch == 1) break;
      }
    }
    const double p = Median(prefill_ms), d = Median(decode_ms);
    const double steps_per_s = steps * 1000.0 / d;
    const double bytes = StepBytes(context.model(), prompt + steps / 2, setup->kv_type,
                                   options.batch);
    nlohmann::ordered_json row = {{"ctx", ctx}, {"prefill_tokens", prompt}};
    if (!options.synthetic) row["prefill_tokens_per_s"] = static_cast<double>(prompt) * 1000.0 / p;
    row["decode_tokens"] = steps;
    row["decode_tokens_per_s"] = steps_per_s * options.batch;
    row["decode_ms_per_token"] = d / steps;
    row["decode_bytes_per_step"] = bytes;
    row["decode_bytes_per_s"] = bytes * steps_per_s;
    if (context.device_peak_bandwidth() > 0) {
      row["peak_bandwidth_fraction"] = bytes * steps_per_s / context.device_peak_bandwidth();
    }
    if (options.batch > 1) row["single_decode_tokens_per_s"] = steps * 1000.0 / Median(single_ms);
    row["runs"] = decode_ms.size();
    results.push_back(row);
  }
  nlohmann::ordered_json out = Header("decode", options, *setup, threads);
  out["device"] = device;
  out["batch"] = options.batch;
  if (options.synthetic) out["cache"] = "synthetic keys and values (speed only)";
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
