// Sentence-aware, token-budgeted chunking of document text (the step between
// retrieval/document_parser.h and embedding).
//
//   auto count = [&](std::string_view s) { return embedder.CountTokens(s); };
//   Result<std::vector<TextChunk>> chunks = ChunkText(doc.text, ChunkOptions{}, count);
//   for (const TextChunk& c : *chunks) Embed(doc.text.substr(c.begin, c.end - c.begin));
//
// Sentences end after . ! ? (and any closing quotes or brackets) followed by white space or the
// end of the text, unless that looks like an abbreviation ("e.g.", "Dr.", "U.S.", a capital
// initial, or a next word in lower case); after the CJK marks 。！？ (white space or not); and at
// blank lines (two or more line breaks, form feed, U+2029). Whole sentences are packed into
// chunks of at most max_tokens; a sentence longer than that is cut at white space (or, in text
// without spaces such as CJK, at UTF-8 character boundaries) into pieces that fit.
//
// Promises, for any text and any count_tokens:
//  - chunk text == text.substr(begin, end - begin); chunks are in text order (begin and end
//    strictly increase), never start or end with white space (ASCII or Unicode White_Space);
//  - every byte that is not white space lies in at least one chunk;
//  - tokens == count_tokens(chunk text) and tokens <= max_tokens;
//  - consecutive chunks share at most whole trailing sentences of the earlier chunk whose
//    counts (without special tokens) add up to at most overlap_tokens; pieces of a cut sentence
//    are never repeated.
// Empty or whitespace-only text gives no chunks.
//
// Cost: count_tokens is called about once per sentence plus once per chunk of several units
// (and again only when the estimate overshot); everything else is linear in the text length.
// The text is not copied. Thread safety: a pure function; count_tokens must be callable from the
// calling thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::retrieval {

struct ChunkOptions {
  // Tokens per chunk at most, counted with count_tokens (special tokens included); must be <=
  // the embedder's limit (Embedder::MaxTokens). Default 200.
  int max_tokens = 200;
  // Tokens (without special tokens) of trailing whole sentences repeated at the start of the
  // next chunk; 0: none. Default 40.
  int overlap_tokens = 40;
};

struct TextChunk {
  size_t begin = 0,
         end = 0;  // byte offsets into the text: chunk text == text.substr(begin, end - begin)
  int tokens = 0;  // count_tokens of the chunk text
};

// A byte range of a text: text.substr(begin, end - begin).
struct TextSpan {
  size_t begin = 0, end = 0;
};

// The sentences of `text` by the rule above, trimmed of white space, non-empty, in text order
// (what ChunkText packs into chunks; prompt compression ranks them one by one).
std::vector<TextSpan> SplitSentences(std::string_view text);

// Chunks `text` (UTF-8; invalid bytes are tolerated and treated as ordinary characters).
//
// count_tokens(s) returns the tokens s takes including special tokens (e.g. 2 for BERT's [CLS]
// [SEP] on ""). A chunk's size is estimated as the sum of its units' counts minus the specials
// each adds (count_tokens("")), then the chunk text is counted once; when the estimate
// overshot, the last unit moves to the next chunk.
//
// kInvalidArgument when max_tokens <= count_tokens("") + 1, overlap_tokens < 0, overlap_tokens
// >= max_tokens, count_tokens is empty, or a single character needs more than max_tokens.
Result<std::vector<TextChunk>> ChunkText(std::string_view text, const ChunkOptions& options,
                                         const std::function<int(std::string_view)>& count_tokens);

}  // namespace engram::retrieval
