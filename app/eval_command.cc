// engram eval <what> [--json]: quality figures on real data (docs/benchmarks.md records them).
//   engram eval retrieval --squad FILE [--distractors PATH…] [--max-questions N] [--model DIR]
//                         [--precision auto|f32|bf16|int8] [--threads N] [--chunk-tokens N]
//                         [--overlap-tokens N] [--no-titles] [--no-stemming] [--work-dir DIR]
//                         [--no-sentence-vectors] [--fusion-sweep]
//                         [--cross-validate]
//                         [--rerank N] [--reranker lm] [--json]
//   engram eval attention [-m MODEL] [--ctx 2048,4096,8192] [--policies
//   full,window,quest,retrieval]
//                         [--budgets 0.01,0.02,0.05,0.1] [--steps 256] [--depths 10]
//                         [--texts essays,leval] [--sinks 4] [--window 240] [--threads N] [--json]
//                         (policies: full, window, quest, retrieval[:exact|ivf|aware], and the KV
//                         retention policies snapkv and h2o, which evict keys for good)
//   engram eval memory --locomo FILE [--k 5,10,25] [--model DIR] [--precision P] [--threads N]
//                      [--no-sync] [--work-dir DIR] [--weight-sweep] [--cross-validate]
//                      [--dated-embeddings] [--no-captions] [--rerank N] [--question-stride N]
//                      [--json]
//   engram eval qa [--squad FILE] [--quality FILE] [--nq FILE] [--modes none,rag,long,auto]
//                  [--limit N] [--documents N] [--split all|even|odd] [--k K] [-m MODEL] [--ctx N]
//                  [--threads N]
//                  [--attention POLICY] [--max-answer-tokens N] [--budget-tokens N] [--compress]
//                  [--quality-choice mean|sum]
//                  [--embedder DIR] [--work-dir DIR] [--examples N] [--json]
//   engram eval compress [--squad FILE] [--nq FILE] [--ratios 2,4,8] [--methods …] [--limit N]
//                        [--split all|even|odd] [--no-f1] [--dense] [--fine-share F]
//                        [--fine-scope S] [--contrast-weight W] [--dump-cases FILE]
//                        [--peer FILE] [-m MODEL] [--ctx N] [--threads N] [--json]
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "app/engine_flags.h"
#include "common/json_write.h"
#include "bench/attention_eval.h"
#include "bench/compress_eval.h"
#include "bench/memory_eval.h"
#include "bench/qa_eval.h"
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
  cmd->add_option("--precision", flags->options.precision, "Embedder precision: auto, f32, bf16 or int8")
      ->default_val("auto");
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_flag("--no-sync", flags->no_sync, "Append without fsync (default: sync, as served)");
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Where the temporary store goes (default: the temporary directory)");
  cmd->add_flag("--weight-sweep", flags->options.weight_sweep,
                "Also score a grid of index texts and recall weights (to pick defaults)");
  cmd->add_flag("--cross-validate", flags->options.cross_validate,
                "Also report recall with weights chosen leaving each conversation out");
  cmd->add_flag("--dated-embeddings", flags->options.dated_embeddings,
                "Embed each turn with its date first (StoreOptions::embed_date)");
  cmd->add_flag("--no-captions{false}", flags->options.captions,
                "Leave out the captions of shared images (default: appended to their turns)");
  cmd->add_option("--rerank", flags->options.rerank,
                  "Also rerank the first N episodes with the language model (slow)")
      ->default_val(0)
      ->check(CLI::Range(0, 100));
  cmd->add_option("--question-stride", flags->options.question_stride,
                  "Use every Nth question (a sample over all conversations, for the reranker)")
      ->default_val(1)
      ->check(CLI::Range(1, 1 << 20));
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
      "attention",
      "Sparse decode attention and KV retention policies against full attention on long real text");
  cmd->add_option("-m,--model", o.model,
                  "A .gguf model, or a model name such as gemma3 (default: the default generator)");
  cmd->add_option("--ctx", o.contexts, "Context lengths, comma-separated")
      ->delimiter(',')
      ->default_str("2048,4096,8192")
      ->check(CLI::Range(1, 1 << 22));
  cmd->add_option("--policies", o.policies,
                  "full, window, quest, retrieval (retrieval:exact|ivf|aware), or the KV retention "
                  "policies snapkv, h2o; comma-separated")
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

struct QaEvalFlags {
  bench::QaEvalOptions options;
  std::string quality_choice = "mean";
  bool json = false;
};

void AddQaEval(CLI::App* eval, CommandTable& commands) {
  auto flags = std::make_shared<QaEvalFlags>();
  bench::QaEvalOptions& o = flags->options;
  CLI::App* cmd = eval->add_subcommand(
      "qa", "Answer quality and speed per ask mode on SQuAD, L-Eval QuALITY and L-Eval NQ");
  cmd->add_option("--squad", o.squad_file, "A SQuAD v1.1 JSON file (whole articles as documents)");
  cmd->add_option("--quality", o.quality_file, "L-Eval quality.shared.jsonl (multiple choice)");
  cmd->add_option("--nq", o.nq_file, "L-Eval natural_question.shared.jsonl");
  cmd->add_option("--modes", o.modes,
                  "none, rag, long, auto, long:<policy>, auto:<policy>, comma-separated")
      ->delimiter(',')
      ->default_str("none,rag,long,auto");
  cmd->add_option("--limit", o.limit,
                  "Questions per dataset at most, spread over its documents (0: all)")
      ->default_val(0)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--documents", o.documents,
                  "Documents per dataset at most, the first ones in file order (0: all)")
      ->default_val(0)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--split", o.split, "Documents: all, even or odd 0-based index")
      ->default_val("all")
      ->check(CLI::IsMember({"all", "even", "odd"}));
  cmd->add_option("--k", o.k, "Chunks retrieved per question")->default_val(8);
  cmd->add_option(
      "-m,--model", o.model,
      "A .gguf generator, or a model name such as gemma3 (default: the default generator)");
  cmd->add_option("--ctx", o.ctx, "Context length (0: the model's training context)")
      ->default_val(8192)
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 22));
  AddThreadsOption(cmd, &o.threads);
  AddDeviceFlags(cmd, &o.device, &o.gpu);
  cmd->add_option("--attention", o.attention,
                  "Decode attention of long and auto: full, window, quest, retrieval[:exact|ivf|aware]")
      ->default_val("retrieval");
  cmd->add_option("--max-answer-tokens", o.max_answer_tokens, "Tokens generated per answer at most")
      ->default_val(64)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--budget-tokens", o.budget_tokens,
                  "rag: prompt tokens for sources (0: what the context leaves)")
      ->default_val(0)
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 22));
  cmd->add_flag("--compress,!--no-compress", flags->options.compress,
                "rag: compress more chunks question-aware into the source budget instead of "
                "leaving out those that do not fit (off by default, as in ask)");
  cmd->add_option("--quality-choice", flags->quality_choice,
                  "QuALITY: pick by mean log-probability per token (mean) or summed (sum)")
      ->default_val("mean")
      ->check(CLI::IsMember({"mean", "sum"}));
  cmd->add_option("--embedder", o.embedder, "Embedder directory (default: all-MiniLM-L6-v2)");
  cmd->add_option("--work-dir", o.work_dir,
                  "Keep the collection and KV cache in DIR/engram-eval-qa (default: a temporary directory)");
  cmd->add_option("--examples", o.examples, "Answers shown per dataset and mode in the JSON")
      ->default_val(3)
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    flags->options.length_normalise = flags->quality_choice == "mean";
    if (Status s = bench::ValidateQaEvalOptions(flags->options); !s.ok()) return s;
    Result<nlohmann::ordered_json> r = bench::RunQaEval(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", JsonText(*r, 2).c_str());
    } else {
      std::fputs(bench::FormatQaEval(*r).c_str(), stdout);
    }
    return Status::OK();
  });
}

struct CompressEvalFlags {
  bench::CompressEvalOptions options;
  bool no_f1 = false;
  bool json = false;
};

void AddCompressEval(CLI::App* eval, CommandTable& commands) {
  auto flags = std::make_shared<CompressEvalFlags>();
  bench::CompressEvalOptions& o = flags->options;
  CLI::App* cmd = eval->add_subcommand(
      "compress", "Prompt compression methods: answer survival, QA F1, latency, per ratio");
  cmd->add_option("--squad", o.squad_file, "A SQuAD v1.1 JSON file (whole articles as contexts)");
  cmd->add_option("--nq", o.nq_file, "L-Eval natural_question.shared.jsonl");
  cmd->add_option("--ratios", o.ratios, "Compression ratios, comma-separated")
      ->delimiter(',')
      ->default_str("2,4,8")
      ->check(FiniteIn(1, compress::kMaxCompressionRatio, /*lo_open=*/true));
  cmd->add_option("--methods", o.methods,
                  "engram, engram-fine, random, first, retrieval-only, comma-separated")
      ->delimiter(',')
      ->default_str("engram,engram-fine,random,first,retrieval-only");
  cmd->add_option("--limit", o.limit, "Questions per dataset at most, spread over its documents (0: all)")
      ->default_val(o.limit)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--split", o.split, "Documents: all, even or odd 0-based index")
      ->default_val("all")
      ->check(CLI::IsMember({"all", "even", "odd"}));
  cmd->add_flag("--no-f1", flags->no_f1, "Skip answering (survival and latency only; fast)");
  cmd->add_flag("--dense", o.dense, "engram ranks sentences by embedding similarity too (slower)");
  cmd->add_option("--fine-share", o.compress.fine_share, "engram: the word-level stage's share")
      ->default_val(o.compress.fine_share)
      ->check(FiniteIn(0, 4));
  cmd->add_option("--fine-scope", o.compress.fine_scope,
                  "engram: tokens the word-level stage reads per token it drops")
      ->default_val(o.compress.fine_scope)
      ->check(FiniteIn(1, 100));
  cmd->add_option("--contrast-weight", o.compress.contrast_weight,
                  "engram: weight of the question's contrast against self-information")
      ->default_val(o.compress.contrast_weight)
      ->check(FiniteIn(0, 100));
  cmd->add_option("--dense-weight", o.compress.coarse.dense_weight,
                  "engram: embedding similarity against BM25 in sentence relevance")
      ->default_val(o.compress.coarse.dense_weight)
      ->check(FiniteIn(0, 1));
  cmd->add_option("--document-weight", o.compress.coarse.document_weight,
                  "engram: how much a document's relevance lifts its sentences")
      ->default_val(o.compress.coarse.document_weight)
      ->check(FiniteIn(0, 100));
  cmd->add_option("--dump-cases", o.dump_cases, "Write the cases as JSONL (for bench/peer_llmlingua.py)");
  cmd->add_option("--peer", o.peer_file, "A peer's compressed contexts (JSONL) to score beside engram's");
  cmd->add_option("-m,--model", o.model,
                  "A .gguf generator and scorer, or a model name such as gemma3 (default: the "
                  "default generator)");
  cmd->add_option("--ctx", o.ctx, "Context of the answering model")
      ->default_val(o.ctx)
      ->check(CLI::Range(int64_t{256}, int64_t{1} << 22));
  AddThreadsOption(cmd, &o.threads);
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  commands.Add(cmd, [flags]() -> Status {
    flags->options.f1 = !flags->no_f1;
    Result<nlohmann::ordered_json> r = bench::RunCompressEval(flags->options);
    if (!r.ok()) return r.status();
    if (flags->json) {
      std::printf("%s\n", JsonText(*r, 2).c_str());
    } else {
      std::fputs(bench::FormatCompressEval(*r).c_str(), stdout);
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
  AddQaEval(eval, commands);
  AddCompressEval(eval, commands);
  auto flags = std::make_shared<RetrievalEvalFlags>();
  CLI::App* cmd = eval->add_subcommand(
      "retrieval", "Recall of the gold paragraph for SQuAD questions, bm25 / dense / hybrid");
  cmd->add_option("--squad", flags->options.squad_file, "A SQuAD-format JSON file")->required();
  cmd->add_option("--distractors", flags->options.distractors,
                  "Extra documents: text files, or L-Eval .jsonl files (their \"input\" fields)");
  cmd->add_option("--max-questions", flags->options.max_questions, "Use the first N questions (0: all)")
      ->default_val(0)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--question-stride", flags->options.question_stride,
                  "Use every Nth question (a sample spread over all articles, for slow rerankers)")
      ->default_val(1)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--model", flags->options.model, "Embedder (default: all-MiniLM-L6-v2)");
  cmd->add_option("--precision", flags->options.precision, "Embedder precision: auto, f32, bf16 or int8")
      ->default_val("auto");
  AddThreadsOption(cmd, &flags->options.threads);
  cmd->add_option("--chunk-tokens", flags->options.chunk_tokens, "Chunk budget in word pieces")
      ->default_val(200)
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--overlap-tokens", flags->options.overlap_tokens,
                  "Word pieces a chunk repeats from the one before")
      ->default_val(40)
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--work-dir", flags->options.work_dir,
                  "Build the collection here and keep it (default: a temporary directory)");
  cmd->add_flag("--no-titles{false}", flags->options.titles,
                "Index chunks without their article's title (default: with it)");
  cmd->add_flag("--no-stemming{false}", flags->options.stemming,
                "Index and search BM25 terms unstemmed (default: Snowball english stems)");
  cmd->add_flag("--no-sentence-vectors{false}", flags->options.sentence_vectors,
                "Store no sentence vectors with the chunks (default: stored, for the rescoring)");
  cmd->add_flag("--fusion-sweep", flags->options.fusion_sweep,
                "Also score several hybrid fusions of the same candidates (to pick defaults)");
  cmd->add_flag("--cross-validate", flags->options.cross_validate,
                "Also report recall with the fusion chosen leaving each article out");
  cmd->add_option("--rerank", flags->options.rerank,
                  "Also rerank hybrid's first N chunks (see --reranker)")
      ->default_val(0)
      ->check(CLI::Range(0, 50));
  cmd->add_option("--reranker", flags->options.reranker,
                  "lm: the default language model's question likelihood (slow)")
      ->default_val("lm")
      ->check(CLI::IsMember({"lm"}));
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
