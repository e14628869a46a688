// Readers for the evaluation data files the evals and benchmarks take (SQuAD JSON, L-Eval
// JSONL, plain text). They read through common/input_file.h and common/json_read.h, so a
// directory, a FIFO, a device, an oversized file or a wrong-typed field is a clear
// kInvalidArgument naming the file and field, never a crash or a hang.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct SquadParagraph {
  std::string context;
  std::vector<std::string> questions;
};

struct SquadArticle {
  std::string title;
  std::vector<SquadParagraph> paragraphs;
};

// A SQuAD v1.1 file: {"data": [{"title", "paragraphs": [{"context", "qas": [{"question"}]}]}]}.
// `what` names the caller in messages ("eval retrieval").
Result<std::vector<SquadArticle>> ReadSquad(const std::string& path, std::string_view what);
// The same from a parsed document; `where` names it in messages.
Result<std::vector<SquadArticle>> ParseSquad(const nlohmann::json& doc, std::string where);

// The "input" text of each non-empty line of an L-Eval style JSONL file, at most `max_lines`
// (0: all).
Result<std::vector<std::string>> ReadJsonlInputs(const std::string& path, std::string_view what,
                                                 size_t max_lines = 0);

// A whole text file (regular files only, bounded).
Result<std::string> ReadTextFile(const std::string& path, std::string_view what);

}  // namespace engram::bench
