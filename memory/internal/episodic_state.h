// The episodic store's shared state (private to memory/): what episodic_store.cc (open, read,
// checkpoint), episodic_write.cc (append, update, forget, consolidate) and episodic_recall.cc
// (recall) work on. The layout of the data is memory/internal/layout.h.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "memory/episodic_store.h"
#include "memory/internal/index_text.h"
#include "memory/internal/layout.h"
#include "retrieval/bm25.h"
#include "retrieval/bm25_index.h"
#include "retrieval/rocks_store.h"
#include "retrieval/vector_index.h"

namespace engram::memory {
namespace internal {

// "memory: <what>: <RocksDB's message>".
inline Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  return retrieval::FromRocks(s, "memory", what);
}

// What recall filters need of an episode, kept in memory per namespace.
struct EpisodeInfo {
  uint32_t session = 0;  // index into NsState::sessions
  uint32_t role = 0;     // index into NsState::roles
  int64_t timestamp_ms = 0;
  int64_t expires_ms = 0;
  double importance = 0.5;
  std::map<std::string, std::string> metadata;
};

inline bool Expired(const EpisodeInfo& info, int64_t now) {
  return info.expires_ms != 0 && info.expires_ms <= now;
}

// One namespace in memory: its vector index, live episodes and statistics.
struct NsState {
  std::unique_ptr<retrieval::VectorIndex> index;
  uint64_t generation = 0;  // writes to the namespace so far (persisted in its meta record)
  uint64_t saved_generation = UINT64_MAX;
  uint64_t total_terms = 0;
  std::unordered_map<uint64_t, EpisodeInfo> info;  // live episodes
  std::vector<std::string> sessions;
  std::unordered_map<std::string, uint32_t> session_index;
  // Each role's BM25 terms (its words as a query names them), indexed by EpisodeInfo::role.
  std::vector<std::vector<std::string>> roles;
  std::unordered_map<std::string, uint32_t> role_index;
  // Each session's live episodes in order, (time, id), indexed like `sessions`: what an
  // episode's index text reads the turns before it from (memory/internal/index_text.h).
  std::vector<std::set<std::pair<int64_t, uint64_t>>> session_turns;
  uint64_t with_ttl = 0;  // live episodes that have an expiry
  mutable std::mutex idf_mu;
  mutable std::optional<double> mean_idf;  // of the namespace's BM25 terms; reset by writes

  uint32_t SessionId(const std::string& session);
  uint32_t RoleId(const std::string& role);
  void Insert(uint64_t id, const Episode& e);
  void Erase(uint64_t id);
  void InvalidateIdf();
};

}  // namespace internal

// The open database (RocksDatabase: db, cf by internal::Cf) and the namespaces in memory.
struct EpisodicStore::State : retrieval::RocksDatabase {
  std::string path;
  StoreOptions options;
  int dim = 0;
  retrieval::Bm25Params bm25;
  internal::IndexTextOptions index_text;  // the "index_text" record

  std::mutex write_mu;           // one writer at a time
  mutable std::shared_mutex mu;  // the maps below and every NsState
  std::map<std::string, std::unique_ptr<internal::NsState>, std::less<>> namespaces;
  std::string store_id;  // "store_id" in the meta column family
  // The next id of each namespace that ever had one ("next_id/<ns>"; 1 when absent). Guarded by
  // write_mu.
  std::map<std::string, uint64_t, std::less<>> next_ids;

  uint64_t NextId(std::string_view ns) const {
    auto it = next_ids.find(ns);
    return it == next_ids.end() ? 1 : it->second;
  }
  rocksdb::WriteOptions WriteOpts() const {
    rocksdb::WriteOptions w;
    w.sync = options.sync;
    return w;
  }
  std::string IndexPath(std::string_view ns) const {
    return (std::filesystem::path(path) / "index" / (std::string(ns) + ".vindex")).string();
  }
  internal::NsState* Find(std::string_view ns) const {
    auto it = namespaces.find(ns);
    return it == namespaces.end() ? nullptr : it->second.get();
  }
  // The namespace's BM25 index (keys prefixed "<ns>\0" in the postings and terms families).
  retrieval::Bm25Index Bm25(std::string_view ns) const {
    return retrieval::Bm25Index(db.get(), cf[internal::kPostings], cf[internal::kTerms],
                                internal::NsPrefix(ns), bm25, index_text.stemming);
  }

  // What the embedder embeds for `e` (EmbeddingText with options.embed_date).
  std::string Embedded(const Episode& e) const { return EmbeddingText(e, options.embed_date); }

  // Reading and opening (episodic_store.cc).
  // `given` checked and normalised, or the embedder's embedding of `text`.
  Result<std::vector<float>> EmbeddingFor(const std::string& text,
                                          const std::vector<float>& given) const;
  Result<std::optional<Episode>> ReadEpisode(std::string_view ns, uint64_t id) const;
  Status OpenDatabase(const std::filesystem::path& db_path);
  Status Initialise(std::string_view embedder_name);
  Status CheckEmbedder(std::string_view embedder_name) const;
  Status LoadAll();
  // The "index_text" record: written at creation and by the upgrade, read into index_text.
  void PutIndexText(rocksdb::WriteBatch& batch);
  Status ReadIndexText(std::string_view format);
  // Format 3 to 4: every namespace's BM25 re-indexed with index_text, then the records.
  Status Upgrade();
  // Loads a namespace's index, rebuilding it from the stored embeddings when it is missing,
  // damaged or behind the namespace's generation.
  Status LoadNamespace(const std::string& ns, uint64_t generation, uint64_t total_terms);
  Status RebuildIndex(std::string_view ns, internal::NsState& n);
  Status SaveIndexes();
  // A session's live episodes in a time range (EpisodicStore::ListSession without its checks).
  Result<EpisodePage> List(std::string_view ns, std::string_view session,
                           const ListOptions& options) const;
  // Waits (up to a minute) until RocksDB has no compaction pending or running.
  void WaitForCompactions();

  // Writing (episodic_write.cc); each needs write_mu.
  // Every episode checked (CheckEpisode) and its embedding (EmbeddingFor), dim floats each; a
  // message names the first bad episode's position in a batch.
  // An episode of time 0 is embedded as of `now` (Append stores it with that time).
  Result<std::vector<float>> EmbedAll(std::span<const Episode> episodes, int64_t now) const;
  // The namespace's meta record after this write: episode count, term total, generation.
  void PutNsMeta(rocksdb::WriteBatch& batch, std::string_view ns, uint64_t episodes,
                 uint64_t total_terms, uint64_t generation);
  // The records of episode `e` of `ns` (not its history unless `with_history`) deleted into
  // `batch`; its BM25 postings are ReindexSessions' to remove.
  void RemoveRecords(rocksdb::WriteBatch& batch, std::string_view ns, const Episode& e,
                     bool with_history);
  // Removes `ids` of `ns` with their history in one write. Ids that are not live episodes of
  // `ns`: kNotFound naming all of them and nothing changes, or skipped when `skip_missing`.
  // Returns how many were removed.
  Result<uint64_t> RemoveEpisodes(std::string_view ns, std::span<const uint64_t> ids,
                                  bool skip_missing);

  // The BM25 re-indexing of `edits` (by session name) in namespace `ns` as `n` holds it before
  // the write, into `changes`; returns the namespace's total term count after it. Texts are
  // `old_texts` / `new_texts` for the episodes the write removes, rewrites or adds, else read.
  Result<uint64_t> ReindexSessions(std::string_view ns, const internal::NsState& n,
                                   const std::map<std::string, internal::SessionEdit>& edits,
                                   const std::unordered_map<uint64_t, std::string>& old_texts,
                                   const std::unordered_map<uint64_t, std::string>& new_texts,
                                   retrieval::Bm25Changes& changes) const;
  // Drops namespace `ns`'s BM25 index and indexes every episode again with `index_text` (the
  // upgrade from format 3); writes the new term count into its meta record.
  Status RebuildBm25(std::string_view ns, internal::NsState& n);

  // Recall (episodic_recall.cc).
  // The BM25 terms episode `id` is indexed with (its index text).
  Result<std::vector<std::string>> IndexTermsOf(std::string_view ns, const internal::NsState& n,
                                                uint64_t id) const;
  Result<double> MeanIdf(std::string_view ns, const internal::NsState& n) const;
  // The cosine of each of `ids` with a normalised query.
  Result<std::vector<double>> Cosines(std::string_view ns, std::span<const uint64_t> ids,
                                      std::span<const float> query) const;
  // The candidates of a recall (the best `candidates` by vector and by BM25 among the episodes
  // `allowed` admits, or every allowed episode when both weights are 0) with their relevance
  // and BM25 components, by id. `filtered`: whether `allowed` can refuse a live episode.
  Result<std::vector<RecalledEpisode>> RecallCandidates(
      std::string_view ns, const internal::NsState& n, std::string_view query,
      std::span<const float> query_vector, const RecallOptions& options, size_t candidates,
      const std::function<bool(uint64_t)>& allowed, bool filtered) const;
  // `q` expanded with pseudo-relevance feedback from its best BM25 hits `top`
  // (RecallOptions::feedback_terms).
  Result<retrieval::Bm25Query> ExpandQuery(std::string_view ns, const internal::NsState& n,
                                           const retrieval::Bm25Index& index,
                                           const retrieval::Bm25Query& q,
                                           std::span<const retrieval::RankedItem> top,
                                           const RecallOptions& options) const;
  // The query vector moved toward the embeddings of the best BM25 hits `top`
  // (RecallOptions::dense_feedback_weight), normalised.
  Result<std::vector<float>> FeedbackVector(std::string_view ns, std::span<const float> query,
                                            std::span<const retrieval::RankedItem> top,
                                            const RecallOptions& options) const;
  // Sorts scored candidates best first (ties by id), keeps k and reads their episodes.
  Status KeepBest(std::string_view ns, size_t k, std::vector<RecalledEpisode>& out) const;
};

}  // namespace engram::memory
