// The episodic store's writes: append, update, forget, purge, consolidate. Each is one
// RocksDB WriteBatch (episode records, embeddings, session index, BM25 postings and counters
// together), so a crash leaves every write whole or absent.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "common/json_write.h"
#include "common/key_encoding.h"
#include "memory/episodic_store.h"
#include "memory/internal/checks.h"
#include "memory/internal/episodic_state.h"
#include "memory/internal/layout.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace internal;
using retrieval::WallClockMs;

}  // namespace

void EpisodicStore::State::PutNsMeta(rocksdb::WriteBatch& batch, std::string_view ns,
                                     uint64_t episodes, uint64_t total_terms, uint64_t generation) {
  const json j = {{"episodes", episodes}, {"total_terms", total_terms}, {"generation", generation}};
  batch.Put(cf[kMeta], NsMetaKey(ns), JsonText(j));
}

void EpisodicStore::State::RemoveRecords(rocksdb::WriteBatch& batch, std::string_view ns,
                                         const Episode& e, bool with_history) {
  batch.Delete(cf[kEpisodes], IdKey(ns, e.id));
  batch.Delete(cf[kEmbeddings], IdKey(ns, e.id));
  batch.Delete(cf[kSessions], SessionKey(ns, e.session, e.timestamp_ms, e.id));
  if (with_history) {
    std::string end = IdKey(ns, e.id);
    end += std::string(8, '\xff');
    end += '\xff';
    batch.DeleteRange(cf[kVersions], IdKey(ns, e.id), end);
  }
}

Result<uint64_t> EpisodicStore::State::ReindexSessions(
    std::string_view ns, const NsState& n, const std::map<std::string, SessionEdit>& edits,
    const std::unordered_map<uint64_t, std::string>& old_texts,
    const std::unordered_map<uint64_t, std::string>& new_texts,
    retrieval::Bm25Changes& changes) const {
  std::unordered_map<uint64_t, std::string> stored;  // read once
  const TextOf text = [&](uint64_t id, bool after) -> Result<std::string> {
    const auto& given = after ? new_texts : old_texts;
    if (auto it = given.find(id); it != given.end()) return it->second;
    if (auto it = stored.find(id); it != stored.end()) return it->second;
    ENGRAM_TRY_ASSIGN(const std::optional<Episode> e, ReadEpisode(ns, id));
    if (!e)
      return Status::Corruption("memory: episode " + std::to_string(id) + " of '" +
                                std::string(ns) + "' is in a session but not stored");
    return stored[id] = e->text;
  };
  int64_t total = static_cast<int64_t>(n.total_terms);
  static const std::set<TurnKey> kNone;
  for (const auto& [session, edit] : edits) {
    auto it = n.session_index.find(session);
    const std::set<TurnKey>& turns =
        it == n.session_index.end() ? kNone : n.session_turns[it->second];
    ENGRAM_TRY_ASSIGN(const int64_t delta, Reindex(index_text, turns, edit, text, changes));
    total += delta;
  }
  return static_cast<uint64_t>(std::max<int64_t>(total, 0));
}

Result<std::vector<float>> EpisodicStore::State::EmbedAll(std::span<const Episode> episodes,
                                                          int64_t now) const {
  std::vector<float> embeddings;
  embeddings.reserve(episodes.size() * static_cast<size_t>(dim));
  for (size_t i = 0; i < episodes.size(); ++i) {
    const auto at = [&](const Status& st) {
      return episodes.size() == 1 ? st
                                  : Status(st.code(), std::string(st.message()) + " (episode " +
                                                          std::to_string(i) + " of the batch)");
    };
    if (Status st = internal::CheckEpisode(episodes[i]); !st.ok()) return at(st);
    Episode dated;
    dated.text = episodes[i].text;
    dated.timestamp_ms = episodes[i].timestamp_ms != 0 ? episodes[i].timestamp_ms : now;
    Result<std::vector<float>> embedding = EmbeddingFor(Embedded(dated), episodes[i].embedding);
    if (!embedding.ok()) return at(embedding.status());
    embeddings.insert(embeddings.end(), embedding->begin(), embedding->end());
  }
  return embeddings;
}

Result<uint64_t> EpisodicStore::Append(std::string_view ns, const Episode& episode) {
  Result<std::vector<uint64_t>> ids = AppendBatch(ns, std::span(&episode, 1));
  if (!ids.ok()) return ids.status();
  return ids->front();
}

Result<std::vector<uint64_t>> EpisodicStore::AppendBatch(std::string_view ns,
                                                         std::span<const Episode> episodes) {
  State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  const int64_t now = WallClockMs();
  Result<std::vector<float>> embedded = s.EmbedAll(episodes, now);
  if (!embedded.ok()) return embedded.status();
  const std::vector<float>& embeddings = *embedded;
  if (episodes.empty()) return std::vector<uint64_t>();

  std::lock_guard write_lock(s.write_mu);
  NsState* existing = s.Find(ns);
  std::unique_ptr<NsState> created;
  if (existing == nullptr) {
    created = std::make_unique<NsState>();
    Result<std::unique_ptr<retrieval::VectorIndex>> index =
        retrieval::VectorIndex::Create(s.dim, s.options.index);
    if (!index.ok()) return index.status();
    created->index = std::move(*index);
  }
  NsState& n = existing != nullptr ? *existing : *created;

  rocksdb::WriteBatch batch;
  std::map<std::string, SessionEdit> edits;
  std::unordered_map<uint64_t, std::string> texts;
  std::vector<Episode> stored;
  std::vector<int64_t> ids;
  const uint64_t first_id = s.NextId(ns);
  for (size_t i = 0; i < episodes.size(); ++i) {
    Episode e = episodes[i];
    e.id = first_id + i;
    e.version = 1;
    if (e.timestamp_ms == 0) e.timestamp_ms = now;
    e.embedding.clear();
    edits[e.session].added.insert({e.timestamp_ms, e.id});
    texts[e.id] = e.text;
    batch.Put(s.cf[kEpisodes], IdKey(ns, e.id), EncodeEpisode(e));
    batch.Put(
        s.cf[kEmbeddings], IdKey(ns, e.id),
        EncodeFloats(std::span(embeddings)
                         .subspan(i * static_cast<size_t>(s.dim), static_cast<size_t>(s.dim))));
    batch.Put(s.cf[kSessions], SessionKey(ns, e.session, e.timestamp_ms, e.id), "");
    ids.push_back(static_cast<int64_t>(e.id));
    stored.push_back(std::move(e));
  }
  retrieval::Bm25Changes changes;
  ENGRAM_TRY_ASSIGN(const uint64_t total_terms,
                    s.ReindexSessions(ns, n, edits, {}, texts, changes));
  if (Status st = s.Bm25(ns).Apply(changes, batch); !st.ok()) return st;
  const uint64_t next_id = first_id + episodes.size();
  batch.Put(s.cf[kMeta], NextIdKey(ns), BigEndian64(next_id));
  s.PutNsMeta(batch, ns, n.info.size() + episodes.size(), total_terms, n.generation + 1);
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "appending"); !st.ok()) return st;
  s.next_ids[std::string(ns)] = next_id;
  std::unique_lock lock(s.mu);
  if (created) s.namespaces[std::string(ns)] = std::move(created);
  NsState& live = *s.Find(ns);
  live.total_terms = total_terms;
  live.generation += 1;
  for (const Episode& e : stored) live.Insert(e.id, e);
  live.InvalidateIdf();
  // The database is the truth from here; should this fail, the next Open rebuilds the index.
  if (Status st = live.index->Add(ids, embeddings); !st.ok()) return st;
  return std::vector<uint64_t>(ids.begin(), ids.end());
}

Result<uint32_t> EpisodicStore::Update(std::string_view ns, uint64_t id,
                                       const EpisodeChanges& changes) {
  State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = internal::CheckChanges(changes); !st.ok()) return st;
  std::optional<std::vector<float>> embedding;
  std::lock_guard write_lock(s.write_mu);
  Result<Episode> current = Get(ns, id);
  if (!current.ok()) return current.status();
  Episode e = *current;
  if (changes.text || !changes.embedding.empty()) {
    Episode changed = e;
    changed.text = changes.text.value_or(e.text);
    Result<std::vector<float>> v = s.EmbeddingFor(s.Embedded(changed), changes.embedding);
    if (!v.ok()) return v.status();
    embedding = std::move(*v);
  }
  NsState& n = *s.Find(ns);
  rocksdb::WriteBatch batch;
  batch.Put(s.cf[kVersions], VersionKey(ns, id, e.version), EncodeEpisode(e));
  retrieval::Bm25Changes term_changes;
  uint64_t total_terms = n.total_terms;
  if (changes.text) {
    std::map<std::string, SessionEdit> edits;
    edits[e.session].retexted.insert({e.timestamp_ms, id});
    ENGRAM_TRY_ASSIGN(total_terms, s.ReindexSessions(ns, n, edits, {{id, e.text}},
                                                     {{id, *changes.text}}, term_changes));
    e.text = *changes.text;
  }
  if (changes.role) e.role = *changes.role;
  if (changes.importance) e.importance = *changes.importance;
  if (changes.metadata) e.metadata = *changes.metadata;
  if (changes.expires_ms) e.expires_ms = *changes.expires_ms;
  e.version += 1;
  if (Status st = internal::CheckEpisode(e); !st.ok()) return st;  // UTF-8 of the new fields
  if (Status st = s.Bm25(ns).Apply(term_changes, batch); !st.ok()) return st;
  batch.Put(s.cf[kEpisodes], IdKey(ns, id), EncodeEpisode(e));
  if (embedding) batch.Put(s.cf[kEmbeddings], IdKey(ns, id), EncodeFloats(*embedding));
  s.PutNsMeta(batch, ns, n.info.size(), total_terms, n.generation + 1);
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "updating"); !st.ok()) return st;
  std::unique_lock lock(s.mu);
  n.total_terms = total_terms;
  n.generation += 1;
  n.Erase(id);
  n.Insert(id, e);
  n.InvalidateIdf();
  if (embedding) {
    const int64_t key = static_cast<int64_t>(id);
    if (Status st = n.index->Remove(std::span(&key, 1)); !st.ok()) return st;
    if (Status st = n.index->Add(std::span(&key, 1), *embedding); !st.ok()) return st;
  }
  return e.version;
}

Result<uint64_t> EpisodicStore::State::RemoveEpisodes(std::string_view ns,
                                                      std::span<const uint64_t> ids,
                                                      bool skip_missing) {
  const std::set<uint64_t> unique(ids.begin(), ids.end());
  NsState* n = Find(ns);
  std::vector<Episode> found;
  std::vector<uint64_t> missing;
  for (uint64_t id : unique) {
    Result<std::optional<Episode>> e = ReadEpisode(ns, id);
    if (!e.ok()) return e.status();
    if (!*e || n == nullptr || !n->info.count(id)) {
      missing.push_back(id);
    } else {
      found.push_back(std::move(**e));
    }
  }
  if (!missing.empty() && !skip_missing) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) {
      list += (i > 0 ? ", " : "") + std::to_string(missing[i]);
    }
    if (missing.size() > 20) list += " and " + std::to_string(missing.size() - 20) + " more";
    return Status::NotFound("memory: no episode " + list + " in namespace '" + std::string(ns) +
                            "'" + (unique.size() > 1 ? "; nothing was forgotten" : ""));
  }
  if (found.empty()) return uint64_t{0};
  rocksdb::WriteBatch batch;
  std::map<std::string, SessionEdit> edits;
  std::unordered_map<uint64_t, std::string> texts;
  std::vector<int64_t> keys;
  for (const Episode& e : found) {
    RemoveRecords(batch, ns, e, /*with_history=*/true);
    edits[e.session].removed.insert({e.timestamp_ms, e.id});
    texts[e.id] = e.text;
    keys.push_back(static_cast<int64_t>(e.id));
  }
  retrieval::Bm25Changes changes;
  ENGRAM_TRY_ASSIGN(const uint64_t total_terms, ReindexSessions(ns, *n, edits, texts, {}, changes));
  if (Status st = Bm25(ns).Apply(changes, batch); !st.ok()) return st;
  PutNsMeta(batch, ns, n->info.size() - found.size(), total_terms, n->generation + 1);
  if (Status st = FromRocks(db->Write(WriteOpts(), &batch), "forgetting"); !st.ok()) return st;
  std::unique_lock lock(mu);
  n->total_terms = total_terms;
  n->generation += 1;
  for (const Episode& e : found) n->Erase(e.id);
  n->InvalidateIdf();
  if (Status st = n->index->Remove(keys); !st.ok()) return st;
  return static_cast<uint64_t>(found.size());
}

Status EpisodicStore::Forget(std::string_view ns, uint64_t id) {
  return Forget(ns, std::span(&id, 1));
}

Status EpisodicStore::Forget(std::string_view ns, std::span<const uint64_t> ids) {
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  std::lock_guard write_lock(s_->write_mu);
  return s_->RemoveEpisodes(ns, ids, /*skip_missing=*/false).status();
}

Result<uint64_t> EpisodicStore::ForgetSession(std::string_view ns, std::string_view session) {
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = internal::CheckSession(session); !st.ok()) return st;
  std::lock_guard write_lock(s_->write_mu);
  std::vector<uint64_t> ids;
  const std::string prefix = SessionPrefix(ns, session);
  std::unique_ptr<rocksdb::Iterator> it(s_->db->NewIterator({}, s_->cf[kSessions]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    ids.push_back(ReadBigEndian64(it->key().ToStringView().substr(prefix.size() + 8)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing a session");
  return s_->RemoveEpisodes(ns, ids, /*skip_missing=*/true);
}

Status EpisodicStore::PurgeNamespace(std::string_view ns) {
  State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  std::lock_guard write_lock(s.write_mu);
  rocksdb::WriteBatch batch;
  const std::string begin = NsPrefix(ns), end = NsEnd(ns);
  for (int c = kEpisodes; c < kCfCount; ++c) batch.DeleteRange(s.cf[c], begin, end);
  batch.Delete(s.cf[kMeta], NsMetaKey(ns));
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "purging"); !st.ok()) return st;
  {
    std::unique_lock lock(s.mu);
    s.namespaces.erase(std::string(ns));
  }
  std::error_code ec;
  fs::remove(s.IndexPath(ns), ec);
  if (ec)
    return Status::IOError("memory: cannot remove '" + s.IndexPath(ns) + "': " + ec.message());
  // Free the deleted ranges' space now rather than at some later compaction.
  for (int c = kEpisodes; c < kCfCount; ++c) {
    const rocksdb::Slice b(begin), e(end);
    (void)s.db->CompactRange(rocksdb::CompactRangeOptions(), s.cf[c], &b, &e);
  }
  return Status::OK();
}

Result<uint64_t> EpisodicStore::PurgeExpired(int64_t now_ms) {
  if (Status st = internal::CheckTime("PurgeExpired now_ms", now_ms, /*zero_ok=*/true); !st.ok()) {
    return st;
  }
  const int64_t now = now_ms != 0 ? now_ms : WallClockMs();
  std::lock_guard write_lock(s_->write_mu);
  std::map<std::string, std::vector<uint64_t>> expired;
  {
    std::shared_lock lock(s_->mu);
    for (const auto& [ns, n] : s_->namespaces) {
      if (n->with_ttl == 0) continue;
      for (const auto& [id, info] : n->info) {
        if (Expired(info, now)) expired[ns].push_back(id);
      }
    }
  }
  uint64_t removed = 0;
  for (const auto& [ns, ids] : expired) {
    Result<uint64_t> n = s_->RemoveEpisodes(ns, ids, /*skip_missing=*/true);
    if (!n.ok()) return n.status();
    removed += *n;
  }
  return removed;
}

Result<uint64_t> EpisodicStore::Consolidate(std::string_view ns, std::string_view session,
                                            const Summarizer& summarize,
                                            const ConsolidateOptions& options) {
  State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = internal::CheckSession(session); !st.ok()) return st;
  Result<EpisodePage> all = s.List(ns, session, ListOptions{.limit = SIZE_MAX, .page_token = {}});
  if (!all.ok()) return all.status();
  std::vector<Episode>& episodes = all->episodes;
  if (episodes.size() <= options.keep_recent ||
      episodes.size() - options.keep_recent < std::max<size_t>(options.min_span, 1)) {
    return uint64_t{0};
  }
  episodes.resize(episodes.size() - options.keep_recent);
  Result<std::string> text = summarize(episodes);
  if (!text.ok()) return text.status();
  Episode summary;
  summary.session = std::string(session);
  summary.role = "summary";
  summary.text = std::move(*text);
  summary.timestamp_ms = episodes.back().timestamp_ms;
  for (const Episode& e : episodes) {
    summary.importance = std::max(summary.importance, e.importance);
    summary.sources.push_back(e.id);
  }
  if (Status st = internal::CheckEpisode(summary); !st.ok()) {
    return Status(st.code(), std::string(st.message()) + " (the summary)");
  }
  Result<std::vector<float>> embedding = s.EmbeddingFor(s.Embedded(summary), {});
  if (!embedding.ok()) return embedding.status();

  std::lock_guard write_lock(s.write_mu);
  NsState* n = s.Find(ns);
  if (n == nullptr) return uint64_t{0};
  // The summary was written without the lock: a source updated meanwhile would lose its update
  // (and its index entries are no longer those of the text listed), so write nothing.
  for (const Episode& e : episodes) {
    if (!n->info.count(e.id)) continue;  // forgotten meanwhile: simply not replaced
    ENGRAM_TRY_ASSIGN(const std::optional<Episode> now, s.ReadEpisode(ns, e.id));
    if (now && now->version != e.version) {
      return Status::FailedPrecondition(
          "memory: episode " + std::to_string(e.id) + " of session '" + std::string(session) +
          "' changed while the session was being summarised; nothing was consolidated, call "
          "Consolidate again");
    }
  }
  summary.id = s.NextId(ns);
  rocksdb::WriteBatch batch;
  std::map<std::string, SessionEdit> edits;
  std::unordered_map<uint64_t, std::string> old_texts;
  std::vector<int64_t> removed;
  for (const Episode& e : episodes) {
    if (!n->info.count(e.id)) continue;  // forgotten meanwhile
    // The source's last version joins its history, so History(source) still shows it.
    batch.Put(s.cf[kVersions], VersionKey(ns, e.id, e.version), EncodeEpisode(e));
    s.RemoveRecords(batch, ns, e, /*with_history=*/false);
    edits[e.session].removed.insert({e.timestamp_ms, e.id});
    old_texts[e.id] = e.text;
    removed.push_back(static_cast<int64_t>(e.id));
  }
  edits[summary.session].added.insert({summary.timestamp_ms, summary.id});
  retrieval::Bm25Changes changes;
  ENGRAM_TRY_ASSIGN(
      const uint64_t total_terms,
      s.ReindexSessions(ns, *n, edits, old_texts, {{summary.id, summary.text}}, changes));
  if (Status st = s.Bm25(ns).Apply(changes, batch); !st.ok()) return st;
  batch.Put(s.cf[kEpisodes], IdKey(ns, summary.id), EncodeEpisode(summary));
  batch.Put(s.cf[kEmbeddings], IdKey(ns, summary.id), EncodeFloats(*embedding));
  batch.Put(s.cf[kSessions], SessionKey(ns, summary.session, summary.timestamp_ms, summary.id), "");
  batch.Put(s.cf[kMeta], NextIdKey(ns), BigEndian64(summary.id + 1));
  s.PutNsMeta(batch, ns, n->info.size() - removed.size() + 1, total_terms, n->generation + 1);
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "consolidating"); !st.ok()) {
    return st;
  }
  s.next_ids[std::string(ns)] = summary.id + 1;
  std::unique_lock lock(s.mu);
  n->total_terms = total_terms;
  n->generation += 1;
  for (int64_t id : removed) n->Erase(static_cast<uint64_t>(id));
  n->Insert(summary.id, summary);
  n->InvalidateIdf();
  if (Status st = n->index->Remove(removed); !st.ok()) return st;
  const int64_t key = static_cast<int64_t>(summary.id);
  if (Status st = n->index->Add(std::span(&key, 1), *embedding); !st.ok()) return st;
  return summary.id;
}

}  // namespace engram::memory
