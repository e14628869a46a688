#include "bench/eval_data.h"
#include "bench/embed_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/stats.h"
#include "common/build_info.h"
#include "common/machine_info.h"
#include "common/paths.h"
#include "inference/bert_embedder.h"
#include "kernels/gemm.h"

namespace engram::bench {
namespace {

using Clock = std::chrono::steady_clock;

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Appends the sentences of `text` to `out`, stripped, until it holds `limit`: a sentence ends
// at white space that follows '.', '!' or '?' (Python: re.split(r"(?<=[.!?])\s+", text)).
void SplitSentences(const std::string& text, size_t limit, std::vector<std::string>& out) {
  auto flush = [&](size_t a, size_t b) {
    while (a < b && IsSpace(text[a])) ++a;
    while (b > a && IsSpace(text[b - 1])) --b;
    if (b > a && out.size() < limit) out.push_back(text.substr(a, b - a));
  };
  size_t begin = 0;
  for (size_t i = 1; i < text.size(); ++i) {
    const char prev = text[i - 1];
    if ((prev == '.' || prev == '!' || prev == '?') && IsSpace(text[i])) {
      flush(begin, i);
      begin = i;
    }
  }
  flush(begin, text.size());
}

}  // namespace

Result<std::vector<std::string>> SquadSentences(size_t limit) {
  Result<std::filesystem::path> path = RequireSharedData("squad/dev-v1.1.shared.json");
  if (!path.ok()) return path.status();
  ENGRAM_TRY_ASSIGN(const std::vector<SquadArticle> squad, ReadSquad(path->string(), "bench"));
  std::vector<std::string> out;
  for (const SquadArticle& article : squad) {
    for (const SquadParagraph& paragraph : article.paragraphs) {
      SplitSentences(paragraph.context, limit, out);
    }
  }
  return out;
}

Result<nlohmann::ordered_json> RunEmbedBench(const EmbedBenchOptions& options) {
  if (options.sentences <= 0 || options.repeat <= 0) {
    return Status::InvalidArgument("bench: --sentences and --repeat must be > 0");
  }
  for (int b : options.batches) {
    if (b <= 0) return Status::InvalidArgument("bench: batch sizes must be > 0");
  }
  std::vector<std::string> texts;
  if (options.file.empty()) {
    Result<std::vector<std::string>> s = SquadSentences(static_cast<size_t>(options.sentences));
    if (!s.ok()) return s.status();
    texts = std::move(*s);
  } else {
    ENGRAM_TRY_ASSIGN(const std::string lines, ReadTextFile(options.file, "bench embed"));
    std::istringstream in(lines);
    for (std::string line; std::getline(in, line) &&
                           texts.size() < static_cast<size_t>(options.sentences);) {
      texts.push_back(line);
    }
  }
  if (texts.empty()) return Status::InvalidArgument("bench: no texts to embed");
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(options.precision);
  if (!precision.ok()) return precision.status();
  Result<std::unique_ptr<inference::BertEmbedder>> embedder = inference::BertEmbedder::OpenOrDefault(
      options.model, {.n_threads = options.threads, .precision = *precision});
  if (!embedder.ok()) return embedder.status();
  inference::BertEmbedder& e = **embedder;

  // Warm-up (first touches of the buffers), and the token count.
  Result<retrieval::EmbeddingBatch> all = e.Embed(texts);
  if (!all.ok()) return all.status();
  double tokens = 0;
  for (int32_t t : all->tokens) tokens += t;

  nlohmann::ordered_json results = nlohmann::json::array();
  for (int batch : options.batches) {
    std::vector<double> pass_rates, call_ms;
    for (int r = 0; r < options.repeat; ++r) {
      const auto pass_start = Clock::now();
      for (size_t start = 0; start < texts.size(); start += batch) {
        const size_t count = std::min<size_t>(batch, texts.size() - start);
        const auto t0 = Clock::now();
        Result<retrieval::EmbeddingBatch> out = e.Embed(std::span(texts).subspan(start, count));
        if (!out.ok()) return out.status();
        call_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      const double s = std::chrono::duration<double>(Clock::now() - pass_start).count();
      pass_rates.push_back(static_cast<double>(texts.size()) / s);
    }
    nlohmann::ordered_json row;
    row["batch"] = batch;
    row["sentences_per_s"] = Percentile(pass_rates, 0.5);
    row["p50_ms"] = Percentile(call_ms, 0.5);
    row["p99_ms"] = Percentile(call_ms, 0.99);
    row["runs"] = options.repeat;
    results.push_back(row);
  }
  nlohmann::ordered_json out;
  out["bench"] = "embed";
  out["model"] = std::string(e.Name());
  out["dim"] = e.Dim();
  out["threads"] = options.threads;
  out["precision"] = std::string(inference::EmbedPrecisionName(e.precision()));
  out["gemm_isa"] = std::string(kernels::GemmIsaName(kernels::ActiveGemmIsa()));
  out["sentences"] = texts.size();
  out["mean_tokens"] = tokens / static_cast<double>(texts.size());
  out["results"] = results;
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatEmbedBench(const nlohmann::ordered_json& r) {
  std::string out = "embed: " + r["model"].get<std::string>() + ", " +
                    std::to_string(r["sentences"].get<size_t>()) + " sentences (mean " +
                    std::to_string(static_cast<int>(r["mean_tokens"].get<double>() + 0.5)) +
                    " tokens), " + r["precision"].get<std::string>() + ", gemm " +
                    r["gemm_isa"].get<std::string>() + "\n";
  char line[160];
  std::snprintf(line, sizeof line, "%6s %14s %10s %10s\n", "batch", "sentences/s", "p50 ms", "p99 ms");
  out += line;
  for (const auto& row : r["results"]) {
    std::snprintf(line, sizeof line, "%6d %14.1f %10.2f %10.2f\n", row["batch"].get<int>(),
                  row["sentences_per_s"].get<double>(), row["p50_ms"].get<double>(),
                  row["p99_ms"].get<double>());
    out += line;
  }
  out += "  commit " + r["commit"].get<std::string>() + " on " + r["machine"].get<std::string>() + "\n";
  return out;
}

}  // namespace engram::bench
