// The episodic store: opening, reading and checkpointing. Writing is episodic_write.cc, recall
// episodic_recall.cc; the shared state is memory/internal/episodic_state.h.
#include "memory/episodic_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <thread>

#include "common/json_write.h"
#include "common/key_encoding.h"
#include "memory/internal/checks.h"
#include "memory/internal/episodic_state.h"
#include "memory/internal/layout.h"
#include "memory/internal/store_files.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace internal;
using retrieval::WallClockMs;

// How long closing waits for the compactions RocksDB scheduled (see ~EpisodicStore).
constexpr auto kCompactionWait = std::chrono::seconds(60);

}  // namespace

namespace internal {

uint32_t NsState::SessionId(const std::string& session) {
  auto [it, inserted] = session_index.try_emplace(session, static_cast<uint32_t>(sessions.size()));
  if (inserted) {
    sessions.push_back(session);
    session_turns.emplace_back();
  }
  return it->second;
}

uint32_t NsState::RoleId(const std::string& role) {
  auto [it, inserted] = role_index.try_emplace(role, static_cast<uint32_t>(roles.size()));
  if (inserted) roles.push_back(retrieval::Bm25Terms(role));
  return it->second;
}

void NsState::Insert(uint64_t id, const Episode& e) {
  EpisodeInfo i;
  i.session = SessionId(e.session);
  i.role = RoleId(e.role);
  i.timestamp_ms = e.timestamp_ms;
  i.expires_ms = e.expires_ms;
  i.importance = e.importance;
  i.metadata = e.metadata;
  if (e.expires_ms != 0) ++with_ttl;
  if (auto old = info.find(id); old != info.end()) {
    session_turns[old->second.session].erase({old->second.timestamp_ms, id});
  }
  session_turns[i.session].insert({i.timestamp_ms, id});
  info.insert_or_assign(id, std::move(i));
}

void NsState::Erase(uint64_t id) {
  auto it = info.find(id);
  if (it == info.end()) return;
  if (it->second.expires_ms != 0) --with_ttl;
  session_turns[it->second.session].erase({it->second.timestamp_ms, id});
  info.erase(it);
}

void NsState::InvalidateIdf() {
  std::lock_guard lock(idf_mu);
  mean_idf.reset();
}

}  // namespace internal

std::string EmbeddingText(const Episode& e, bool with_date) {
  return with_date ? "[" + DateText(e.timestamp_ms) + "] " + e.text : e.text;
}

Result<std::vector<float>> EpisodicStore::State::EmbeddingFor(
    const std::string& text, const std::vector<float>& given) const {
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

Result<std::optional<Episode>> EpisodicStore::State::ReadEpisode(std::string_view ns,
                                                                 uint64_t id) const {
  std::string value;
  const rocksdb::Status s = db->Get({}, cf[kEpisodes], IdKey(ns, id), &value);
  if (s.IsNotFound()) return std::optional<Episode>();
  if (!s.ok()) return FromRocks(s, "reading episode " + std::to_string(id));
  std::optional<Episode> e = DecodeEpisode(id, value);
  if (!e) return Status::Corruption("memory: episode " + std::to_string(id) + " is unreadable");
  return e;
}

Status EpisodicStore::State::LoadNamespace(const std::string& ns, uint64_t generation,
                                           uint64_t total_terms) {
  auto n = std::make_unique<NsState>();
  n->generation = generation;
  n->total_terms = total_terms;
  const std::string prefix = NsPrefix(ns);
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kEpisodes]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const uint64_t id = ReadBigEndian64(it->key().ToStringView().substr(prefix.size()));
      std::optional<Episode> e = DecodeEpisode(id, it->value().ToStringView());
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
      spdlog::warn(
          "memory: the index '{}' does not match namespace '{}' of this store ({}); "
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

Status EpisodicStore::State::RebuildIndex(std::string_view ns, NsState& n) {
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

Status EpisodicStore::State::SaveIndexes() {
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

Status EpisodicStore::State::OpenDatabase(const fs::path& db_path) {
  const rocksdb::Status s =
      Open(db_path.string(), kCfNames, DatabaseOptions(), TableOptions(), /*read_only=*/false);
  if (s.ok()) return Status::OK();
  if (retrieval::IsLockError(s)) {
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
  PutIndexText(batch);
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
  const std::string stored_name = stored.contains("name") && stored["name"].is_string()
                                      ? stored["name"].get<std::string>()
                                      : "";
  const int stored_dim =
      stored.contains("dim") && stored["dim"].is_number_integer() ? stored["dim"].get<int>() : 0;
  if (stored_dim != dim ||
      (!embedder_name.empty() && !stored_name.empty() && stored_name != embedder_name)) {
    return Status::FailedPrecondition("memory: '" + path + "' was built with embedder '" +
                                      stored_name + "' (dim " + std::to_string(stored_dim) +
                                      "), not '" + std::string(embedder_name) + "' (dim " +
                                      std::to_string(dim) + ")");
  }
  return Status::OK();
}

void EpisodicStore::State::PutIndexText(rocksdb::WriteBatch& batch) {
  batch.Put(cf[kMeta], "index_text",
            JsonText(json{{"context_turns", index_text.context_turns},
                          {"date", index_text.date},
                          {"stemming", std::string(retrieval::StemmingName(index_text.stemming))}}));
}

Status EpisodicStore::State::ReadIndexText(std::string_view format) {
  std::string value;
  const rocksdb::Status s = db->Get({}, cf[kMeta], "index_text", &value);
  const json j = s.ok() ? json::parse(value, nullptr, false) : json();
  if (!j.is_object() || !j.contains("context_turns") || !j["context_turns"].is_number_integer() ||
      !j.contains("date") || !j["date"].is_boolean() || j["context_turns"].get<int>() < 0 ||
      j["context_turns"].get<int>() > kMaxContextTurns) {
    return Damaged(path, "its index_text record is missing or unreadable");
  }
  index_text = {.context_turns = j["context_turns"].get<int>(), .date = j["date"].get<bool>()};
  if (format == kFormatWithoutStemming) return Status::OK();  // never stemmed
  if (!j.contains("stemming") || !j["stemming"].is_string() ||
      !retrieval::ParseStemming(j["stemming"].get<std::string>(), &index_text.stemming)) {
    return Damaged(path, "its index_text record does not say how terms are stemmed");
  }
  return Status::OK();
}

Status EpisodicStore::State::RebuildBm25(std::string_view ns, NsState& n) {
  {  // First the old postings go, in a write of their own: Apply reads what is stored.
    rocksdb::WriteBatch batch;
    batch.DeleteRange(cf[kPostings], NsPrefix(ns), NsEnd(ns));
    batch.DeleteRange(cf[kTerms], NsPrefix(ns), NsEnd(ns));
    if (Status st = FromRocks(db->Write(WriteOpts(), &batch), "re-indexing"); !st.ok()) return st;
  }
  std::map<std::string, SessionEdit> edits;
  for (size_t i = 0; i < n.sessions.size(); ++i) {
    edits[n.sessions[i]].added = n.session_turns[i];
  }
  NsState empty;  // the turns are all new to the rebuilt index
  empty.total_terms = 0;
  retrieval::Bm25Changes changes;
  ENGRAM_TRY_ASSIGN(const uint64_t total_terms, ReindexSessions(ns, empty, edits, {}, {}, changes));
  rocksdb::WriteBatch batch;
  if (Status st = Bm25(ns).Apply(changes, batch); !st.ok()) return st;
  PutNsMeta(batch, ns, n.info.size(), total_terms, n.generation);
  if (Status st = FromRocks(db->Write(WriteOpts(), &batch), "re-indexing"); !st.ok()) return st;
  n.total_terms = total_terms;
  n.InvalidateIdf();
  return Status::OK();
}

Status EpisodicStore::State::Upgrade() {
  for (auto& [ns, n] : namespaces) {
    if (Status st = RebuildBm25(ns, *n); !st.ok()) return st;
  }
  rocksdb::WriteBatch batch;
  PutIndexText(batch);
  batch.Put(cf[kMeta], "format", std::string(kFormat));  // last: a crash before it redoes it all
  rocksdb::WriteOptions w;
  w.sync = true;
  return FromRocks(db->Write(w, &batch), "upgrading '" + path + "'");
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
    if (Status st = LoadNamespace(ns, meta.value("generation", uint64_t{0}),
                                  meta.value("total_terms", uint64_t{0}));
        !st.ok()) {
      return st;
    }
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
      pending =
          pending || (db->GetIntProperty(h, "rocksdb.compaction-pending", &value) && value > 0);
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
  if (options.index_context_turns < 0 || options.index_context_turns > kMaxContextTurns) {
    return Status::InvalidArgument("memory: StoreOptions::index_context_turns is " +
                                   std::to_string(options.index_context_turns) +
                                   "; it must be in [0, " + std::to_string(kMaxContextTurns) + "]");
  }
  if (options.embedder != nullptr && options.dim != 0 && options.dim != dim) {
    return Status::InvalidArgument("memory: StoreOptions::dim " + std::to_string(options.dim) +
                                   " disagrees with the embedder's " + std::to_string(dim));
  }
  bool existing = false;
  if (Status st = InspectDirectory(path, &existing); !st.ok()) return st;
  if (existing) {
    // A process killed while creating the store leaves a database without its records.
    ENGRAM_TRY_ASSIGN(const bool unfinished, UnfinishedCreation(path, fs::path(path) / "db"));
    existing = !unfinished;
  }
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
  state->index_text = {.context_turns = options.index_context_turns,
                       .date = options.index_date,
                       .stemming = options.stemming};
  if (Status st = state->OpenDatabase(db_path); !st.ok()) return st;
  const std::string embedder_name =
      options.embedder != nullptr ? std::string(options.embedder->Name()) : std::string();
  if (!existing) {
    if (Status st = state->Initialise(embedder_name); !st.ok()) return st;
  } else {
    if (Status st = state->CheckEmbedder(embedder_name); !st.ok()) return st;
    const bool upgrade = format == kUpgradableFormat;
    if (!upgrade) {
      if (Status st = state->ReadIndexText(format); !st.ok()) return st;
    }
    if (Status st = state->LoadAll(); !st.ok()) return st;
    if (upgrade) {
      spdlog::info("memory: upgrading '{}' from {} to {} (re-indexing BM25)", path, format,
                   kFormat);
      if (Status st = state->Upgrade(); !st.ok()) return st;
    }
  }
  auto store = std::unique_ptr<EpisodicStore>(new EpisodicStore(std::move(state)));
  if (Status st = store->Flush(); !st.ok()) return st;
  return store;
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
  if (Status st = internal::CheckSession(session); !st.ok()) return st;
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

Result<std::vector<Episode>> EpisodicStore::History(std::string_view ns, uint64_t id) const {
  const State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  std::vector<Episode> versions;
  const std::string prefix = IdKey(ns, id);
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator({}, s.cf[kVersions]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::optional<Episode> e = DecodeEpisode(id, it->value().ToStringView());
    if (!e)
      return Status::Corruption("memory: a version of episode " + std::to_string(id) +
                                " is unreadable");
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
  if (Status st = FromRocks(rocksdb::Checkpoint::Create(s.db.get(), &raw), "checkpoint");
      !st.ok()) {
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
  if (ec)
    return Status::IOError("memory: cannot copy the indexes to '" + dir + "': " + ec.message());
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
  st.index_context_turns = s.index_text.context_turns;
  st.index_date = s.index_text.date;
  st.stemming = s.index_text.stemming;
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
