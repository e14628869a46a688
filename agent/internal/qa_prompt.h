// The prompts of the QA pipeline (agent/qa.h) and how sources are packed into them. The peer in
// bench/peer_qa.py uses the same strings, so a comparison measures the pipelines, not prompts.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inference/engine.h"
#include "retrieval/collection.h"

namespace engram::agent::internal {

// rag: the system message, then the user message "Sources:\n\n[1] …\n\n[2] …\n\nQuestion: …".
inline constexpr std::string_view kRagInstruction =
    "Answer the question using only the numbered sources. Cite the sources you use by their "
    "numbers in brackets, like [1]. If the sources do not contain the answer, say that you do "
    "not know. Keep the answer short.";
// long: the system message, then "Document: <title>\n\n<text>\n\n…Question: …".
inline constexpr std::string_view kLongInstruction =
    "Answer the question using only the document. If the document does not contain the answer, "
    "say that you do not know. Keep the answer short.";
// none: the model alone.
inline constexpr std::string_view kBareInstruction = "Answer the question. Keep the answer short.";

// A numbered source in a rag prompt: one chunk, or overlapping chunks of one document merged.
struct Source {
  int number = 0;  // [number] in the prompt
  uint64_t document = 0;
  std::string source, title;
  size_t begin = 0, end = 0;  // byte span in the document's text
  std::string text;
  double score = 0;  // the best hit's
  // Compressed (agent/qa.h's AskOptions::compress): the document's byte spans `text` holds, in
  // order, and the most relevant of them; empty: text is the whole of begin..end.
  std::vector<std::pair<size_t, size_t>> spans;
  std::pair<size_t, size_t> quote{0, 0};
};

// Chooses hits best first while their tokens fit `budget_tokens` (a hit that does not fit is
// skipped, a smaller one may still), merges overlapping or touching spans of one document, and
// numbers the sources in document order (by document id, then position). `skipped` (optional)
// receives how many hits did not fit.
std::vector<Source> PackSources(std::span<const retrieval::SearchHit> hits, int64_t budget_tokens,
                                const std::function<int64_t(std::string_view)>& count_tokens,
                                size_t* skipped = nullptr);

// Tokens a source costs in the prompt beyond its text ("[n] " and the blank line).
inline constexpr int64_t kSourceOverheadTokens = 4;

std::string SourcesBlock(std::span<const Source> sources);  // "Sources:\n\n[1] …\n\n"
std::string QuestionBlock(std::string_view question);       // "Question: …"

// A chat prompt: the system `instruction`, then one user message made of `segments` (each
// encoded as plain text, so user text cannot inject template tokens), then the opening of the
// assistant's turn. `segment_starts` (optional) receives where each segment's tokens begin, so
// a caller can cache the prefix that ends before the last segment.
std::vector<int32_t> ChatPrompt(const inference::Engine& engine, std::string_view instruction,
                                std::span<const std::string> segments,
                                std::vector<size_t>* segment_starts = nullptr);

}  // namespace engram::agent::internal
