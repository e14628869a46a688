// `engram bench tokenize`: encode and decode throughput of a model's tokenizer on real text,
// one thread, the way ingest and prompt building use it (paragraph by paragraph).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct TokenizeBenchOptions {
  std::string model;               // .gguf / .model / vocab.txt / BERT dir; empty: default model
  std::vector<std::string> files;  // text files; empty: the essays under ENGRAM_SHARED_DATA
  int repetitions = 5;             // timed passes over all paragraphs; the median is reported
};

// {"bench": "tokenize", "model", "tokenizer", "paragraphs", "bytes", "tokens",
//  "load_s", "encode_s_median", "encode_mb_per_s", "encode_tokens_per_s",
//  "decode_s_median", "decode_mb_per_s", "repetitions", "threads": 1, "commit", "machine"}
Result<nlohmann::ordered_json> RunTokenizeBench(const TokenizeBenchOptions& options);

// The readable form of the result.
std::string FormatTokenizeBench(const nlohmann::ordered_json& result);

}  // namespace engram::bench
