// engram embed [--model DIR] [--file lines.txt] [--threads N] [--json] TEXT…
// Sentence embeddings (L2-normalised) of each TEXT, or of each line of --file, with the default
// embedder (all-MiniLM-L6-v2) or a sentence-transformers BERT model directory. One line of
// numbers per text, or with --json {"model", "dim", "embeddings": [[…], …], "tokens",
// "truncated"} in input order. Texts cut at the model's token limit are reported on stderr.
#include <cstdio>
#include <sstream>
#include <memory>

#include "app/cli.h"
#include "common/json_write.h"
#include "common/input_file.h"
#include "inference/bert_embedder.h"
#include "nlohmann/json.hpp"

namespace engram::app {
namespace {

struct EmbedFlags {
  std::string model;
  std::string file;
  std::vector<std::string> texts;
  int threads = 0;
  std::string precision = "auto";
  bool json = false;
};

Status Run(const EmbedFlags& flags) {
  std::vector<std::string> texts = flags.texts;
  if (!flags.file.empty()) {
    Result<std::string> lines = ReadInput(flags.file, kMaxTextInputBytes, "text file");
    if (!lines.ok()) return lines.status().WithContext("embed");
    std::istringstream in(*lines);
    for (std::string line; std::getline(in, line);) texts.push_back(line);
  }
  if (texts.empty()) {
    return Status::InvalidArgument("embed: give texts as arguments or lines with --file");
  }
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(flags.precision);
  if (!precision.ok()) return precision.status();
  Result<std::unique_ptr<inference::BertEmbedder>> embedder = inference::BertEmbedder::OpenOrDefault(
      flags.model, {.n_threads = flags.threads, .precision = *precision});
  if (!embedder.ok()) return embedder.status();
  nlohmann::json rows = nlohmann::json::array();
  for (size_t start = 0; start < texts.size(); start += 32) {
    const size_t count = std::min<size_t>(32, texts.size() - start);
    Result<retrieval::EmbeddingBatch> batch =
        (*embedder)->Embed(std::span(texts).subspan(start, count));
    if (!batch.ok()) return batch.status();
    for (size_t i = 0; i < count; ++i) {
      if (batch->truncated[i]) {
        std::fprintf(stderr, "embed: text %zu truncated to %d tokens\n", start + i,
                     (*embedder)->MaxTokens());
      }
      const std::span<const float> v = batch->Row(i);
      if (flags.json) {
        rows.push_back({{"v", std::vector<float>(v.begin(), v.end())},
                        {"tokens", batch->tokens[i]},
                        {"truncated", batch->truncated[i] != 0}});
      } else {
        std::string line;
        char buf[32];
        for (size_t d = 0; d < v.size(); ++d) {
          std::snprintf(buf, sizeof buf, d ? " %.6f" : "%.6f", v[d]);
          line += buf;
        }
        std::printf("%s\n", line.c_str());
      }
    }
  }
  if (flags.json) {
    nlohmann::json embeddings = nlohmann::json::array(), tokens = nlohmann::json::array(),
                   truncated = nlohmann::json::array();
    for (const auto& r : rows) {
      embeddings.push_back(r["v"]);
      tokens.push_back(r["tokens"]);
      truncated.push_back(r["truncated"]);
    }
    const nlohmann::json out = {{"model", std::string((*embedder)->Name())},
                                {"dim", (*embedder)->Dim()},
                                {"precision", std::string(inference::EmbedPrecisionName(
                                                  (*embedder)->precision()))},
                                {"embeddings", embeddings},
                                {"tokens", tokens},
                                {"truncated", truncated}};
    std::printf("%s\n", JsonText(out).c_str());
  }
  return Status::OK();
}

}  // namespace

void RegisterEmbedCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<EmbedFlags>();
  CLI::App* cmd = app.add_subcommand("embed", "Sentence embeddings of texts (L2-normalised)");
  cmd->add_option("text", flags->texts, "Texts to embed, one vector each");
  cmd->add_option("--model", flags->model,
                  "A sentence-transformers BERT model directory (default: all-MiniLM-L6-v2)");
  cmd->add_option("-f,--file", flags->file, "Embed each line of this file");
  AddThreadsOption(cmd, &flags->threads);
  cmd->add_option("--precision", flags->precision,
                  "Linear layers in f32 (exact), bf16 (faster with AVX512_BF16) or auto")
      ->default_val("auto");
  cmd->add_flag("--json", flags->json,
                "Print {\"model\", \"dim\", \"embeddings\", \"tokens\", \"truncated\"}");
  commands.Add(cmd, [flags]() { return Run(*flags); });
}

}  // namespace engram::app
