// `engram eval retrieval`: recall of the gold paragraph for SQuAD questions, per search mode.
//
// A fresh collection (in a temporary directory) receives every paragraph of a SQuAD-format file
// as one document, plus optional distractor documents (text files, or the "input" field of each
// line of an L-Eval .jsonl file). Every question is then searched in bm25, dense and hybrid mode;
// hits are reduced to documents in rank order, and the rank of the question's paragraph gives
// recall@1/5/20 and MRR@10. Also reported: ingest throughput and query latency per mode.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct RetrievalEvalOptions {
  std::string squad_file;
  std::vector<std::string> distractors;  // text files or L-Eval .jsonl files
  std::string model;                     // embedder; empty: the default
  std::string precision = "auto";
  int threads = 0;
  int max_questions = 0;  // 0: all
  // Keep every Nth question (1: all), so that a slow reranker can be measured on a sample spread
  // over every article (each fold keeps its questions); applied before max_questions.
  int question_stride = 1;
  int chunk_tokens = 200;
  int overlap_tokens = 40;
  // Index each chunk with its paragraph's article title (CollectionOptions::index_title; SQuAD's
  // "Super_Bowl_50" read as "Super Bowl 50"). False: the chunk text alone, as before issue 24's
  // third session.
  bool titles = true;
  // Stem BM25's terms (CollectionOptions::stemming, english). False: as before issue 24's sixth
  // session.
  bool stemming = true;
  // Store each chunk's sentence vectors (CollectionOptions::sentence_vectors). False: as before
  // issue 24's seventh session (the rescoring then counts a chunk's cosine as its best
  // sentence's).
  bool sentence_vectors = true;
  std::string work_dir;   // where the collection is built; empty: a temporary directory
  // Also score several fusions of the same bm25 and dense candidate lists (key "fusion_sweep"),
  // to choose hybrid's defaults.
  bool fusion_sweep = false;
  // Also choose among those fusions (and hybrid's own) leaving one SQuAD article out (key
  // "cross_validated": recall@1/5/20 and mrr@10 of the held-out questions, pooled and
  // "mean_over_folds", and how many folds chose each fusion).
  bool cross_validate = false;
  // > 0: also rerank hybrid's first N chunks (with `reranker`), the reranker's weight chosen leaving one article out (key
  // "reranked": held-out figures, per-weight figures, the reranker's cost per query).
  int rerank = 0;
  std::string reranker = "lm";  // lm (inference/lm_reranker.h), the only one
};

// {"bm25": {...}, "dense": {...}, "hybrid": {...}, "ingest_paragraphs_per_s", "questions",
//  "paragraphs", "distractor_documents", "chunks", "config": {...}, "commit", "machine"}; each
// mode holds "recall@1", "recall@5", "recall@20", "mrr@10", "query_ms_p50", "query_ms_p99".
Result<nlohmann::ordered_json> RunRetrievalEval(const RetrievalEvalOptions& options);

std::string FormatRetrievalEval(const nlohmann::ordered_json& result);

}  // namespace engram::bench
