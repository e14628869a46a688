// engram eval <what> [--json]: quality figures on real data (docs/benchmarks.md records them).
//   engram eval retrieval --squad FILE [--distractors PATH…] [--max-questions N] [--model DIR]
//                         [--precision auto|f32|bf16] [--threads N] [--chunk-tokens N]
//                         [--work-dir DIR] [--json]
//   engram eval attention [-m MODEL] [--ctx 2048,4096,8192] [--policies full,window,quest,retrieval]
//                         [--budgets 0.01,0.02,0.05,0.1] [--steps 256] [--depths 10]
//                         [--texts essays,leval] [--sinks 4] [--window 240] [--threads N] [--json]
//   engram eval memory --locomo FILE [--k 5,10,25] [--model DIR] [--precision P] [--threads N]
//                      [--no-sync] [--work-dir DIR] [--weight-sweep] [--json]
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "bench/attention_eval.h"
#include "bench/memory_eval.h"
#include "bench/retrieval_eval.h"

namespace engram::app {
namespace {

struct RetrievalEvalFlags {
  bench::RetrievalEvalOptions options;
  bool json = false;
};

struct MemoryEvalFlags {
  bench::MemoryEvalOptions options;
  bool no_sync = false;
  bool json = false;
};

void AddMemoryEval(CLI::App* eval, CommandTable& commands) {
  auto flags = std::make_shared<MemoryEvalFlags>();
  CLI::App* cmd = eval->add_subcommand(
      "memory", "Evidence recall@k of the episodic store on LoCoMo: combined / bm25 / dense");
  cmd->add_option("--locomo", flags->options.locomo_file, "The LoCoMo JSON file")->required();
  cmd->add_option("--k", flags->options.ks, "Cut-offs, comma-separated")
      ->delimiter(',')
      ->default_str("5,10,25")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--model", flags->options.model, "Embedder (default: all-MiniLM-L6-v2)");
  cmd->add_option("--precision", flags->options.precision, "Embedder precision: auto, f32 or bf16")
      ->default_val("auto");
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_flag("--no-sync", flags->no_sync, "Append without fsync (default: sync, as served)");
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Where the temporary store goes (default: the temporary directory)");
  cmd->add_flag("--weight-sweep", flags->options.weight_sweep,
                "Also score a grid of combined weights (to pick defaults)");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    flags->options.sync = !flags->no_sync;
    Result<nlohmann::ordered_json> r = bench::RunMemoryEval(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      std::fputs(bench::FormatMemoryEval(*r).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct AttentionEvalFlags {
  bench::AttentionEvalOptions options;
  bool json = false;
};

void AddAttentionEval(CLI::App* eval, CommandTable& commands) {
  auto flags = std::make_shared<AttentionEvalFlags>();
  bench::AttentionEvalOptions& o = flags->options;
  CLI::App* cmd = eval->add_subcommand(
      "attention", "Sparse decode attention policies against full attention on long real text");
  cmd->add_option("-m,--model", o.model, "A .gguf model (default: the default generator)");
  cmd->add_option("--ctx", o.contexts, "Context lengths, comma-separated")
      ->delimiter(',')
      ->default_str("2048,4096,8192")
      ->check(CLI::Range(1, 1 << 22));
  cmd->add_option("--policies", o.policies,
                  "full, window, quest, retrieval (retrieval:exact|ivf|aware), comma-separated")
      ->delimiter(',')
      ->default_str("full,window,quest,retrieval");
  cmd->add_option("--budgets", o.budgets, "Shares of the context attended, comma-separated")
      ->delimiter(',')
      ->default_str("0.01,0.02,0.05,0.1")
      ->check(FiniteIn(0, 1, /*lo_open=*/true));
  cmd->add_option("--steps", o.steps, "Teacher-forced decode steps per run")->default_val(256)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--depths", o.depths, "Needle depths (0: no needle test)")->default_val(10)
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--texts", o.texts, "essays and/or leval, comma-separated")
      ->delimiter(',')
      ->default_str("essays,leval");
  cmd->add_option("--sinks", o.sinks, "Sink positions always attended")->default_val(4)
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--window", o.window, "Recent positions always attended")->default_val(240)
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--candidate-factor", o.candidate_factor,
                  "Retrieval: candidates scored per attended key")
      ->default_val(3.0)
      ->check(FiniteIn(0, 1e6, /*lo_open=*/true));
  AddThreadsOption(cmd, &o.threads);
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> r = bench::RunAttentionEval(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      std::fputs(bench::FormatAttentionEval(*r).c_str(), stdout);
    }
    return Status::OK();
  });
}

}  // namespace

void RegisterEvalCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  CLI::App* eval = app.add_subcommand("eval", "Measure engram's quality on real data (see docs/benchmarks.md)");
  eval->require_subcommand(1);
  AddMemoryEval(eval, commands);
  AddAttentionEval(eval, commands);
  auto flags = std::make_shared<RetrievalEvalFlags>();
  CLI::App* cmd = eval->add_subcommand(
      "retrieval", "Recall of the gold paragraph for SQuAD questions, bm25 / dense / hybrid");
  cmd->add_option("--squad", flags->options.squad_file, "A SQuAD-format JSON file")->required();
  cmd->add_option("--distractors", flags->options.distractors,
                  "Extra documents: text files, or L-Eval .jsonl files (their \"input\" fields)");
  cmd->add_option("--max-questions", flags->options.max_questions, "Use the first N questions (0: all)")
      ->default_val(0)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--model", flags->options.model, "Embedder (default: all-MiniLM-L6-v2)");
  cmd->add_option("--precision", flags->options.precision, "Embedder precision: auto, f32 or bf16")
      ->default_val("auto");
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_option("--chunk-tokens", flags->options.chunk_tokens, "Chunk budget in word pieces")
      ->default_val(200)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Build the collection here and keep it (default: a temporary directory)");
  cmd->add_flag("--fusion-sweep", flags->options.fusion_sweep,
                "Also score several hybrid fusions of the same candidates (to pick defaults)");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> r = bench::RunRetrievalEval(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      std::fputs(bench::FormatRetrievalEval(*r).c_str(), stdout);
    }
    return Status::OK();
  });
}

}  // namespace engram::app
