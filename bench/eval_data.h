// Readers for the evaluation data files the evals and benchmarks take (SQuAD JSON, L-Eval
// JSONL, plain text). They read through common/input_file.h and common/json_read.h, so a
// directory, a FIFO, a device, an oversized file or a wrong-typed field is a clear
// kInvalidArgument naming the file and field, never a crash or a hang.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct SquadQuestion {
  std::string id;
  std::string question;
  std::vector<std::string> answers;  // the reference answers' texts, in file order
};

struct SquadParagraph {
  std::string context;
  std::vector<std::string> questions;  // the questions' texts (== qas[i].question)
  std::vector<SquadQuestion> qas;
};

struct SquadArticle {
  std::string title;
  std::vector<SquadParagraph> paragraphs;
};

// A SQuAD v1.1 file: {"data": [{"title", "paragraphs": [{"context", "qas": [{"question", "id",
// "answers": [{"text"}]}]}]}]}. "id" and "answers" may be absent (empty then).
// `what` names the caller in messages ("eval retrieval").
Result<std::vector<SquadArticle>> ReadSquad(const std::string& path, std::string_view what);
// The same from a parsed document; `where` names it in messages.
Result<std::vector<SquadArticle>> ParseSquad(const nlohmann::json& doc, std::string where);

// The "input" text of each non-empty line of an L-Eval style JSONL file, at most `max_lines`
// (0: all).
Result<std::vector<std::string>> ReadJsonlInputs(const std::string& path, std::string_view what,
                                                 size_t max_lines = 0);

// One line of an L-Eval JSONL file: the document and its questions with their gold answers.
struct LevalDocument {
  std::string input;
  std::vector<std::string> instructions;
  std::vector<std::string> outputs;  // same length as instructions
};

// Every non-empty line of an L-Eval JSONL file ("input", "instructions" and "outputs", the
// latter two arrays of strings of one length; kInvalidArgument naming the line otherwise).
Result<std::vector<LevalDocument>> ReadLevalFile(const std::string& path, std::string_view what);

// Picks at most `limit` (0: all) questions of documents holding `per_document` questions each:
// question 0 of every document, then question 1, ...; returned as (document, question) pairs
// sorted by document.
std::vector<std::pair<size_t, size_t>> SpreadQuestions(const std::vector<size_t>& per_document,
                                                       int limit);

// A whole text file (regular files only, bounded).
Result<std::string> ReadTextFile(const std::string& path, std::string_view what);

}  // namespace engram::bench
