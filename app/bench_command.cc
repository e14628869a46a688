// engram bench <what> [--json]: measured figures (docs/benchmarks.md records them).
//   engram bench tokenize [-m MODEL] [--file F …] [--repetitions N] [--json]
//   engram bench embed [--model DIR] [--file F] [--batch 1,32] [--sentences N] [--threads N]
//                      [--repeat R] [--precision auto|f32|bf16|int8] [--json]
//   engram bench retrieval [--chunks N] [--dim D] [--queries Q] [--batch B]
//                          [--index auto|flat|hnsw|ivfpq] [--work-dir DIR] [--keep] [--json]
//   engram bench memory [--episodes 100000,1000000] [--dim D] [--queries Q] [--batch B]
//                       [--singles S] [--no-sync] [--work-dir DIR] [--json]
//   engram bench vectors [--data random|lowrank|synthetic|real] [--n N] [--dim D] [--queries Q]
//                        [--index hnsw|ivfpq] [--ef 32,64,...] [--model DIR] [--json]
//   engram bench prefill|decode [-m MODEL] [--ctx 512,2048,8192] [--tokens T] [--threads N]
//                               [--text FILE] [--repeat R] [--kv-type f16|f32]
//                               [--device cpu|cuda|auto] [--gpu N] [--json]
//                               decode also: [--batch B] [--synthetic] [--work-dir DIR]
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "app/engine_flags.h"
#include "bench/attention_eval.h"
#include "bench/embed_bench.h"
#include "bench/generate_bench.h"
#include "bench/memory_bench.h"
#include "bench/retrieval_bench.h"
#include "bench/vector_bench.h"
#include "bench/tokenize_bench.h"

namespace engram::app {

namespace {
struct TokenizeBenchFlags {
  bench::TokenizeBenchOptions options;
  bool json = false;
};

struct EmbedBenchFlags {
  bench::EmbedBenchOptions options;
  bool json = false;
};

void AddEmbedBench(CLI::App* bench, CommandTable& commands) {
  auto flags = std::make_shared<EmbedBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "embed", "Sentences/s and latency of the sentence embedder at given batch sizes");
  cmd->add_option("--model", flags->options.model,
                  "A sentence-transformers model directory (default: all-MiniLM-L6-v2)");
  cmd->add_option("-f,--file", flags->options.file,
                  "Texts, one per line (default: SQuAD dev sentences from $ENGRAM_SHARED_DATA)");
  cmd->add_option("--batch", flags->options.batches, "Batch sizes, comma-separated")
      ->delimiter(',')
      ->default_str("1,32")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--sentences", flags->options.sentences, "Texts embedded per pass")
      ->default_val(1024)
      ->check(CLI::Range(1, 1 << 24));
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_option("--repeat", flags->options.repeat, "Passes per batch size (median reported)")
      ->default_val(3)
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--precision", flags->options.precision, "Linear layers: auto, f32, bf16 or int8")
      ->default_val("auto");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> result = bench::RunEmbedBench(flags->options);
    if (!result.ok()) return result.status();
    if (flags->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatEmbedBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct RetrievalBenchFlags {
  bench::RetrievalBenchOptions options;
  bool json = false;
};

void AddRetrievalBench(CLI::App* bench, CommandTable& commands) {
  auto flags = std::make_shared<RetrievalBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "retrieval", "Ingest rate, index build, query latency, RSS and disk of a collection of "
                   "synthetic chunks");
  cmd->add_option("--chunks", flags->options.chunks, "Chunks (one synthetic document each)")
      ->default_val(100000)
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--dim", flags->options.dim, "Embedding dimension")->default_val(384)
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--queries", flags->options.queries, "Queries per search mode")
      ->default_val(1000)
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--batch", flags->options.batch, "Documents per ingest batch")
      ->default_val(1000)
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--index", flags->options.index, "Vector index: auto, flat, hnsw or ivfpq")
      ->default_val("auto");
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Where the collection is built (default: the temporary directory)");
  cmd->add_flag("--keep", flags->options.keep, "Keep the collection afterwards");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> result = bench::RunRetrievalBench(flags->options);
    if (!result.ok()) return result.status();
    if (flags->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatRetrievalBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct MemoryBenchFlags {
  bench::MemoryBenchOptions options;
  bool no_sync = false;
  bool json = false;
};

void AddMemoryBench(CLI::App* bench, CommandTable& commands) {
  auto flags = std::make_shared<MemoryBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "memory", "Append throughput, recall latency, RSS and disk of the episodic store at scale");
  cmd->add_option("--episodes", flags->options.episodes, "Store sizes, comma-separated")
      ->delimiter(',')
      ->default_str("100000,1000000")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32));
  cmd->add_option("--dim", flags->options.dim, "Embedding dimension")->default_val(384)
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--queries", flags->options.queries, "Recalls per size")->default_val(200)
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--batch", flags->options.batch, "Episodes per AppendBatch")->default_val(1000)
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--singles", flags->options.singles, "Single Appends timed after the batches")
      ->default_val(1000)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--no-sync", flags->no_sync, "Append without fsync (default: sync)");
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Where the stores are built (default: the temporary directory)");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    flags->options.sync = !flags->no_sync;
    Result<nlohmann::ordered_json> result = bench::RunMemoryBench(flags->options);
    if (!result.ok()) return result.status();
    if (flags->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatMemoryBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct VectorBenchFlags {
  bench::VectorBenchOptions options;
  bool json = false;
};

void AddVectorBench(CLI::App* bench, CommandTable& commands) {
  auto flags = std::make_shared<VectorBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(
      "vectors", "Recall@10 and speed of the HNSW / IVF-PQ index against exact search");
  cmd->add_option("--data", flags->options.data, "random, lowrank, synthetic or real")
      ->default_val("random");
  cmd->add_option("--n", flags->options.n, "Vectors indexed")->default_val(100000)
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--dim", flags->options.dim, "Dimension (not for real)")->default_val(384)
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--queries", flags->options.queries, "Queries")->default_val(200)
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--index", flags->options.index, "hnsw or ivfpq")->default_val("hnsw");
  cmd->add_option("--ef", flags->options.ef_search, "HNSW efSearch values, comma-separated")
      ->delimiter(',')
      ->default_str("32,64,128,256,512,1024")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--model", flags->options.model, "Embedder for --data real");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> result = bench::RunVectorBench(flags->options);
    if (!result.ok()) return result.status();
    if (flags->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatVectorBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct GenerateBenchFlags {
  bench::GenerateBenchOptions options;
  bool json = false;
};

struct AttentionBenchFlags {
  bench::AttentionBenchOptions options;
  bool json = false;
};

void AddAttentionBench(CLI::App* bench, CommandTable& commands) {
  auto flags = std::make_shared<AttentionBenchFlags>();
  bench::AttentionBenchOptions& o = flags->options;
  CLI::App* cmd = bench->add_subcommand(
      "attention", "Decode ms/token per attention policy against context length (synthetic cache)");
  cmd->add_option("-m,--model", o.model,
                  "A .gguf model, or a model name such as gemma3 (default: the default generator)");
  cmd->add_option("--ctx", o.contexts, "Context lengths, comma-separated")
      ->delimiter(',')
      ->default_str("1024,2048,4096,8192,16384,32768,65536,131072");
  cmd->add_option("--policies", o.policies,
                  "Policies, comma-separated; retrieval+offload: the cache in host memory, the "
                  "GPU attending sinks and window (--device cuda)")
      ->delimiter(',')
      ->default_str("full,quest,retrieval");
  cmd->add_option("--budget", o.budget, "Share of the context attended")->default_val(0.05)
      ->check(FiniteIn(0, 1));
  cmd->add_option("--steps", o.steps, "Decode steps timed per run")->default_val(8)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--sinks", o.sinks, "Sink positions always attended")->default_val(4)
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--window", o.window, "Recent positions always attended")->default_val(240)
      ->check(CLI::Range(0, 1 << 22));
  AddThreadsOption(cmd, &o.threads);
  AddDeviceFlags(cmd, &o.device, &o.gpu);
  cmd->add_option("--work-dir", o.work_dir,
                  "Where the synthetic cache file goes (default: the temporary directory)");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    Result<nlohmann::ordered_json> r = bench::RunAttentionBench(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", r->dump(2).c_str());
    } else {
      std::fputs(bench::FormatAttentionBench(*r).c_str(), stdout);
    }
    return Status::OK();
  });
}

// `bench prefill` and `bench decode` share their flags.
void AddGenerateBench(CLI::App* bench, CommandTable& commands, const char* name,
                      const char* description, bool decode) {
  auto flags = std::make_shared<GenerateBenchFlags>();
  CLI::App* cmd = bench->add_subcommand(name, description);
  cmd->add_option("-m,--model", flags->options.model,
                  "A .gguf model, or a model name such as gemma3 (default: the default generator)");
  cmd->add_option("--ctx", flags->options.contexts, "Context lengths, comma-separated")
      ->delimiter(',')
      ->default_str("512,2048,8192")
      ->check(CLI::Range(1, 1 << 22))
      ->check(CLI::Range(1, 1 << 22));
  if (decode) {
    cmd->add_option("--tokens", flags->options.decode_tokens, "Decode steps timed at each context")
        ->default_val(32)
      ->check(CLI::Range(1, 1 << 20));
  }
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_option("--text", flags->options.text_file,
                  "Text to evaluate (default: the essays in $ENGRAM_SHARED_DATA/haystack)");
  cmd->add_option("--repeat", flags->options.repeat,
                  "Runs per context, median reported (0: 3 up to 2048 tokens, else 1)")
      ->default_val(0)
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--kv-type", flags->options.kv_type, "KV cache entries: f16 or f32")
      ->capture_default_str();
  AddDeviceFlags(cmd, &flags->options.device, &flags->options.gpu);
  if (decode) {
    cmd->add_option("--batch", flags->options.batch,
                    "Sequences decoded together (forks of one prompt); above 1 the single-"
                    "sequence rate is measured too")
        ->default_val(1)
        ->check(CLI::Range(1, 4096));
    cmd->add_flag("--synthetic", flags->options.synthetic,
                  "Decode after a synthetic cache instead of a prefill (speed only; contexts "
                  "beyond the model's window)");
    cmd->add_option("--work-dir", flags->options.work_dir,
                    "Where the synthetic cache file goes (default: the temporary directory)");
  }
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags, decode]() -> Status {
    Result<nlohmann::ordered_json> result =
        decode ? bench::RunDecodeBench(flags->options) : bench::RunPrefillBench(flags->options);
    if (!result.ok()) return result.status();
    if (flags->json) {
      std::printf("%s\n", result->dump(2).c_str());
    } else {
      std::fputs(bench::FormatGenerateBench(*result).c_str(), stdout);
    }
    return Status::OK();
  });
}
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
      ->default_val(5)
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", tokenize->json, "Print one JSON object");
  AddEmbedBench(bench, commands);
  AddMemoryBench(bench, commands);
  AddRetrievalBench(bench, commands);
  AddVectorBench(bench, commands);
  AddGenerateBench(bench, commands, "prefill",
                   "Prompt evaluation tokens/s of the forward pass at given context lengths",
                   false);
  AddAttentionBench(bench, commands);
  AddGenerateBench(bench, commands, "decode",
                   "Single-token decode tokens/s with the cache filled to given context lengths",
                   true);
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
