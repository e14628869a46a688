#include "bench/eval_data.h"
#include "bench/tokenize_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/build_info.h"
#include "common/default_models.h"
#include "common/machine_info.h"
#include "common/paths.h"
#include "inference/tokenizer.h"

namespace engram::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Result<std::vector<std::string>> DefaultFiles() {
  Result<fs::path> essays = RequireSharedData("haystack/pg_essays");
  if (!essays.ok()) return essays.status();
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(*essays)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Non-empty lines (the essays hold one paragraph per line), as documents reach the tokenizer
// during ingest. bench/peer_tokenize.sh splits the same way.
Result<std::vector<std::string>> ReadParagraphs(const std::vector<std::string>& files) {
  std::vector<std::string> paragraphs;
  for (const std::string& file : files) {
    ENGRAM_TRY_ASSIGN(const std::string text, ReadTextFile(file, "bench tokenize"));
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) paragraphs.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }
  if (paragraphs.empty()) return Status::InvalidArgument("bench tokenize: the input is empty");
  return paragraphs;
}

}  // namespace

Result<nlohmann::ordered_json> RunTokenizeBench(const TokenizeBenchOptions& options) {
  if (options.repetitions < 1) {
    return Status::InvalidArgument("bench tokenize: --repetitions must be at least 1");
  }
  std::string model = options.model;
  if (model.empty()) {
    Result<fs::path> path = DefaultModelPath("generator");
    if (!path.ok()) return path.status();
    model = path->string();
  } else {
    Result<std::string> path = ResolveModelArgument(model);  // -m gemma3: a lock model by name
    if (!path.ok()) return path.status();
    model = *path;
  }
  std::vector<std::string> files = options.files;
  if (files.empty()) {
    Result<std::vector<std::string>> found = DefaultFiles();
    if (!found.ok()) return found.status();
    files = std::move(*found);
  }
  Result<std::vector<std::string>> paragraphs = ReadParagraphs(files);
  if (!paragraphs.ok()) return paragraphs.status();
  uint64_t bytes = 0;
  for (const std::string& p : *paragraphs) bytes += p.size();

  const Clock::time_point load_start = Clock::now();
  Result<std::unique_ptr<inference::Tokenizer>> tokenizer = inference::Tokenizer::Load(model);
  if (!tokenizer.ok()) return tokenizer.status();
  const double load_s = Seconds(load_start);
  const inference::Tokenizer& tok = **tokenizer;

  std::vector<std::vector<int32_t>> ids(paragraphs->size());
  std::vector<double> encode_s, decode_s;
  uint64_t tokens = 0;
  size_t decoded_bytes = 0;
  for (int rep = 0; rep < options.repetitions; ++rep) {
    Clock::time_point t = Clock::now();
    for (size_t i = 0; i < paragraphs->size(); ++i) ids[i] = tok.Encode((*paragraphs)[i]);
    encode_s.push_back(Seconds(t));
    t = Clock::now();
    decoded_bytes = 0;
    for (const std::vector<int32_t>& p : ids) decoded_bytes += tok.Decode(p).size();
    decode_s.push_back(Seconds(t));
  }
  for (const std::vector<int32_t>& p : ids) tokens += p.size();
  const double encode = Median(encode_s);
  const double decode = Median(decode_s);

  nlohmann::ordered_json out;
  out["bench"] = "tokenize";
  out["model"] = model;
  out["tokenizer"] = std::string(tok.Family());
  out["files"] = files.size();
  out["paragraphs"] = paragraphs->size();
  out["bytes"] = bytes;
  out["tokens"] = tokens;
  out["load_s"] = load_s;
  out["encode_s_median"] = encode;
  out["encode_mb_per_s"] = static_cast<double>(bytes) / 1e6 / encode;
  out["encode_tokens_per_s"] = static_cast<double>(tokens) / encode;
  out["decode_s_median"] = decode;
  out["decode_mb_per_s"] = static_cast<double>(decoded_bytes) / 1e6 / decode;
  out["repetitions"] = options.repetitions;
  out["threads"] = 1;
  out["commit"] = std::string(GetBuildInfo().git_commit);
  out["machine"] = MachineSummary(DescribeMachine());
  return out;
}

std::string FormatTokenizeBench(const nlohmann::ordered_json& r) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "tokenize bench: %s (%s tokenizer)\n"
                "  input      %zu paragraphs, %.2f MB, %zu tokens\n"
                "  load       %.3f s\n"
                "  encode     %.3f s median of %d  ->  %.2f MB/s, %.0f tokens/s (1 thread)\n"
                "  decode     %.3f s median  ->  %.2f MB/s\n"
                "  commit %s on %s\n",
                r["model"].get<std::string>().c_str(), r["tokenizer"].get<std::string>().c_str(),
                r["paragraphs"].get<size_t>(), r["bytes"].get<double>() / 1e6,
                r["tokens"].get<size_t>(), r["load_s"].get<double>(),
                r["encode_s_median"].get<double>(), r["repetitions"].get<int>(),
                r["encode_mb_per_s"].get<double>(), r["encode_tokens_per_s"].get<double>(),
                r["decode_s_median"].get<double>(), r["decode_mb_per_s"].get<double>(),
                r["commit"].get<std::string>().c_str(), r["machine"].get<std::string>().c_str());
  return buf;
}

}  // namespace engram::bench
