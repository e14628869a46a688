#include "memory/episodic_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "common/json_write.h"
#include "common/key_encoding.h"
#include "memory/internal/checks.h"
#include "memory/internal/store_files.h"
#include "retrieval/bm25.h"
#include "retrieval/fusion.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using retrieval::Bm25Params;

using internal::CheckFormat;
using internal::DatabaseOptions;
using internal::Damaged;
using internal::IndexOwner;
using internal::InspectDirectory;
using internal::kFormat;
using internal::kFormatV1;
using internal::NewStoreId;
using internal::ReadFormat;
using internal::TableOptions;
constexpr size_t kMaxNamespaceBytes = 128;
// How long closing waits for the compactions RocksDB scheduled (see ~EpisodicStore).
constexpr auto kCompactionWait = std::chrono::seconds(60);

enum Cf { kMeta = 0, kEpisodes, kSessions, kEmbeddings, kVersions, kPostings, kTerms, kCfCount };
const char* const kCfNames[kCfCount] = {"default",  "episodes", "sessions", "embeddings",
                                        "versions", "postings", "terms"};

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  const StatusCode code = s.IsNotFound()     ? StatusCode::kNotFound
                          : s.IsCorruption() ? StatusCode::kCorruption
                                             : StatusCode::kIOError;
  return Status(code, "memory: " + std::string(what) + ": " + s.ToString());
}

Status ValidateNamespace(std::string_view ns) {
  const bool ok_chars = std::all_of(ns.begin(), ns.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
           c == '@' || c == '-';
  });
  if (ns.empty() || ns.size() > kMaxNamespaceBytes || !ok_chars || ns == "." || ns == "..") {
    return Status::InvalidArgument("memory: namespace '" + std::string(ns) +
                                   "' is not 1-128 characters of A-Z a-z 0-9 . _ : @ -");
  }
  return Status::OK();
}

Status ValidateSession(std::string_view session) { return internal::CheckSession(session); }

// Keys: every key of a namespace starts with "<ns>\0".
std::string NsPrefix(std::string_view ns) {
  std::string p(ns);
  p += '\0';
  return p;
}
std::string IdKey(std::string_view ns, uint64_t id) {
  std::string k = NsPrefix(ns);
  AppendBigEndian64(k, id);
  return k;
}
std::string SessionPrefix(std::string_view ns, std::string_view session) {
  std::string k = NsPrefix(ns);
  k += session;
  k += '\0';
  return k;
}
std::string SessionKey(std::string_view ns, std::string_view session, int64_t time, uint64_t id) {
  std::string k = SessionPrefix(ns, session);
  AppendBigEndian64(k, OrderedFromSigned(time));
  AppendBigEndian64(k, id);
  return k;
}
std::string VersionKey(std::string_view ns, uint64_t id, uint32_t version) {
  std::string k = IdKey(ns, id);
  AppendBigEndian64(k, version);
  return k;
}
std::string TermKey(std::string_view ns, std::string_view term) {
  std::string k = NsPrefix(ns);
  k += term;
  return k;
}
std::string PostingPrefix(std::string_view ns, std::string_view term) {
  std::string k = TermKey(ns, term);
  k += '\0';
  return k;
}
std::string PostingKey(std::string_view ns, std::string_view term, uint64_t id) {
  std::string k = PostingPrefix(ns, term);
  AppendBigEndian64(k, id);
  return k;
}
std::string NsMetaKey(std::string_view ns) { return "ns/" + std::string(ns); }
std::string NextIdKey(std::string_view ns) { return "next_id/" + std::string(ns); }
// The exclusive end of a namespace's key range: "<ns>\1".
std::string NsEnd(std::string_view ns) {
  std::string k(ns);
  k += '\1';
  return k;
}

std::string EncodeFloats(std::span<const float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
std::vector<float> DecodeFloats(std::string_view s) {
  std::vector<float> v(s.size() / sizeof(float));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
  return v;
}
std::string EncodePosting(uint32_t tf, uint32_t length) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &tf, 4);
  std::memcpy(out.data() + 4, &length, 4);
  return out;
}
void DecodePosting(std::string_view s, uint32_t* tf, uint32_t* length) {
  *tf = 0;
  *length = 0;
  if (s.size() < 8) return;
  std::memcpy(tf, s.data(), 4);
  std::memcpy(length, s.data() + 4, 4);
}

json EpisodeJson(const Episode& e) {
  return {{"session", e.session},       {"role", e.role},
          {"text", e.text},             {"timestamp_ms", e.timestamp_ms},
          {"importance", e.importance}, {"metadata", e.metadata},
          {"expires_ms", e.expires_ms}, {"version", e.version},
          {"sources", e.sources}};
}

std::optional<Episode> EpisodeFromJson(uint64_t id, std::string_view s) try {
  const json j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  Episode e;
  e.id = id;
  e.session = j.value("session", "");
  e.role = j.value("role", "");
  e.text = j.value("text", "");
  e.timestamp_ms = j.value("timestamp_ms", int64_t{0});
  e.importance = j.value("importance", 0.5);
  e.metadata = j.value("metadata", std::map<std::string, std::string>{});
  e.expires_ms = j.value("expires_ms", int64_t{0});
  e.version = j.value("version", 1u);
  e.sources = j.value("sources", std::vector<uint64_t>{});
  return e;
} catch (const json::exception&) {  // a field of the wrong type: a damaged record
  return std::nullopt;
}

// The stored form of an episode. Callers have checked it (internal::CheckEpisode: valid UTF-8,
// so JsonText replaces nothing and no data is lost).
std::string EncodeEpisode(const Episode& e) { return JsonText(EpisodeJson(e)); }

// What recall filters need of an episode, kept in memory per namespace.
struct EpisodeInfo {
  uint32_t session = 0;  // index into NsState::sessions
  int64_t timestamp_ms = 0;
  int64_t expires_ms = 0;
  double importance = 0.5;
  std::map<std::string, std::string> metadata;
};

bool Expired(const EpisodeInfo& info, int64_t now) {
  return info.expires_ms != 0 && info.expires_ms <= now;
}

// Term changes of one write, applied at the end so several episodes' changes compose.
struct TermChanges {
  std::map<std::string, int64_t> df_delta;
};

}  // namespace

struct NsState {
  std::unique_ptr<retrieval::VectorIndex> index;
  uint64_t generation = 0;  // writes to the namespace so far (persisted in its meta record)
  uint64_t saved_generation = UINT64_MAX;
  uint64_t total_terms = 0;
  std::unordered_map<uint64_t, EpisodeInfo> info;  // live episodes
  std::vector<std::string> sessions;
  std::unordered_map<std::string, uint32_t> session_index;
  uint64_t with_ttl = 0;  // live episodes that have an expiry
  mutable std::mutex idf_mu;
  mutable std::optional<double> mean_idf;

  uint32_t SessionId(const std::string& session) {
    auto [it, inserted] = session_index.try_emplace(session, static_cast<uint32_t>(sessions.size()));
    if (inserted) sessions.push_back(session);
    return it->second;
  }
  void Insert(uint64_t id, const Episode& e) {
    EpisodeInfo i;
    i.session = SessionId(e.session);
    i.timestamp_ms = e.timestamp_ms;
    i.expires_ms = e.expires_ms;
    i.importance = e.importance;
    i.metadata = e.metadata;
    if (e.expires_ms != 0) ++with_ttl;
    auto [it, inserted] = info.insert_or_assign(id, std::move(i));
    (void)it;
    (void)inserted;
  }
  void Erase(uint64_t id) {
    auto it = info.find(id);
    if (it == info.end()) return;
    if (it->second.expires_ms != 0) --with_ttl;
    info.erase(it);
  }
  void InvalidateIdf() {
    std::lock_guard lock(idf_mu);
    mean_idf.reset();
  }
};

struct EpisodicStore::State {
  std::string path;
  StoreOptions options;
  int dim = 0;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;
  Bm25Params bm25;

  std::mutex write_mu;             // one writer at a time
  mutable std::shared_mutex mu;    // the maps below and every NsState
  std::map<std::string, std::unique_ptr<NsState>, std::less<>> namespaces;
  std::string store_id;  // "store_id" in the meta column family
  // The next id of each namespace that ever had one ("next_id/<ns>"; 1 when absent). Guarded by
  // write_mu.
  std::map<std::string, uint64_t, std::less<>> next_ids;

  uint64_t NextId(std::string_view ns) const {
    auto it = next_ids.find(ns);
    return it == next_ids.end() ? 1 : it->second;
  }

  ~State() {
    for (auto* h : cf) {
      if (h != nullptr && db != nullptr) db->DestroyColumnFamilyHandle(h);
    }
  }

  rocksdb::WriteOptions WriteOpts() const {
    rocksdb::WriteOptions w;
    w.sync = options.sync;
    return w;
  }
  std::string IndexPath(std::string_view ns) const {
    return (fs::path(path) / "index" / (std::string(ns) + ".vindex")).string();
  }
  NsState* Find(std::string_view ns) const {
    auto it = namespaces.find(ns);
    return it == namespaces.end() ? nullptr : it->second.get();
  }

  Result<std::vector<float>> EmbeddingFor(const std::string& text, const std::vector<float>& given) const {
    std::vector<float> v;
    if (!given.empty()) {
      if (static_cast<int>(given.size()) != dim) {
        return Status::InvalidArgument("memory: the embedding has " + std::to_string(given.size()) +
                                       " values, the store's dimension is " + std::to_string(dim));
      }
      v = given;
    } else {
      if (options.embedder == nullptr) {
        return Status::InvalidArgument(
            "memory: no embedding given and the store has no embedder to compute one");
      }
      Result<retrieval::EmbeddingBatch> e = options.embedder->Embed(std::span(&text, 1));
      if (!e.ok()) return e.status();
      v = e->values;
    }
    double norm = 0.0;
    for (float x : v) {
      if (!std::isfinite(x)) return Status::InvalidArgument("memory: the embedding is not finite");
      norm += static_cast<double>(x) * x;
    }
    if (norm == 0.0) return Status::InvalidArgument("memory: the embedding is all zeros");
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= inv;
    return v;
  }

  Result<std::optional<Episode>> ReadEpisode(std::string_view ns, uint64_t id) const {
    std::string value;
    const rocksdb::Status s = db->Get({}, cf[kEpisodes], IdKey(ns, id), &value);
    if (s.IsNotFound()) return std::optional<Episode>();
    if (!s.ok()) return FromRocks(s, "reading episode " + std::to_string(id));
    std::optional<Episode> e = EpisodeFromJson(id, value);
    if (!e) return Status::Corruption("memory: episode " + std::to_string(id) + " is unreadable");
    return e;
  }

  // The namespace's meta record after this write: episode count, term total, generation.
  void PutNsMeta(rocksdb::WriteBatch& batch, std::string_view ns, uint64_t episodes,
                 uint64_t total_terms, uint64_t generation) {
    const json j = {{"episodes", episodes}, {"total_terms", total_terms},
                    {"generation", generation}};
    batch.Put(cf[kMeta], NsMetaKey(ns), JsonText(j));
  }

  void AddPostings(rocksdb::WriteBatch& batch, std::string_view ns, uint64_t id,
                   const std::string& text, TermChanges& changes, uint64_t* terms_out) {
    const std::vector<std::string> terms = retrieval::Bm25Terms(text);
    std::map<std::string, uint32_t> tf;
    for (const std::string& t : terms) ++tf[t];
    for (const auto& [t, n] : tf) {
      batch.Put(cf[kPostings], PostingKey(ns, t, id), EncodePosting(n, static_cast<uint32_t>(terms.size())));
      ++changes.df_delta[t];
    }
    *terms_out = terms.size();
  }
  void RemovePostings(rocksdb::WriteBatch& batch, std::string_view ns, uint64_t id,
                      const std::string& text, TermChanges& changes, uint64_t* terms_out) {
    const std::vector<std::string> terms = retrieval::Bm25Terms(text);
    std::set<std::string> distinct(terms.begin(), terms.end());
    for (const std::string& t : distinct) {
      batch.Delete(cf[kPostings], PostingKey(ns, t, id));
      --changes.df_delta[t];
    }
    *terms_out = terms.size();
  }
  Status ApplyDf(rocksdb::WriteBatch& batch, std::string_view ns, const TermChanges& changes) {
    for (const auto& [term, delta] : changes.df_delta) {
      if (delta == 0) continue;
      std::string value;
      const std::string key = TermKey(ns, term);
      const rocksdb::Status s = db->Get({}, cf[kTerms], key, &value);
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading term statistics");
      const int64_t df = (s.ok() ? static_cast<int64_t>(ReadBigEndian64(value)) : 0) + delta;
      if (df <= 0) {
        batch.Delete(cf[kTerms], key);
      } else {
        batch.Put(cf[kTerms], key, BigEndian64(static_cast<uint64_t>(df)));
      }
    }
    return Status::OK();
  }

  // Everything that removes episode `e` of `ns` (not its history unless `with_history`).
  // Returns the episode's term count.
  uint64_t RemoveEpisode(rocksdb::WriteBatch& batch, std::string_view ns, const Episode& e,
                         TermChanges& changes, bool with_history) {
    uint64_t terms = 0;
    RemovePostings(batch, ns, e.id, e.text, changes, &terms);
    batch.Delete(cf[kEpisodes], IdKey(ns, e.id));
    batch.Delete(cf[kEmbeddings], IdKey(ns, e.id));
    batch.Delete(cf[kSessions], SessionKey(ns, e.session, e.timestamp_ms, e.id));
    if (with_history) {
      std::string end = IdKey(ns, e.id);
      end += std::string(8, '\xff');
      end += '\xff';
      batch.DeleteRange(cf[kVersions], IdKey(ns, e.id), end);
    }
    return terms;
  }

  double MeanIdf(std::string_view ns, const NsState& n) const {
    std::lock_guard lock(n.idf_mu);
    if (n.mean_idf) return *n.mean_idf;
    double sum = 0.0;
    uint64_t terms = 0;
    const std::string prefix = NsPrefix(ns);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kTerms]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      sum += retrieval::Bm25RawIdf(static_cast<int64_t>(n.info.size()),
                                   static_cast<int64_t>(ReadBigEndian64(it->value().ToStringView())));
      ++terms;
    }
    n.mean_idf = terms > 0 ? sum / static_cast<double>(terms) : 0.0;
    return *n.mean_idf;
  }

  // Loads a namespace's index, catching it up from the stored embeddings when it is missing,
  // damaged or behind the namespace's generation.
  Status LoadNamespace(const std::string& ns, const json& meta) {
    auto n = std::make_unique<NsState>();
    n->generation = meta.value("generation", uint64_t{0});
    n->total_terms = meta.value("total_terms", uint64_t{0});
    const std::string prefix = NsPrefix(ns);
    {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kEpisodes]));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const uint64_t id = ReadBigEndian64(it->key().ToStringView().substr(prefix.size()));
        std::optional<Episode> e = EpisodeFromJson(id, it->value().ToStringView());
        if (!e) return Status::Corruption("memory: episode " + std::to_string(id) + " is unreadable");
        n->Insert(id, *e);
      }
      if (!it->status().ok()) return FromRocks(it->status(), "scanning episodes");
    }
    uint64_t saved = 0;
    // The file must be owned by this store's namespace (VectorIndex's owner stamp, as for
    // collections) and reflect the namespace's current generation.
    Result<std::unique_ptr<retrieval::VectorIndex>> loaded =
        retrieval::VectorIndex::Load(IndexPath(ns), &saved, IndexOwner(store_id, ns));
    const bool sealed = loaded.ok() && saved == n->generation;
    if (sealed && (*loaded)->dim() == dim &&
        static_cast<size_t>((*loaded)->size()) == n->info.size()) {
      n->index = std::move(*loaded);
      n->saved_generation = n->generation;
    } else {
      // Missing, damaged, behind, or sealed for another store or namespace (a copied file):
      // rebuilt from the stored embeddings (an index that is behind may hold vectors of
      // episodes updated since, so it is not reused either).
      if (loaded.ok() || loaded.status().code() == StatusCode::kFailedPrecondition) {
        spdlog::warn("memory: the index '{}' does not match namespace '{}' of this store ({}); "
                     "rebuilding it from the stored embeddings",
                     IndexPath(ns), ns,
                     sealed ? "wrong size" : "another store's, another namespace's or stale");
      }
      Result<std::unique_ptr<retrieval::VectorIndex>> created =
          retrieval::VectorIndex::Create(dim, options.index);
      if (!created.ok()) return created.status();
      n->index = std::move(*created);
      if (Status s = RebuildIndex(ns, *n); !s.ok()) return s;
    }
    namespaces[ns] = std::move(n);
    return Status::OK();
  }

  Status RebuildIndex(std::string_view ns, NsState& n) {
    std::vector<int64_t> ids;
    std::vector<float> vectors;
    const std::string prefix = NsPrefix(ns);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kEmbeddings]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const uint64_t id = ReadBigEndian64(it->key().ToStringView().substr(prefix.size()));
      const std::vector<float> v = DecodeFloats(it->value().ToStringView());
      if (static_cast<int>(v.size()) != dim || !n.info.count(id)) {
        return Status::Corruption("memory: the stored embedding of episode " + std::to_string(id) +
                                  " in '" + path + "' does not match its episode");
      }
      ids.push_back(static_cast<int64_t>(id));
      vectors.insert(vectors.end(), v.begin(), v.end());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning embeddings");
    if (ids.size() != n.info.size()) {
      return Status::Corruption("memory: namespace '" + std::string(ns) + "' has " +
                                std::to_string(n.info.size()) + " episodes but " +
                                std::to_string(ids.size()) + " stored embeddings");
    }
    if (!ids.empty()) {
      if (Status s = n.index->Add(ids, vectors); !s.ok()) return s;
    }
    n.saved_generation = UINT64_MAX;  // differs from generation: saved on the next Flush
    return Status::OK();
  }

  Status SaveIndexes() {
    std::error_code ec;
    fs::create_directories(fs::path(path) / "index", ec);
    if (ec) return Status::IOError("memory: cannot create '" + path + "/index': " + ec.message());
    for (auto& [ns, n] : namespaces) {
      if (n->saved_generation == n->generation) continue;
      if (Status s = n->index->Save(IndexPath(ns), n->generation, IndexOwner(store_id, ns));
          !s.ok()) {
        return s;
      }
      n->saved_generation = n->generation;
    }
    return Status::OK();
  }
  // Opening (definitions below).
  Status OpenDatabase(const fs::path& db_path);
  Status Initialise(std::string_view embedder_name);
  Status CheckEmbedder(std::string_view embedder_name) const;
  Status MigrateFromV1();
  Status LoadAll();
  // Removes `ids` of `ns` with their history in one write; needs write_mu. Ids that are not
  // live episodes of `ns`: kNotFound naming all of them and nothing changes, or skipped when
  // `skip_missing`. Returns how many were removed.
  Result<uint64_t> RemoveEpisodes(std::string_view ns, std::span<const uint64_t> ids,
                                  bool skip_missing);
  // A session's live episodes in a time range (EpisodicStore::ListSession without its checks).
  Result<EpisodePage> List(std::string_view ns, std::string_view session,
                           const ListOptions& options) const;
  // The BM25 side of a recall: the query's terms and idf, the namespace's statistics, and the
  // best `candidates` episodes that `allowed` admits (all when null), by MaxScore.
  struct Bm25Pass {
    std::map<std::string, int> query_terms;
    std::map<std::string, double> idf;  // of the query terms the namespace has
    retrieval::Bm25Stats stats;
    std::unordered_map<uint64_t, double> top;
  };
  Status Bm25Candidates(std::string_view ns, const NsState& n, std::string_view query,
                        size_t candidates, const std::function<bool(uint64_t)>* allowed,
                        Bm25Pass& out) const;
  // The cosine of episode `id` with a normalised query; its BM25 score for a pass's query.
  Result<double> Cosine(std::string_view ns, uint64_t id, std::span<const float> query) const;
  Result<double> Bm25Score(std::string_view ns, uint64_t id, const Bm25Pass& pass) const;
  // Sorts scored candidates best first (ties by id), keeps k and reads their episodes.
  Status KeepBest(std::string_view ns, size_t k, std::vector<RecalledEpisode>& out) const;
  // Waits (up to kCompactionWait) until RocksDB has no compaction pending or running.
  void WaitForCompactions();
};

Status EpisodicStore::State::OpenDatabase(const fs::path& db_path) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : kCfNames) cfs.emplace_back(name, TableOptions());
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(DatabaseOptions(), db_path.string(), cfs, &cf, &raw);
  if (s.ok()) {
    db.reset(raw);
    return Status::OK();
  }
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::FailedPrecondition("memory: store '" + path +
                                      "' is in use by another process (" + s.ToString() +
                                      "); wait for it to finish");
  }
  return Damaged(path, "RocksDB cannot open it: " + s.ToString());
}

Status EpisodicStore::State::Initialise(std::string_view embedder_name) {
  store_id = NewStoreId();
  rocksdb::WriteBatch batch;
  batch.Put(cf[kMeta], "format", std::string(kFormat));
  batch.Put(cf[kMeta], "embedder",
            JsonText(json{{"name", std::string(embedder_name)}, {"dim", dim}}));
  batch.Put(cf[kMeta], "store_id", store_id);
  rocksdb::WriteOptions w;
  w.sync = true;
  return FromRocks(db->Write(w, &batch), "initialising '" + path + "'");
}

Status EpisodicStore::State::CheckEmbedder(std::string_view embedder_name) const {
  std::string value;
  const rocksdb::Status s = db->Get({}, cf[kMeta], "embedder", &value);
  const json stored = s.ok() ? json::parse(value, nullptr, false) : json();
  if (!s.ok() || stored.is_discarded() || !stored.is_object()) {
    return Damaged(path, "its embedder record is missing or unreadable");
  }
  const std::string stored_name =
      stored.contains("name") && stored["name"].is_string() ? stored["name"].get<std::string>() : "";
  const int stored_dim = stored.contains("dim") && stored["dim"].is_number_integer()
                             ? stored["dim"].get<int>()
                             : 0;
  if (stored_dim != dim ||
      (!embedder_name.empty() && !stored_name.empty() && stored_name != embedder_name)) {
    return Status::FailedPrecondition("memory: '" + path + "' was built with embedder '" +
                                      stored_name + "' (dim " + std::to_string(stored_dim) +
                                      "), not '" + std::string(embedder_name) + "' (dim " +
                                      std::to_string(dim) + ")");
  }
  return Status::OK();
}

// Format 1 had one "next_id" for the whole store. Every namespace's counter starts at it (so no
// id is reused), the store gets its identity, and the marker becomes format 2: one atomic write.
Status EpisodicStore::State::MigrateFromV1() {
  std::string value;
  const rocksdb::Status s = db->Get({}, cf[kMeta], "next_id", &value);
  if (!s.ok() || value.size() != 8) return Damaged(path, "its format 1 id counter is unreadable");
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kMeta]));
  for (it->Seek("ns/"); it->Valid() && it->key().starts_with("ns/"); it->Next()) {
    batch.Put(cf[kMeta], NextIdKey(it->key().ToStringView().substr(3)), value);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "migrating '" + path + "'");
  batch.Put(cf[kMeta], "store_id", NewStoreId());
  batch.Delete(cf[kMeta], "next_id");
  batch.Put(cf[kMeta], "format", std::string(kFormat));
  rocksdb::WriteOptions w;
  w.sync = true;
  if (Status st = FromRocks(db->Write(w, &batch), "migrating '" + path + "'"); !st.ok()) return st;
  spdlog::info("memory: migrated '{}' from {} to {} (ids are now per namespace)", path, kFormatV1,
               kFormat);
  return Status::OK();
}

Status EpisodicStore::State::LoadAll() {
  if (!db->Get({}, cf[kMeta], "store_id", &store_id).ok() || store_id.empty()) {
    return Damaged(path, "its store identity record is missing");
  }
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kMeta]));
  for (it->Seek("next_id/"); it->Valid() && it->key().starts_with("next_id/"); it->Next()) {
    if (it->value().size() != 8) return Damaged(path, "an id counter is unreadable");
    next_ids[it->key().ToString().substr(8)] = ReadBigEndian64(it->value().ToStringView());
  }
  std::vector<std::pair<std::string, json>> metas;
  for (it->Seek("ns/"); it->Valid() && it->key().starts_with("ns/"); it->Next()) {
    json meta = json::parse(it->value().ToStringView(), nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) {
      return Damaged(path, "the record '" + it->key().ToString() + "' is unreadable");
    }
    metas.emplace_back(it->key().ToString().substr(3), std::move(meta));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading '" + path + "'");
  for (const auto& [ns, meta] : metas) {
    if (Status st = LoadNamespace(ns, meta); !st.ok()) return st;
  }
  return Status::OK();
}

void EpisodicStore::State::WaitForCompactions() {
  // A short-lived process (one CLI command) closes before RocksDB's background compactions
  // finish, and closing abandons them: table files would pile up without bound. Let them run.
  // A column family can stay "compaction pending" with nothing the picker will start, so the
  // wait ends when nothing is pending, or when nothing has run for kQuiet.
  constexpr auto kQuiet = std::chrono::milliseconds(20);
  const auto start = std::chrono::steady_clock::now();
  auto last_busy = start;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    uint64_t value = 0;
    const bool running = db->GetIntProperty("rocksdb.num-running-compactions", &value) && value > 0;
    bool pending = false;
    for (rocksdb::ColumnFamilyHandle* h : cf) {
      pending = pending || (db->GetIntProperty(h, "rocksdb.compaction-pending", &value) && value > 0);
    }
    if (running) last_busy = now;
    if (!running && (!pending || now - last_busy > kQuiet)) return;
    if (now - start > kCompactionWait) {
      spdlog::warn("memory: compactions of '{}' still running after {} s; closing anyway", path,
                   kCompactionWait.count());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

EpisodicStore::EpisodicStore(std::unique_ptr<State> state) : s_(std::move(state)) {}

EpisodicStore::~EpisodicStore() {
  if (s_ == nullptr || s_->db == nullptr) return;
  if (Status st = Flush(); !st.ok()) spdlog::warn("{}", st.ToString());
  s_->WaitForCompactions();
}

Result<std::unique_ptr<EpisodicStore>> EpisodicStore::Open(const std::string& path,
                                                           const StoreOptions& options) {
  const int dim = options.embedder != nullptr ? options.embedder->Dim() : options.dim;
  if (dim <= 0) {
    return Status::InvalidArgument("memory: StoreOptions needs an embedder or a positive dim");
  }
  if (options.embedder != nullptr && options.dim != 0 && options.dim != dim) {
    return Status::InvalidArgument("memory: StoreOptions::dim " + std::to_string(options.dim) +
                                   " disagrees with the embedder's " + std::to_string(dim));
  }
  bool existing = false;
  if (Status st = InspectDirectory(path, &existing); !st.ok()) return st;
  if (!existing && !options.create_if_missing) {
    return Status::NotFound("memory: no store in '" + path + "'");
  }
  const fs::path db_path = fs::path(path) / "db";
  std::string format;
  if (existing) {  // checked read-only first: a foreign or damaged database is never written to
    Result<std::string> f = ReadFormat(path, db_path);
    if (!f.ok()) return f.status();
    format = std::move(*f);
    if (Status st = CheckFormat(path, format); !st.ok()) return st;
  }
  std::error_code ec;
  fs::create_directories(fs::path(path) / "index", ec);
  if (ec) return Status::IOError("memory: cannot create '" + path + "': " + ec.message());

  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  state->dim = dim;
  if (Status st = state->OpenDatabase(db_path); !st.ok()) return st;
  const std::string embedder_name =
      options.embedder != nullptr ? std::string(options.embedder->Name()) : std::string();
  if (!existing) {
    if (Status st = state->Initialise(embedder_name); !st.ok()) return st;
  } else {
    if (Status st = state->CheckEmbedder(embedder_name); !st.ok()) return st;
    if (format == kFormatV1) {
      if (Status st = state->MigrateFromV1(); !st.ok()) return st;
    }
    if (Status st = state->LoadAll(); !st.ok()) return st;
  }
  auto store = std::unique_ptr<EpisodicStore>(new EpisodicStore(std::move(state)));
  if (Status st = store->Flush(); !st.ok()) return st;
  return store;
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
  std::vector<float> embeddings;
  embeddings.reserve(episodes.size() * static_cast<size_t>(s.dim));
  for (size_t i = 0; i < episodes.size(); ++i) {
    const auto at = [&](const Status& st) {
      return episodes.size() == 1 ? st
                                  : Status(st.code(), std::string(st.message()) + " (episode " +
                                                          std::to_string(i) + " of the batch)");
    };
    if (Status st = internal::CheckEpisode(episodes[i]); !st.ok()) return at(st);
    Result<std::vector<float>> embedding = s.EmbeddingFor(episodes[i].text, episodes[i].embedding);
    if (!embedding.ok()) return at(embedding.status());
    embeddings.insert(embeddings.end(), embedding->begin(), embedding->end());
  }
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
  TermChanges changes;
  uint64_t terms = 0;
  std::vector<Episode> stored;
  std::vector<int64_t> ids;
  const int64_t now = WallClockMs();
  const uint64_t first_id = s.NextId(ns);
  for (size_t i = 0; i < episodes.size(); ++i) {
    Episode e = episodes[i];
    e.id = first_id + i;
    e.version = 1;
    if (e.timestamp_ms == 0) e.timestamp_ms = now;
    e.embedding.clear();
    uint64_t episode_terms = 0;
    s.AddPostings(batch, ns, e.id, e.text, changes, &episode_terms);
    terms += episode_terms;
    batch.Put(s.cf[kEpisodes], IdKey(ns, e.id), EncodeEpisode(e));
    batch.Put(s.cf[kEmbeddings], IdKey(ns, e.id),
              EncodeFloats(std::span(embeddings).subspan(i * static_cast<size_t>(s.dim),
                                                         static_cast<size_t>(s.dim))));
    batch.Put(s.cf[kSessions], SessionKey(ns, e.session, e.timestamp_ms, e.id), "");
    ids.push_back(static_cast<int64_t>(e.id));
    stored.push_back(std::move(e));
  }
  if (Status st = s.ApplyDf(batch, ns, changes); !st.ok()) return st;
  const uint64_t next_id = first_id + episodes.size();
  batch.Put(s.cf[kMeta], NextIdKey(ns), BigEndian64(next_id));
  s.PutNsMeta(batch, ns, n.info.size() + episodes.size(), n.total_terms + terms,
              n.generation + 1);
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "appending"); !st.ok()) return st;
  s.next_ids[std::string(ns)] = next_id;
  std::unique_lock lock(s.mu);
  if (created) s.namespaces[std::string(ns)] = std::move(created);
  NsState& live = *s.Find(ns);
  live.total_terms += terms;
  live.generation += 1;
  for (const Episode& e : stored) live.Insert(e.id, e);
  live.InvalidateIdf();
  // The database is the truth from here; should this fail, the next Open rebuilds the index.
  if (Status st = live.index->Add(ids, embeddings); !st.ok()) return st;
  return std::vector<uint64_t>(ids.begin(), ids.end());
}

Result<Episode> EpisodicStore::Get(std::string_view ns, uint64_t id, bool with_embedding) const {
  const State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  auto not_found = [&] {
    return Status::NotFound("memory: no episode " + std::to_string(id) + " in namespace '" +
                            std::string(ns) + "'");
  };
  Result<std::optional<Episode>> e = s.ReadEpisode(ns, id);
  if (!e.ok()) return e.status();
  if (!*e || ((*e)->expires_ms != 0 && (*e)->expires_ms <= WallClockMs())) return not_found();
  if (with_embedding) {
    std::string value;
    rocksdb::Status st = s.db->Get({}, s.cf[kEmbeddings], IdKey(ns, id), &value);
    if (!st.ok()) return FromRocks(st, "reading the embedding of episode " + std::to_string(id));
    (*e)->embedding = DecodeFloats(value);
  }
  return std::move(**e);
}

Result<EpisodePage> EpisodicStore::ListSession(std::string_view ns, std::string_view session,
                                               const ListOptions& options) const {
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = ValidateSession(session); !st.ok()) return st;
  if (Status st = internal::CheckListOptions(options); !st.ok()) return st;
  return s_->List(ns, session, options);
}

Result<EpisodePage> EpisodicStore::State::List(std::string_view ns, std::string_view session,
                                               const ListOptions& options) const {
  const State& s = *this;
  const std::string prefix = SessionPrefix(ns, session);
  std::string start = prefix;
  AppendBigEndian64(start, OrderedFromSigned(options.from_ms));
  if (!options.page_token.empty()) {
    // The token is the last key returned, hex-encoded; resume after it.
    auto nibble = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    std::string key;
    bool hex = options.page_token.size() % 2 == 0;
    for (size_t i = 0; hex && i < options.page_token.size(); i += 2) {
      const int hi = nibble(options.page_token[i]), lo = nibble(options.page_token[i + 1]);
      hex = hi >= 0 && lo >= 0;
      key += static_cast<char>(hi * 16 + lo);
    }
    if (!hex || !key.starts_with(prefix) || key.size() != prefix.size() + 16) {
      return Status::InvalidArgument("memory: the page token is not from this session's listing");
    }
    start = key + '\0';
  }
  EpisodePage page;
  const int64_t now = WallClockMs();
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator({}, s.cf[kSessions]));
  std::string last_key;
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view tail = it->key().ToStringView().substr(prefix.size());
    const int64_t time = SignedFromOrdered(ReadBigEndian64(tail));
    if (time > options.to_ms) break;
    if (page.episodes.size() == options.limit) {
      static constexpr char kHex[] = "0123456789abcdef";
      for (unsigned char c : last_key) {
        page.next_page_token += kHex[c >> 4];
        page.next_page_token += kHex[c & 15];
      }
      break;
    }
    const uint64_t id = ReadBigEndian64(tail.substr(8));
    Result<std::optional<Episode>> e = s.ReadEpisode(ns, id);
    if (!e.ok()) return e.status();
    last_key = it->key().ToString();
    if (!*e || ((*e)->expires_ms != 0 && (*e)->expires_ms <= now)) continue;
    page.episodes.push_back(std::move(**e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing a session");
  return page;
}

// The weighted score of every candidate (file comment of episodic_store.h), with its recency.
Status EpisodicStore::State::KeepBest(std::string_view ns, size_t k,
                                      std::vector<RecalledEpisode>& out) const {
  std::sort(out.begin(), out.end(), [](const RecalledEpisode& a, const RecalledEpisode& b) {
    return a.score != b.score ? a.score > b.score : a.episode.id < b.episode.id;
  });
  if (out.size() > k) out.resize(k);
  for (RecalledEpisode& r : out) {
    Result<std::optional<Episode>> e = ReadEpisode(ns, r.episode.id);
    if (!e.ok()) return e.status();
    if (*e) r.episode = std::move(**e);
  }
  return Status::OK();
}

static void ScoreCandidates(const NsState& n, const RecallOptions& options, int64_t now, double best_bm25,
                     std::vector<RecalledEpisode>& out) {
  const double half_life_ms = options.half_life_hours * 3600e3;
  for (RecalledEpisode& r : out) {
    const EpisodeInfo& i = n.info.at(r.episode.id);
    const double age = std::max<double>(0.0, static_cast<double>(now - i.timestamp_ms));
    r.recency = std::pow(0.5, age / half_life_ms);
    r.score = options.relevance_weight * r.relevance +
              (best_bm25 > 0.0 ? options.bm25_weight * r.bm25 / best_bm25 : 0.0) +
              options.recency_weight * r.recency + options.importance_weight * i.importance;
  }
}

Result<double> EpisodicStore::State::Cosine(std::string_view ns, uint64_t id,
                                            std::span<const float> query) const {
  std::string value;
  const rocksdb::Status st = db->Get({}, cf[kEmbeddings], IdKey(ns, id), &value);
  if (!st.ok()) return FromRocks(st, "reading an embedding");
  const std::vector<float> v = DecodeFloats(value);
  double dot = 0.0;
  for (size_t d = 0; d < v.size() && d < query.size(); ++d) dot += v[d] * query[d];
  return dot;
}

Result<double> EpisodicStore::State::Bm25Score(std::string_view ns, uint64_t id,
                                               const Bm25Pass& pass) const {
  double score = 0.0;
  for (const auto& [term, term_idf] : pass.idf) {
    std::string value;
    const rocksdb::Status st = db->Get({}, cf[kPostings], PostingKey(ns, term, id), &value);
    if (st.IsNotFound()) continue;
    if (!st.ok()) return FromRocks(st, "reading postings");
    uint32_t tf = 0, length = 0;
    DecodePosting(value, &tf, &length);
    score += pass.query_terms.at(term) *
             retrieval::Bm25TermScore(term_idf, tf, length, pass.stats.average_length, bm25);
  }
  return score;
}

Status EpisodicStore::State::Bm25Candidates(std::string_view ns, const NsState& n,
                                            std::string_view query, size_t candidates,
                                            const std::function<bool(uint64_t)>* allowed,
                                            Bm25Pass& out) const {
  const State& s = *this;
  std::map<std::string, int>& query_terms = out.query_terms;
  for (std::string& t : retrieval::Bm25Terms(query)) ++query_terms[t];
  retrieval::Bm25Stats& stats = out.stats;
  stats.documents = static_cast<int64_t>(n.info.size());
  stats.average_length = static_cast<double>(n.total_terms) / static_cast<double>(n.info.size());
  std::map<std::string, double>& idf = out.idf;
  if (query_terms.empty()) return Status::OK();
  {
    stats.mean_idf = s.MeanIdf(ns, n);
    struct QueryTerm {
      std::string term;
      int repeats;
      double idf;
    };
    std::vector<QueryTerm> terms;
    for (const auto& [term, repeats] : query_terms) {
      std::string df_value;
      rocksdb::Status st = s.db->Get({}, s.cf[kTerms], TermKey(ns, term), &df_value);
      if (st.IsNotFound()) continue;
      if (!st.ok()) return FromRocks(st, "reading term statistics");
      const double term_idf =
          retrieval::Bm25Idf(stats, static_cast<int64_t>(ReadBigEndian64(df_value)), s.bm25);
      idf[term] = term_idf;
      terms.push_back({term, repeats, term_idf});
    }
    // MaxScore: rare terms first. A term adds at most repeats · idf · (k1 + 1) to any episode;
    // once the candidates' weakest score beats what all remaining terms could give an episode
    // not seen yet, the remaining (common, long) posting lists need not be scanned: only the
    // episodes already scored that could still reach the candidates are looked up. The top
    // candidates are the same as with every list scanned.
    std::sort(terms.begin(), terms.end(),
              [](const QueryTerm& a, const QueryTerm& b) { return a.idf > b.idf; });
    auto bound_from = [&](size_t first) {
      double bound = 0.0;
      for (size_t u = first; u < terms.size(); ++u) {
        bound += terms[u].repeats * std::max(terms[u].idf, 0.0) * (s.bm25.k1 + 1.0);
      }
      return bound;
    };
    std::unordered_map<uint64_t, double> scores;
    auto weakest_candidate = [&] {
      std::vector<double> values;
      values.reserve(scores.size());
      for (const auto& [id, score] : scores) values.push_back(score);
      std::nth_element(values.begin(), values.begin() + (candidates - 1), values.end(),
                       std::greater<double>());
      return values[candidates - 1];
    };
    size_t t = 0;
    for (; t < terms.size(); ++t) {
      if (scores.size() >= candidates && weakest_candidate() > bound_from(t)) break;
      const std::string prefix = PostingPrefix(ns, terms[t].term);
      std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator({}, s.cf[kPostings]));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const uint64_t id = ReadBigEndian64(it->key().ToStringView().substr(prefix.size()));
        if (allowed != nullptr && !(*allowed)(id)) continue;
        uint32_t tf = 0, length = 0;
        DecodePosting(it->value().ToStringView(), &tf, &length);
        scores[id] += terms[t].repeats * retrieval::Bm25TermScore(terms[t].idf, tf, length,
                                                                  stats.average_length, s.bm25);
      }
      if (!it->status().ok()) return FromRocks(it->status(), "reading postings");
    }
    if (t < terms.size()) {
      const double rest = bound_from(t);
      const double weakest = weakest_candidate();
      for (auto& [id, score] : scores) {
        if (score + rest < weakest) continue;  // cannot reach the candidates
        for (size_t u = t; u < terms.size(); ++u) {
          std::string value;
          rocksdb::Status st =
              s.db->Get({}, s.cf[kPostings], PostingKey(ns, terms[u].term, id), &value);
          if (st.IsNotFound()) continue;
          if (!st.ok()) return FromRocks(st, "reading postings");
          uint32_t tf = 0, length = 0;
          DecodePosting(value, &tf, &length);
          score += terms[u].repeats * retrieval::Bm25TermScore(terms[u].idf, tf, length,
                                                               stats.average_length, s.bm25);
        }
      }
    }
    std::vector<retrieval::RankedItem> ranked;
    for (const auto& [id, score] : scores) ranked.push_back({id, score});
    retrieval::TopK(ranked, candidates);
    for (const retrieval::RankedItem& r : ranked) out.top[r.id] = r.score;
  }
  return Status::OK();
}

Result<std::vector<RecalledEpisode>> EpisodicStore::Recall(std::string_view ns,
                                                           std::string_view query,
                                                           const RecallOptions& options) const {
  const State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = internal::CheckRecallOptions(options); !st.ok()) return st;
  // Embed before taking the lock (the embedder is the slow part).
  std::vector<float> query_vector;
  if (options.relevance_weight != 0.0) {
    Result<std::vector<float>> q = s.EmbeddingFor(std::string(query), options.query_embedding);
    if (!q.ok()) return q.status();
    query_vector = std::move(*q);
  }
  std::shared_lock lock(s.mu);
  const NsState* found = s.Find(ns);
  if (found == nullptr || found->info.empty()) return std::vector<RecalledEpisode>();
  const NsState& n = *found;
  const int64_t now = options.now_ms != 0 ? options.now_ms : WallClockMs();
  const size_t candidates =
      options.candidates > 0 ? static_cast<size_t>(options.candidates)
                             : std::max<size_t>(4 * static_cast<size_t>(options.k), 50);

  std::optional<uint32_t> session;
  if (!options.session.empty()) {
    auto it = n.session_index.find(options.session);
    if (it == n.session_index.end()) return std::vector<RecalledEpisode>();
    session = it->second;
  }
  const bool filtered = session || options.from_ms != std::numeric_limits<int64_t>::min() ||
                        options.to_ms != std::numeric_limits<int64_t>::max() ||
                        !options.metadata.empty() || n.with_ttl > 0;
  auto allowed = [&](uint64_t id) {
    auto it = n.info.find(id);
    if (it == n.info.end()) return false;
    const EpisodeInfo& i = it->second;
    if (Expired(i, now) || (session && i.session != *session) || i.timestamp_ms < options.from_ms ||
        i.timestamp_ms > options.to_ms) {
      return false;
    }
    for (const auto& [key, value] : options.metadata) {
      auto m = i.metadata.find(key);
      if (m == i.metadata.end() || m->second != value) return false;
    }
    return true;
  };

  std::unordered_map<uint64_t, double> relevance;
  if (options.relevance_weight != 0.0) {
    const std::function<bool(int64_t)> allow = [&](int64_t id) {
      return allowed(static_cast<uint64_t>(id));
    };
    Result<std::vector<retrieval::VectorHit>> hits =
        n.index->Search(query_vector, static_cast<int>(candidates), filtered ? &allow : nullptr);
    if (!hits.ok()) return hits.status();
    for (const retrieval::VectorHit& h : *hits) relevance[static_cast<uint64_t>(h.id)] = h.score;
  }
  // BM25 over the namespace's episodes (rank-bm25's Okapi, as the collections use).
  State::Bm25Pass pass;
  if (options.bm25_weight != 0.0) {
    const std::function<bool(uint64_t)> allow = allowed;
    if (Status st = s.Bm25Candidates(ns, n, query, candidates, filtered ? &allow : nullptr, pass);
        !st.ok()) {
      return st;
    }
  }
  std::unordered_map<uint64_t, double>& bm25 = pass.top;

  // Every candidate gets every component.
  std::unordered_set<uint64_t> ids;
  for (const auto& [id, v] : relevance) ids.insert(id);
  for (const auto& [id, v] : bm25) ids.insert(id);
  if (options.relevance_weight == 0.0 && options.bm25_weight == 0.0) {
    for (const auto& [id, info] : n.info) {  // recency / importance only: every allowed episode
      if (allowed(id)) ids.insert(id);
    }
  }
  std::vector<RecalledEpisode> out;
  double best_bm25 = 0.0;
  for (uint64_t id : ids) {
    if (!n.info.count(id)) continue;
    if (!relevance.count(id) && options.relevance_weight != 0.0) {
      Result<double> cosine = s.Cosine(ns, id, query_vector);
      if (!cosine.ok()) return cosine.status();
      relevance[id] = *cosine;
    }
    if (!bm25.count(id) && !pass.idf.empty()) {
      Result<double> score = s.Bm25Score(ns, id, pass);
      if (!score.ok()) return score.status();
      bm25[id] = *score;
    }
    RecalledEpisode r;
    r.episode.id = id;
    r.relevance = relevance.count(id) ? relevance[id] : 0.0;
    r.bm25 = bm25.count(id) ? bm25[id] : 0.0;
    best_bm25 = std::max(best_bm25, r.bm25);
    out.push_back(std::move(r));
  }
  ScoreCandidates(n, options, now, best_bm25, out);
  if (Status st = s.KeepBest(ns, static_cast<size_t>(options.k), out); !st.ok()) return st;
  return out;
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
    Result<std::vector<float>> v = s.EmbeddingFor(changes.text.value_or(e.text), changes.embedding);
    if (!v.ok()) return v.status();
    embedding = std::move(*v);
  }
  NsState& n = *s.Find(ns);
  rocksdb::WriteBatch batch;
  batch.Put(s.cf[kVersions], VersionKey(ns, id, e.version), EncodeEpisode(e));
  TermChanges term_changes;
  uint64_t total_terms = n.total_terms;
  if (changes.text) {
    uint64_t removed = 0, added = 0;
    s.RemovePostings(batch, ns, id, e.text, term_changes, &removed);
    e.text = *changes.text;
    s.AddPostings(batch, ns, id, e.text, term_changes, &added);
    total_terms = total_terms - std::min(total_terms, removed) + added;
  }
  if (changes.role) e.role = *changes.role;
  if (changes.importance) e.importance = *changes.importance;
  if (changes.metadata) e.metadata = *changes.metadata;
  if (changes.expires_ms) e.expires_ms = *changes.expires_ms;
  e.version += 1;
  if (Status st = internal::CheckEpisode(e); !st.ok()) return st;  // UTF-8 of the new fields
  if (Status st = s.ApplyDf(batch, ns, term_changes); !st.ok()) return st;
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

Result<std::vector<Episode>> EpisodicStore::History(std::string_view ns, uint64_t id) const {
  const State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  std::vector<Episode> versions;
  const std::string prefix = IdKey(ns, id);
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator({}, s.cf[kVersions]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::optional<Episode> e = EpisodeFromJson(id, it->value().ToStringView());
    if (!e) return Status::Corruption("memory: a version of episode " + std::to_string(id) + " is unreadable");
    versions.push_back(std::move(*e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading history");
  Result<std::optional<Episode>> current = s.ReadEpisode(ns, id);
  if (!current.ok()) return current.status();
  if (*current && (*current)->expires_ms != 0 && (*current)->expires_ms <= WallClockMs()) {
    versions.clear();  // expired: gone, history included
  } else if (*current) {
    versions.push_back(std::move(**current));
  }
  if (versions.empty()) {
    return Status::NotFound("memory: no episode " + std::to_string(id) + " in namespace '" +
                            std::string(ns) + "'");
  }
  return versions;
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
  TermChanges changes;
  uint64_t total_terms = n->total_terms;
  std::vector<int64_t> keys;
  for (const Episode& e : found) {
    const uint64_t terms = RemoveEpisode(batch, ns, e, changes, /*with_history=*/true);
    total_terms -= std::min(total_terms, terms);
    keys.push_back(static_cast<int64_t>(e.id));
  }
  if (Status st = ApplyDf(batch, ns, changes); !st.ok()) return st;
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
  if (Status st = ValidateSession(session); !st.ok()) return st;
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
  if (ec) return Status::IOError("memory: cannot remove '" + s.IndexPath(ns) + "': " + ec.message());
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
  if (Status st = ValidateSession(session); !st.ok()) return st;
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
  Result<std::vector<float>> embedding = s.EmbeddingFor(summary.text, {});
  if (!embedding.ok()) return embedding.status();

  std::lock_guard write_lock(s.write_mu);
  NsState* n = s.Find(ns);
  if (n == nullptr) return uint64_t{0};
  summary.id = s.NextId(ns);
  rocksdb::WriteBatch batch;
  TermChanges changes;
  uint64_t total_terms = n->total_terms;
  std::vector<int64_t> removed;
  for (const Episode& e : episodes) {
    if (!n->info.count(e.id)) continue;  // forgotten meanwhile
    // The source's last version joins its history, so History(source) still shows it.
    batch.Put(s.cf[kVersions], VersionKey(ns, e.id, e.version), EncodeEpisode(e));
    const uint64_t terms = s.RemoveEpisode(batch, ns, e, changes, /*with_history=*/false);
    total_terms -= std::min(total_terms, terms);
    removed.push_back(static_cast<int64_t>(e.id));
  }
  uint64_t terms = 0;
  s.AddPostings(batch, ns, summary.id, summary.text, changes, &terms);
  total_terms += terms;
  if (Status st = s.ApplyDf(batch, ns, changes); !st.ok()) return st;
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

Status EpisodicStore::Checkpoint(const std::string& dir) {
  State& s = *s_;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Status::InvalidArgument("memory: checkpoint directory '" + dir + "' already exists");
  }
  std::lock_guard write_lock(s.write_mu);
  {
    std::unique_lock lock(s.mu);
    if (Status st = s.SaveIndexes(); !st.ok()) return st;
  }
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("memory: cannot create '" + dir + "': " + ec.message());
  rocksdb::Checkpoint* raw = nullptr;
  if (Status st = FromRocks(rocksdb::Checkpoint::Create(s.db.get(), &raw), "checkpoint"); !st.ok()) {
    return st;
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (Status st = FromRocks(checkpoint->CreateCheckpoint((fs::path(dir) / "db").string()),
                            "writing the checkpoint");
      !st.ok()) {
    return st;
  }
  // The indexes reflect the same generations as the checkpointed database (writers are held).
  fs::copy(fs::path(s.path) / "index", fs::path(dir) / "index", fs::copy_options::recursive, ec);
  if (ec) return Status::IOError("memory: cannot copy the indexes to '" + dir + "': " + ec.message());
  return Status::OK();
}

Status EpisodicStore::Flush() {
  std::lock_guard write_lock(s_->write_mu);
  {
    std::unique_lock lock(s_->mu);
    if (Status st = s_->SaveIndexes(); !st.ok()) return st;
  }
  // Every column family's memtable to table files, so the next Open replays no write-ahead log.
  return FromRocks(s_->db->Flush(rocksdb::FlushOptions(), s_->cf), "flushing the database");
}

Result<StoreStats> EpisodicStore::Stats(std::string_view ns) const {
  const State& s = *s_;
  StoreStats st;
  {
    std::shared_lock lock(s.mu);
    if (!ns.empty()) {
      if (Status v = ValidateNamespace(ns); !v.ok()) return v;
      if (const NsState* n = s.Find(ns)) {
        st.namespaces = 1;
        st.episodes = n->info.size();
        st.index_vectors = static_cast<uint64_t>(n->index->size());
      }
    } else {
      for (const auto& [name, n] : s.namespaces) {
        ++st.namespaces;
        st.episodes += n->info.size();
        st.index_vectors += static_cast<uint64_t>(n->index->size());
      }
    }
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(s.path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) st.disk_bytes += it->file_size(ec);
  }
  return st;
}

Result<std::vector<std::string>> EpisodicStore::Sessions(std::string_view ns) const {
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  std::shared_lock lock(s_->mu);
  const NsState* n = s_->Find(ns);
  if (n == nullptr) return std::vector<std::string>();
  const int64_t now = WallClockMs();
  std::vector<uint8_t> live(n->sessions.size(), 0);
  for (const auto& [id, info] : n->info) {
    if (!Expired(info, now)) live[info.session] = 1;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i]) out.push_back(n->sessions[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> EpisodicStore::Namespaces() const {
  std::shared_lock lock(s_->mu);
  std::vector<std::string> out;
  for (const auto& [name, n] : s_->namespaces) {
    if (!n->info.empty()) out.push_back(name);
  }
  return out;
}

}  // namespace engram::memory
