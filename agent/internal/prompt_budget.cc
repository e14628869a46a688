#include "agent/internal/prompt_budget.h"

#include <optional>

namespace engram::agent::internal {
namespace {

std::vector<size_t> FirstN(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

FittedPrompt Build(const PromptParts& parts, size_t history_from, size_t memories, size_t sources) {
  FittedPrompt p;
  p.memories = FirstN(memories);
  p.sources = FirstN(sources);
  p.history_dropped = history_from;
  p.messages.push_back({"system", SystemMessage(parts, p.memories, p.sources)});
  for (size_t i = history_from; i < parts.history.size(); ++i) {
    p.messages.push_back(parts.history[i]);
  }
  p.messages.push_back({"user", parts.user});
  return p;
}

// Tokens the "Sources:" heading and each source's "[n] " and line breaks take beyond the texts.
constexpr int64_t kSourcesHeadingTokens = 4, kSourceOverheadTokens = 5;

// The sources shortened to the room `parts` leave without them (history from `history_from`),
// or nothing when there is no room worth compressing to or the shortener fails. `origin`
// receives each shortened source's index in parts.sources.
std::optional<PromptParts> Shortened(const PromptParts& parts, size_t history_from,
                                     int64_t budget_tokens, const PromptCounter& count,
                                     const SourceShortener& shorten, std::vector<size_t>* origin) {
  constexpr int64_t kMinRoom = 16;  // below this a compressed source says nothing useful
  PromptParts without = parts;
  without.sources.clear();
  const int64_t rest = count(Build(without, history_from, parts.memories.size(), 0).messages);
  const int64_t room = budget_tokens - rest - kSourcesHeadingTokens -
                       kSourceOverheadTokens * static_cast<int64_t>(parts.sources.size());
  if (room < kMinRoom) return std::nullopt;
  Result<std::vector<std::pair<size_t, std::string>>> kept = shorten(parts.sources, room);
  if (!kept.ok() || kept->empty()) return std::nullopt;
  origin->clear();
  for (auto& [index, text] : *kept) {
    origin->push_back(index);
    without.sources.push_back(std::move(text));
  }
  return without;
}

}  // namespace

std::string SystemMessage(const PromptParts& parts, std::span<const size_t> memories,
                          std::span<const size_t> sources) {
  std::string text = parts.instruction;
  if (!memories.empty()) {
    text += "\n\nThings you remember from earlier:\n";
    for (size_t i : memories) text += "- " + parts.memories[i] + "\n";
  }
  if (!sources.empty()) {
    text += "\n\nSources:\n";
    int n = 1;
    for (size_t i : sources) text += "\n[" + std::to_string(n++) + "] " + parts.sources[i] + "\n";
  }
  return text;
}

Result<FittedPrompt> FitPrompt(const PromptParts& parts, int64_t budget_tokens,
                               const PromptCounter& count, const SourceShortener& shorten) {
  const PromptParts* fitting = &parts;  // the sources compressed, from step 3 on
  size_t memories = parts.memories.size(), sources = parts.sources.size();
  const size_t history = parts.history.size();
  auto fit = [&](size_t history_from, FittedPrompt* out) {
    *out = Build(*fitting, history_from, memories, sources);
    out->tokens = count(out->messages);
    return out->tokens <= budget_tokens;
  };
  FittedPrompt p;
  if (fit(0, &p)) return p;
  // Fewer history messages never take more tokens: find the fewest to drop by bisection.
  if (history > 0 && fit(history, &p)) {
    size_t lo = 1, hi = history;  // hi fits
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      FittedPrompt q;
      if (fit(mid, &q))
        hi = mid;
      else
        lo = mid + 1;
    }
    fit(hi, &p);
    return p;
  }
  std::vector<size_t> origin;  // of each compressed source in parts.sources
  std::optional<PromptParts> compressed;
  if (shorten && sources > 0) {
    compressed = Shortened(parts, history, budget_tokens, count, shorten, &origin);
  }
  if (compressed) {
    fitting = &*compressed;
    sources = compressed->sources.size();
  }
  // Kept indexes name the caller's sources, compressed or not.
  auto done = [&](FittedPrompt& out) {
    out.sources_compressed = compressed.has_value();
    if (out.sources_compressed) {
      for (size_t& i : out.sources) i = origin[i];
    }
    return std::move(out);
  };
  if (compressed && fit(history, &p)) return done(p);
  bool drop_memory_next = true;
  while (memories > 0 || sources > 0) {
    if ((drop_memory_next && memories > 0) || sources == 0)
      --memories;
    else
      --sources;
    drop_memory_next = !drop_memory_next;
    if (fit(history, &p)) return done(p);
  }
  const int64_t user = count(std::vector<inference::ChatMessage>{{"user", parts.user}});
  return Status::InvalidArgument(
      "the message is " + std::to_string(user) + " tokens; with the system prompt it takes " +
      std::to_string(p.tokens) + " of a prompt budget of " + std::to_string(budget_tokens) +
      " tokens (the context less the reply's max_tokens); shorten the message or lower "
      "max_tokens");
}

}  // namespace engram::agent::internal
