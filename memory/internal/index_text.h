// What BM25 indexes for an episode, and what a write re-indexes (private to memory/).
//
// An episode's index text is its session date ("8 May 2023", StoreOptions::index_date), the
// texts of the turns just before it in its session (StoreOptions::index_context_turns, oldest
// first) and its own text: a reply ("yes, it was so inspiring!") is found by the words of what
// it answers. So a write changes the index text of the turns after the ones it adds, removes or
// rewrites; Reindex works out which, and their old and new terms.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "retrieval/bm25_index.h"

namespace engram::memory::internal {

// How a store builds index texts and cuts their terms: fixed when it is created (the
// "index_text" record).
struct IndexTextOptions {
  int context_turns = 0;
  bool date = false;
  retrieval::Stemming stemming = retrieval::Stemming::kNone;
};

// "8 May 2023": the UTC date of a time in epoch milliseconds.
std::string DateText(int64_t timestamp_ms);

// The BM25 terms of an episode's index text: its date (when options.date), then the texts of
// the turns `before` it (oldest first), then its own `text`.
std::vector<std::string> IndexTerms(const IndexTextOptions& options, int64_t timestamp_ms,
                                    std::span<const std::string> before, std::string_view text);

// A turn's place in its session: (time, id), the order NsState::session_turns keeps.
using TurnKey = std::pair<int64_t, uint64_t>;

// One write's changes to one session's turns.
struct SessionEdit {
  std::set<TurnKey> added, removed;
  std::set<TurnKey> retexted;  // kept, with a new text
};

// A turn's text before (`after` false) or after the write.
using TextOf = std::function<Result<std::string>(uint64_t id, bool after)>;

// Adds to `changes` the re-indexing `edit` causes in a session whose turns were `turns` before
// the write: each turn whose index text changes is removed with its old terms (if it was
// there) and added with its new ones (if it stays). Returns the change in the namespace's
// total term count.
Result<int64_t> Reindex(const IndexTextOptions& options, const std::set<TurnKey>& turns,
                        const SessionEdit& edit, const TextOf& text,
                        retrieval::Bm25Changes& changes);

}  // namespace engram::memory::internal
