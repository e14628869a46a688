#include "memory/internal/index_text.h"

#include <algorithm>
#include <ctime>
#include <iterator>
#include <map>

#include "retrieval/bm25.h"

namespace engram::memory::internal {
namespace {

// The turns of `slice` before position i that an index text holds, oldest first.
std::vector<TurnKey> Context(const std::vector<TurnKey>& slice, size_t i, int turns) {
  const size_t from = i > static_cast<size_t>(turns) ? i - static_cast<size_t>(turns) : 0;
  return std::vector<TurnKey>(slice.begin() + static_cast<std::ptrdiff_t>(from),
                              slice.begin() + static_cast<std::ptrdiff_t>(i));
}

// Each turn of `slice` from `first` on, with the turns its index text holds before it.
std::map<TurnKey, std::vector<TurnKey>> ContextsFrom(const std::vector<TurnKey>& slice,
                                                     const TurnKey& first, int turns) {
  std::map<TurnKey, std::vector<TurnKey>> out;
  for (size_t i = 0; i < slice.size(); ++i) {
    if (slice[i] >= first) out[slice[i]] = Context(slice, i, turns);
  }
  return out;
}

// The index terms of turn `key` with `context` before it, texts as of before or after the write.
Result<std::vector<std::string>> TermsOf(const IndexTextOptions& options, const TurnKey& key,
                                         const std::vector<TurnKey>& context, const TextOf& text,
                                         bool after) {
  std::vector<std::string> before;
  for (const TurnKey& c : context) {
    ENGRAM_TRY_ASSIGN(std::string t, text(c.second, after));
    before.push_back(std::move(t));
  }
  ENGRAM_TRY_ASSIGN(const std::string own, text(key.second, after));
  return IndexTerms(options, key.first, before, own);
}

}  // namespace

std::string DateText(int64_t timestamp_ms) {
  static constexpr const char* kMonths[] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
  const std::time_t seconds = static_cast<std::time_t>(timestamp_ms / 1000);
  std::tm t{};
  gmtime_r(&seconds, &t);
  return std::to_string(t.tm_mday) + " " + kMonths[t.tm_mon] + " " +
         std::to_string(t.tm_year + 1900);
}

std::vector<std::string> IndexTerms(const IndexTextOptions& options, int64_t timestamp_ms,
                                    std::span<const std::string> before, std::string_view text) {
  std::vector<std::string> terms;
  const auto append = [&](std::string_view s) {
    std::vector<std::string> t = retrieval::Bm25Terms(s, options.stemming);
    terms.insert(terms.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
  };
  if (options.date) append(DateText(timestamp_ms));
  for (const std::string& b : before) append(b);
  append(text);
  return terms;
}

Result<int64_t> Reindex(const IndexTextOptions& options, const std::set<TurnKey>& turns,
                        const SessionEdit& edit, const TextOf& text,
                        retrieval::Bm25Changes& changes) {
  std::set<TurnKey> changed = edit.added;
  changed.insert(edit.removed.begin(), edit.removed.end());
  changed.insert(edit.retexted.begin(), edit.retexted.end());
  if (changed.empty()) return int64_t{0};
  const TurnKey first_changed = *changed.begin();
  // The part of the session a re-indexed turn's text can reach: the turns from `context_turns`
  // before the first change to `context_turns` after the last (those are unchanged, so they are
  // the same before and after the write).
  auto from = turns.lower_bound(first_changed);
  for (int i = 0; i < options.context_turns && from != turns.begin(); ++i) --from;
  auto to = turns.upper_bound(*changed.rbegin());
  for (int i = 0; i < options.context_turns && to != turns.end(); ++i) ++to;
  const std::vector<TurnKey> old_slice(from, to);
  std::vector<TurnKey> kept, new_slice;
  std::set_difference(old_slice.begin(), old_slice.end(), edit.removed.begin(), edit.removed.end(),
                      std::back_inserter(kept));
  std::set_union(kept.begin(), kept.end(), edit.added.begin(), edit.added.end(),
                 std::back_inserter(new_slice));

  // Each turn from the first change on, with the context its index text held and will hold
  // (an added turn held none, a removed one will hold none).
  std::map<TurnKey, std::vector<TurnKey>> old_context =
      ContextsFrom(old_slice, first_changed, options.context_turns);
  std::map<TurnKey, std::vector<TurnKey>> new_context =
      ContextsFrom(new_slice, first_changed, options.context_turns);
  for (const TurnKey& key : edit.added) old_context.try_emplace(key);
  for (const TurnKey& key : edit.removed) new_context.try_emplace(key);
  const auto retexted = [&](const TurnKey& k) { return edit.retexted.count(k) > 0; };
  int64_t delta = 0;
  for (const auto& [key, before] : old_context) {
    auto now = new_context.find(key);
    const bool was = !edit.added.count(key), stays = !edit.removed.count(key);
    if (was && stays && now->second == before && !retexted(key) &&
        std::none_of(before.begin(), before.end(), retexted)) {
      continue;  // the same text as before
    }
    if (was) {
      ENGRAM_TRY_ASSIGN(const std::vector<std::string> terms,
                        TermsOf(options, key, before, text, /*after=*/false));
      changes.Remove(key.second, terms);
      delta -= static_cast<int64_t>(terms.size());
    }
    if (stays) {
      ENGRAM_TRY_ASSIGN(const std::vector<std::string> terms,
                        TermsOf(options, key, now->second, text, /*after=*/true));
      changes.Add(key.second, terms);
      delta += static_cast<int64_t>(terms.size());
    }
  }
  return delta;
}

}  // namespace engram::memory::internal
