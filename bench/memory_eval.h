// `engram eval memory`: evidence recall of the episodic store on LoCoMo.
//
// Each conversation (sample_id) becomes one namespace of a fresh store; each turn of each
// session_N one episode ("<speaker>: <text> [shared <image caption>]", bench/locomo.h; dia_id as
// metadata, the session's date and time as timestamp). For every question with evidence, Recall
// with the question (recency measured from the conversation's last session) and report evidence
// recall@k: the share of the question's evidence dialog ids among the top k episodes, averaged
// over questions, overall and per LoCoMo category; for the combined score and for dense-only and
// bm25-only recall. Also: append and recall latency (the embedding is computed beforehand, in
// batches, and timed separately).
//
// The defaults were chosen on these same conversations, so their in-sample figure is
// optimistic. --cross-validate reports the honest one: leave one conversation out, choose the
// candidate configuration (weights, conversational context, BM25 feedback, role weight) with the
// best recall@10 on the other four, score the fifth with it; "cross_validated" holds the
// held-out figures (per fold, pooled, and averaged over folds) and "ablation", the same with
// the choice restricted to each subset of those techniques.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct MemoryEvalOptions {
  std::string locomo_file;
  std::vector<int> ks = {5, 10, 25};
  std::string model;  // embedder; empty: the default
  std::string precision = "auto";
  int threads = 0;
  bool sync = true;   // the store's durability setting while appending
  std::string work_dir;  // the store goes to <work_dir>/engram-eval-memory-<pid>, then is removed
  // Also score a grid of configurations (key "weight_sweep"), to choose the defaults: one store
  // per BM25 index text (StoreOptions::index_context_turns, ::index_date), built from the same
  // embeddings, and the recall weights and feedback on each.
  bool weight_sweep = false;
  // Also choose among that grid (and the defaults) by leaving one conversation out (key
  // "cross_validated": the held-out recall@k pooled over questions, "mean_over_folds", per
  // category, each fold's choice, and "ablation": the same with the choice restricted to each
  // subset of techniques).
  bool cross_validate = false;
  // Embed each turn with its date first (memory::EmbeddingText, StoreOptions::embed_date), to
  // measure what the date adds.
  bool dated_embeddings = false;
  // Append each shared image's caption to its turn (LocomoReadOptions::captions). False
  // reproduces the figures before issue 24's third session, which read the text alone.
  bool captions = true;
  // > 0: also rerank the combined score's first N episodes with the default language model
  // (inference/lm_reranker.h), the reranker's weight chosen leaving one conversation out (key
  // "reranked": held-out figures, per-weight figures, the reranker's cost per query).
  int rerank = 0;
  // Score every Nth question (1: all, counted over all conversations, so each keeps its share),
  // so that the slow reranker can be measured on a sample.
  int question_stride = 1;
};

// {"combined"|"bm25"|"dense": {"recall@5", ..., "by_category": {"1": {...}, ...}},
//  "append_ms_p50", "append_ms_p99", "recall_ms_p50", "recall_ms_p99", "embed_s", "questions",
//  "episodes", "namespaces", "config", "commit", "machine"}, plus "weight_sweep" and
//  "cross_validated" when asked for.
Result<nlohmann::ordered_json> RunMemoryEval(const MemoryEvalOptions& options);

std::string FormatMemoryEval(const nlohmann::ordered_json& result);

}  // namespace engram::bench
