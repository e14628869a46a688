// engram bench <what> [--json]: measured figures (docs/benchmarks.md records them).
//   engram bench tokenize [-m MODEL] [--file F …] [--repetitions N] [--json]
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "bench/tokenize_bench.h"

namespace engram::app {

namespace {
struct TokenizeBenchFlags {
  bench::TokenizeBenchOptions options;
  bool json = false;
};
}  // namespace

void RegisterBenchCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  CLI::App* bench = app.add_subcommand("bench", "Measure engram's speed (see docs/benchmarks.md)");
  bench->require_subcommand(1);

  auto tokenize = std::make_shared<TokenizeBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "tokenize", "Encode/decode throughput of a tokenizer on real text, one thread");
  cmd->add_option("-m,--model", tokenize->options.model,
                  "Tokenizer source as for `engram tokenize` (default: the default generator)");
  cmd->add_option("-f,--file", tokenize->options.files,
                  "Text files (default: the essays in $ENGRAM_SHARED_DATA/haystack)");
  cmd->add_option("--repetitions", tokenize->options.repetitions,
                  "Timed passes; the median is reported")
      ->default_val(5);
  cmd->add_flag("--json", tokenize->json, "Print one JSON object");
  commands.Add(cmd, [tokenize]() -> Status {
    Result<nlohmann::ordered_json> result = bench::RunTokenizeBench(tokenize->options);
    if (!result.ok()) return result.status();
    if (tokenize->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatTokenizeBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}

}  // namespace engram::app
