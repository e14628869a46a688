// `engram eval qa`: answer quality and speed of the QA pipeline (agent/qa.h) per ask mode, on
// real long documents.
//
// Datasets (any of them; each question is asked against its own document only, through
// AskOptions::document):
//   SQuAD v1.1  each article (its paragraphs joined with "\n\n") is one document; the model's
//               answer, citation markers stripped, is scored by SQuAD EM and F1 against every
//               reference answer (bench/qa_metrics.h).
//   L-Eval NQ   natural_question.shared.jsonl: Wikipedia pages of ~18k tokens with short
//               answers; EM and F1 the same way.
//   QuALITY     quality.shared.jsonl: stories of ~6k tokens with 4-option questions; accuracy of
//               QaPipeline::ScoreOptions' choice (chance 1 / options).
// Every selected document goes into one fresh collection (under work_dir), chunked and embedded
// as `engram ingest` does.
//
// Modes: "none", "rag", "long", "auto", and "long:<policy>" / "auto:<policy>" with a decode
// attention policy spec (inference::ParseAttentionPolicy: full, window, quest, retrieval,
// retrieval:exact|ivf|aware); plain "long" and "auto" decode with `attention`. "none" and "rag"
// decode with full attention. One engine is loaded per policy, one pipeline per mode; all share
// one DocumentKvCache (under work_dir), so a document prefilled by one mode is a cache hit
// (loaded from disk) in the modes after it: the cold/cached split of a mode depends on the order.
// In long mode a document that does not fit the context is not truncated: its questions are
// counted as skipped (the pipeline's kOutOfRange).
//
// Selection: --documents M keeps the first M documents of each dataset; --limit N takes at most N questions per dataset spread over its documents
// (question 0 of every document in file order, then question 1, …), then asks them grouped by
// document, so the first question of a document is the cold one. `split` keeps the documents
// of even or odd 0-based index (shared/data/README.md's rule) before that.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct QaEvalOptions {
  std::string squad_file, quality_file, nq_file;  // at least one
  std::vector<std::string> modes = {"none", "rag", "long", "auto"};
  int limit = 0;                 // questions per dataset at most; 0: all
  int documents = 0;             // documents per dataset at most (the first ones); 0: all
  std::string split = "all";     // "all", "even" or "odd" documents
  std::string model;             // generator .gguf; empty: the default
  int64_t ctx = 8192;            // context positions
  int threads = 0;               // 0: one per hardware thread
  std::string device = "cpu";    // cpu, cuda or auto; sparse policies run on the CPU (auto)
  int gpu = 0;
  std::string attention = "retrieval";  // decode policy of "long" and "auto"
  int k = 8;                     // chunks retrieved (AskOptions::k)
  int max_answer_tokens = 64;    // generated tokens per answer at most (SQuAD, NQ)
  int64_t budget_tokens = 0;     // rag: prompt tokens for sources (AskOptions); 0: what is left
  bool compress = false;          // rag: compress sources that do not fit (AskOptions::compress)
  // QuALITY: pick the option with the highest mean log-probability per token (true) or the
  // highest summed log-probability (false). Both accuracies are reported either way.
  bool length_normalise = true;
  std::string embedder;  // empty: the default (all-MiniLM-L6-v2)
  std::string work_dir;  // collection + KV cache; empty: a temporary directory, removed after
  int examples = 3;      // answers shown per dataset and mode in the JSON ("examples")
};

// Checks the options without loading anything: at least one dataset, known modes and policies,
// the split, limits. kInvalidArgument naming the flag.
Status ValidateQaEvalOptions(const QaEvalOptions& options);

// {"modes": {"<mode>": {"squad_em", "squad_f1", "squad_contains", "quality_accuracy",
//   "quality_accuracy_sum", "quality_accuracy_mean", "quality_chance", "nq_em", "nq_f1",
//   "nq_contains", "ttft_ms_cold", "ttft_ms_cached", "answers_cold", "answers_cached",
//   "prefill_ms_cold", "answers_loaded_from_disk", "cache_load_ms",
//   "tokens_per_answer", "sources_per_answer", "answers_compressed", "compress_ms",
//   "seconds_per_question", "questions", "skipped", "<dataset>_skipped",
//   "attention", "examples": [...]}, ...},
//  "datasets": {...}, "config": {...}, "model", "commit", "machine"}
// Keys of a dataset appear when its file was given; a figure with no question behind it is null.
Result<nlohmann::ordered_json> RunQaEval(const QaEvalOptions& options);

std::string FormatQaEval(const nlohmann::ordered_json& result);

}  // namespace engram::bench
