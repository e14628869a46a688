// engram compress [-q QUESTION] (--ratio R | --budget-tokens N) FILE…|- [--json]
//                 [--fine] [--fine-share F] [--contrast-weight W] [--segment-tokens N]
//                 [--dense] [-m MODEL] [--threads N]
// Question-aware prompt compression (compress/compressor.h): each FILE (or standard input for
// "-") is one document; the compressed text goes to stdout. Budgets count the generator's
// tokens. --json prints the text with its source map (every kept span's file and byte range),
// the token counts and the time per stage.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "app/engine_flags.h"
#include "common/input_file.h"
#include "common/json_write.h"
#include "compress/compressor.h"
#include "compress/token_scorer.h"
#include "inference/bert_embedder.h"

namespace engram::app {
namespace {

struct CompressFlags {
  EngineFlags engine;
  std::vector<std::string> files;
  std::string question;
  compress::CompressOptions options;
  bool fine = false;
  bool dense = false;
  bool json = false;
};

nlohmann::ordered_json CompressedJson(const compress::Compressed& c,
                                      const std::vector<std::string>& files) {
  nlohmann::ordered_json map = nlohmann::ordered_json::array();
  for (const compress::MappedSpan& s : c.map.spans()) {
    map.push_back({{"out_begin", s.out_begin}, {"out_end", s.out_end}, {"document", s.document},
                   {"file", files[s.document]}, {"begin", s.begin}, {"end", s.end}});
  }
  return {{"text", c.text},
          {"tokens_in", c.tokens_in},
          {"tokens_out", c.tokens_out},
          {"ratio", c.tokens_out > 0 ? static_cast<double>(c.tokens_in) / c.tokens_out : 0.0},
          {"sentences_in", c.sentences_in},
          {"sentences_kept", c.sentences_kept},
          {"words_scored", c.words_scored},
          {"words_dropped", c.words_dropped},
          {"coarse_ms", c.coarse_ms},
          {"fine_ms", c.fine_ms},
          {"map", map}};
}

Status Run(const CompressFlags& flags) {
  if (flags.files.empty()) return Status::InvalidArgument("compress: give FILE… or - for stdin");
  if (Status s = compress::ValidateCompressOptions(flags.options); !s.ok()) return s;
  std::vector<std::string> documents;
  int stdin_uses = 0;
  for (const std::string& file : flags.files) {
    if (file == "-" && ++stdin_uses > 1) {
      return Status::InvalidArgument("compress: standard input (-) can be read once only");
    }
    ENGRAM_TRY_ASSIGN(std::string text, ReadInput(file, kMaxTextInputBytes, "text to compress"));
    documents.push_back(std::move(text));
  }
  ENGRAM_TRY_ASSIGN(inference::EngineOptions engine_options, flags.engine.Resolve());
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::Engine> engine,
                    inference::Engine::Load(engine_options));
  std::unique_ptr<inference::BertEmbedder> embedder;
  if (flags.dense && !flags.question.empty()) {
    ENGRAM_TRY_ASSIGN(embedder, inference::BertEmbedder::OpenOrDefault(
                                    "", {.n_threads = engine_options.context.n_threads}));
  }
  std::unique_ptr<compress::TokenScorer> scorer;
  if (flags.fine) {
    ENGRAM_TRY_ASSIGN(scorer, compress::TokenScorer::Create(*engine));
  }
  compress::CompressModels models;
  models.count_tokens = [&](std::string_view s) {
    return static_cast<int>(engine->tokenizer().Encode(s).size());
  };
  models.embedder = embedder.get();
  models.scorer = scorer.get();
  ENGRAM_TRY_ASSIGN(compress::Compressed c,
                    compress::Compress(flags.question, documents, flags.options, models));
  if (flags.json) {
    std::printf("%s\n", JsonText(CompressedJson(c, flags.files), 2).c_str());
  } else {
    std::printf("%s\n", c.text.c_str());
    std::fprintf(stderr, "compress: %lld -> %lld tokens (%.1fx), coarse %.0f ms, fine %.0f ms\n",
                 static_cast<long long>(c.tokens_in), static_cast<long long>(c.tokens_out),
                 c.tokens_out > 0 ? static_cast<double>(c.tokens_in) / c.tokens_out : 0.0,
                 c.coarse_ms, c.fine_ms);
  }
  return Status::OK();
}

}  // namespace

void RegisterCompressCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<CompressFlags>();
  compress::CompressOptions& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "compress", "Compress text for a question to a token budget, with a map back to the source");
  cmd->add_option("files", flags->files, "Documents to compress (- for standard input)");
  cmd->add_option("-q,--question", flags->question,
                  "The question the compressed text must still answer (never compressed)");
  cmd->add_option("--ratio", o.ratio, "Tokens in / tokens out, in (1, 1000]")
      ->check(FiniteIn(-1e12, 1e12));
  cmd->add_option("--budget-tokens", o.budget_tokens, "Tokens out at most");
  cmd->add_flag("--fine", flags->fine,
                "Also drop words by the language model's scores (seconds; off by default: whole "
                "sentences kept more answers on the tuning split, docs/benchmarks.md)");
  cmd->add_option("--fine-share", o.fine_share,
                  "Share of the budget the coarse stage keeps beyond it for the word-level stage")
      ->default_val(o.fine_share)
      ->check(FiniteIn(0, 4));
  cmd->add_option("--contrast-weight", o.contrast_weight,
                  "Weight of the question's contrast against self-information")
      ->default_val(o.contrast_weight)
      ->check(FiniteIn(0, 100));
  cmd->add_option("--segment-tokens", o.segment_tokens, "Tokens scored together")
      ->default_val(o.segment_tokens)
      ->check(CLI::Range(16, compress::TokenScorer::kMaxSegmentTokens));
  cmd->add_flag("--dense", flags->dense,
                "Rank sentences by embedding similarity too, not BM25 alone (slower on long text)");
  AddModelFlags(cmd, &flags->engine);
  cmd->add_flag("--json", flags->json, "Print the text, its source map and token counts as JSON");
  commands.Add(cmd, [flags]() { return Run(*flags); });
}

}  // namespace engram::app
