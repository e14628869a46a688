#include "agent/internal/turn_inputs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>

namespace engram::agent::internal {

bool IsMessageRole(std::string_view role) { return role == "user" || role == "assistant"; }

namespace {

// Calls `fn` on every live episode of the session, oldest first, a page at a time.
Status ForEachEpisode(const memory::EpisodicStore& store, std::string_view ns,
                      std::string_view session, const std::function<void(memory::Episode&)>& fn) {
  memory::ListOptions options;
  options.limit = memory::kMaxListLimit;
  do {
    ENGRAM_TRY_ASSIGN(memory::EpisodePage page, store.ListSession(ns, session, options));
    for (memory::Episode& e : page.episodes) fn(e);
    options.page_token = page.next_page_token;
  } while (!options.page_token.empty());
  return Status::OK();
}

// The messages a summary replaced, recursively (a summary may replace an earlier one).
void ExpandSummary(const memory::EpisodicStore& store, std::string_view ns,
                   const memory::Episode& summary, int depth, std::vector<memory::Episode>& out) {
  for (uint64_t id : summary.sources) {
    Result<std::vector<memory::Episode>> versions = store.History(ns, id);
    if (!versions.ok() || versions->empty()) continue;  // forgotten since
    memory::Episode& last = versions->back();
    if (last.role == "summary" && depth < 16) {
      ExpandSummary(store, ns, last, depth + 1, out);
    } else if (IsMessageRole(last.role)) {
      out.push_back(std::move(last));
    }
  }
}

}  // namespace

Result<std::vector<memory::Episode>> SessionMessages(const memory::EpisodicStore& store,
                                                     std::string_view ns, std::string_view session,
                                                     size_t last) {
  std::deque<memory::Episode> kept;
  const Status listed = ForEachEpisode(store, ns, session, [&](memory::Episode& e) {
    if (!IsMessageRole(e.role)) return;
    kept.push_back(std::move(e));
    if (last > 0 && kept.size() > last) kept.pop_front();
  });
  if (!listed.ok()) return listed;
  return std::vector<memory::Episode>(std::make_move_iterator(kept.begin()),
                                      std::make_move_iterator(kept.end()));
}

Result<std::vector<memory::Episode>> SessionTranscript(const memory::EpisodicStore& store,
                                                       std::string_view ns,
                                                       std::string_view session) {
  std::vector<memory::Episode> out;
  const Status listed = ForEachEpisode(store, ns, session, [&](memory::Episode& e) {
    if (e.role == "summary") {
      ExpandSummary(store, ns, e, 0, out);
    } else if (IsMessageRole(e.role)) {
      out.push_back(std::move(e));
    }
  });
  if (!listed.ok()) return listed;
  std::stable_sort(out.begin(), out.end(), [](const memory::Episode& a, const memory::Episode& b) {
    return a.timestamp_ms != b.timestamp_ms ? a.timestamp_ms < b.timestamp_ms : a.id < b.id;
  });
  return out;
}

Result<size_t> CountSessionEpisodes(const memory::EpisodicStore& store, std::string_view ns,
                                    std::string_view session, size_t limit) {
  memory::ListOptions options;
  options.limit = std::clamp<size_t>(limit, 1, memory::kMaxListLimit);
  ENGRAM_TRY_ASSIGN(memory::EpisodePage page, store.ListSession(ns, session, options));
  return page.episodes.size();
}

Result<std::vector<memory::RecalledEpisode>> RecallExcluding(const memory::EpisodicStore& store,
                                                             std::string_view ns,
                                                             std::string_view query, int k,
                                                             const std::vector<uint64_t>& exclude) {
  if (k <= 0) return std::vector<memory::RecalledEpisode>{};
  memory::RecallOptions options;
  options.k = std::min(memory::kMaxRecallK, k + static_cast<int>(exclude.size()));
  ENGRAM_TRY_ASSIGN(std::vector<memory::RecalledEpisode> found, store.Recall(ns, query, options));
  std::erase_if(found, [&](const memory::RecalledEpisode& r) {
    return std::find(exclude.begin(), exclude.end(), r.episode.id) != exclude.end();
  });
  if (found.size() > static_cast<size_t>(k)) found.resize(static_cast<size_t>(k));
  return found;
}

std::vector<retrieval::SearchHit> SearchCollections(const std::string& data_dir,
                                                    const Tenant& tenant,
                                                    const std::vector<std::string>& collections,
                                                    retrieval::Embedder* embedder,
                                                    std::string_view query, int k) {
  std::vector<retrieval::SearchHit> hits;
  if (k <= 0 || embedder == nullptr) return hits;
  retrieval::SearchOptions search;
  search.k = k;
  if (!retrieval::ValidateSearch(query, search).ok()) return hits;
  retrieval::CollectionOptions options;
  options.mode = retrieval::OpenMode::kReadOnly;
  for (const std::string& name : collections) {
    const std::string dir =
        (std::filesystem::path(TenantCollectionsDir(data_dir, tenant)) / name).string();
    Result<std::unique_ptr<retrieval::Collection>> c =
        retrieval::Collection::Open(dir, embedder, options);
    if (!c.ok()) {
      spdlog::warn("session turn: skipping collection '{}': {}", name, c.status().message());
      continue;
    }
    Result<std::vector<retrieval::SearchHit>> found = (*c)->Search(query, search);
    if (!found.ok()) {
      spdlog::warn("session turn: search of '{}' failed: {}", name, found.status().message());
      continue;
    }
    hits.insert(hits.end(), found->begin(), found->end());
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  if (hits.size() > static_cast<size_t>(k)) hits.resize(static_cast<size_t>(k));
  return hits;
}

std::string MemoryLine(const memory::Episode& episode) {
  const std::time_t t = static_cast<std::time_t>(episode.timestamp_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  return "[" + std::string(date) + "] " + episode.role + ": " + episode.text;
}

std::string SourceText(const retrieval::SearchHit& hit) {
  return hit.title.empty() ? hit.text : hit.title + ": " + hit.text;
}

}  // namespace engram::agent::internal
