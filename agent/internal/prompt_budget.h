// Fitting an agent turn's prompt into its token budget. The pieces come ranked; when they do not
// all fit, the oldest history messages go first; then, given a SourceShortener, the sources are
// compressed to the room the instruction, the memories and the user's message leave; then the
// lowest-ranked memories and sources go (alternately). The system instruction and the user's
// message are never cut or compressed (when those two alone do not fit: kInvalidArgument).
// Older history is not lost: it comes back through recall.
//
//   PromptParts parts{.instruction = "Be brief.", .memories = {...}, .history = {...},
//                     .user = "Where does Ana live?"};
//   Result<FittedPrompt> p = FitPrompt(parts, 3840, count, shorten);  // count: a prompt's tokens
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "inference/chat_template.h"

namespace engram::agent::internal {

struct PromptParts {
  std::string instruction;                      // system prompt (with tool instructions), never cut
  std::vector<std::string> memories;            // formatted lines, best first
  std::vector<std::string> sources;             // source texts, best first (numbered in the prompt)
  std::vector<inference::ChatMessage> history;  // oldest first
  std::string user;                             // never cut
};

struct FittedPrompt {
  std::vector<inference::ChatMessage> messages;  // system, kept history, user
  std::vector<size_t> memories;  // indexes into PromptParts::memories that were kept
  std::vector<size_t> sources;   // indexes into PromptParts::sources that were kept
  bool sources_compressed = false;  // the kept sources are shortened (SourceShortener)
  size_t history_dropped = 0;    // oldest messages left out
  int64_t tokens = 0;            // count(messages)
};

// The tokens a whole prompt takes (the engine: EncodeChat(messages).size()).
using PromptCounter = std::function<int64_t(std::span<const inference::ChatMessage>)>;

// The system message for the kept pieces: the instruction, "Things you remember from
// earlier:" with one memory per line, and "Sources:" with [n] before each source.
std::string SystemMessage(const PromptParts& parts, std::span<const size_t> memories,
                          std::span<const size_t> sources);

// Shortens `sources` (best first) so that their texts take at most `budget_tokens` tokens
// together: (index into sources, shortened text) of those that kept any text, in order. An error
// leaves the sources as they were (they are then dropped to fit, as without a shortener).
using SourceShortener = std::function<Result<std::vector<std::pair<size_t, std::string>>>(
    std::span<const std::string> sources, int64_t budget_tokens)>;

// The largest prompt (by the order above) with count(messages) <= budget_tokens. `shorten`
// (optional) compresses the sources instead of dropping them.
Result<FittedPrompt> FitPrompt(const PromptParts& parts, int64_t budget_tokens,
                               const PromptCounter& count, const SourceShortener& shorten = {});

}  // namespace engram::agent::internal
