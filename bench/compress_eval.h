// `engram eval compress`: prompt compression methods on real QA data, at several ratios, with the
// same budget each (floor(tokens in / ratio) generator tokens):
//   engram          compress::Compress as `engram compress` runs it: sentences by BM25 relevance
//                   (plus embedding similarity with --dense), whole
//   engram-fine     the same, then words dropped by the language model (`engram compress --fine`)
//   random          random sentences (seeded per question) in their original order
//   first           truncation: the first tokens of the documents
//   retrieval-only  whole retrieval chunks (200 tokens) by hybrid relevance (BM25 and the
//                   embedder, as a collection searches), in their original order
// and, with --peer FILE, the compressed contexts a peer wrote (bench/peer_llmlingua.py) for the
// same cases, scored by the same code. Per ratio and method:
//   answer_survival  share of questions whose gold answer (SQuAD-normalised, whole tokens) is
//                    still in the compressed context
//   f1               SQuAD F1 of the default generator's answer from the compressed context
//                    (greedy; the context is cut to the model's window when it does not fit)
//   latency_ms_p50/p99, tokens_in, tokens_out (means)
// Cases: SQuAD questions with their whole article as the documents (one per paragraph), and
// L-Eval NQ questions with their page cut into chunks of --nq-chunk-tokens as the documents.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "compress/compressor.h"

namespace engram::bench {

struct CompressEvalOptions {
  std::string squad_file;  // SQuAD v1.1 JSON
  std::string nq_file;     // L-Eval natural_question jsonl
  std::vector<double> ratios = {2, 4, 8};
  std::vector<std::string> methods = {"engram", "engram-fine", "random", "first",
                                      "retrieval-only"};
  int limit = 20;             // questions per dataset, spread over its documents (0: all)
  std::string split = "all";  // documents: all, even or odd 0-based index
  bool f1 = true;             // generate answers (the slow part)
  int max_answer_tokens = 32;
  std::string model;  // .gguf generator and scorer; empty: the default
  int64_t ctx = 8192;
  int threads = 0;
  compress::CompressOptions compress;  // engram's options (ratio and budget set per run)
  bool dense = false;                  // engram ranks sentences with the embedder too
  int nq_chunk_tokens = 256;
  std::string dump_cases;  // write the cases as JSONL (for the peer) and go on
  std::string peer_file;   // a peer's compressed contexts (JSONL) to score beside engram's
};

Status ValidateCompressEvalOptions(const CompressEvalOptions& options);

// {"eval": "compress", "model", "cases": {"squad", "nq"}, "ratios": {"4": {"engram":
//  {"answer_survival", "f1", "latency_ms_p50", "latency_ms_p99", "tokens_in", "tokens_out",
//  "cases"}, "random": {…}, …}, …}, "options", "commit", "machine"}
Result<nlohmann::ordered_json> RunCompressEval(const CompressEvalOptions& options);
std::string FormatCompressEval(const nlohmann::ordered_json& result);

}  // namespace engram::bench
