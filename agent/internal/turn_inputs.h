// What a turn gathers before it builds its prompt: the session's recent messages, the episodes
// recalled from its memory namespace (without those already in the recent messages), and the
// chunks found in its attached collections. Also the lines these become in the prompt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tenants.h"
#include "common/result.h"
#include "memory/episodic_store.h"
#include "retrieval/collection.h"
#include "retrieval/embedder.h"

namespace engram::agent::internal {

// Roles of the episodes that are a session's messages.
bool IsMessageRole(std::string_view role);

// The session's user and assistant episodes in `ns`, oldest first; with `last` > 0 only the
// newest `last` of them.
Result<std::vector<memory::Episode>> SessionMessages(const memory::EpisodicStore& store,
                                                     std::string_view ns, std::string_view session,
                                                     size_t last = 0);

// Every message of the session, oldest first, including those a consolidation replaced by a
// summary (read back from their history: consolidation takes them out of recall and listing,
// not out of the record), so a client's transcript never shrinks.
Result<std::vector<memory::Episode>> SessionTranscript(const memory::EpisodicStore& store,
                                                       std::string_view ns,
                                                       std::string_view session);

// The live episodes of the session (any role), counted up to `limit`.
Result<size_t> CountSessionEpisodes(const memory::EpisodicStore& store, std::string_view ns,
                                    std::string_view session, size_t limit);

// The best `k` episodes of `ns` for `query`, leaving out the ids in `exclude`.
Result<std::vector<memory::RecalledEpisode>> RecallExcluding(const memory::EpisodicStore& store,
                                                             std::string_view ns,
                                                             std::string_view query, int k,
                                                             const std::vector<uint64_t>& exclude);

// The best `k` chunks over the tenant's `collections` (each searched for k, merged by score).
// A collection that is missing or cannot be opened is skipped with a warning.
std::vector<retrieval::SearchHit> SearchCollections(const std::string& data_dir,
                                                    const Tenant& tenant,
                                                    const std::vector<std::string>& collections,
                                                    retrieval::Embedder* embedder,
                                                    std::string_view query, int k);

// "[2026-11-28] user: My sister Ana lives in Porto." (UTC date).
std::string MemoryLine(const memory::Episode& episode);
// "title: text" (or the text alone).
std::string SourceText(const retrieval::SearchHit& hit);

}  // namespace engram::agent::internal
