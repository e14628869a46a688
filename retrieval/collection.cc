#include "retrieval/collection.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/input_file.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "common/key_encoding.h"
#include "common/paths.h"
#include "common/random_id.h"
#include "common/sha256.h"
#include "retrieval/bm25_index.h"
#include "retrieval/document_parser.h"
#include "retrieval/fusion.h"
#include "retrieval/internal/chunk_record.h"
#include "retrieval/rocks_store.h"
#include "retrieval/term_match.h"

namespace engram::retrieval {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using internal::ChunkRecord;

// 6: a chunk record carries its sentences' vectors (internal/chunk_record.h); a collection
// created without them (CollectionOptions::sentence_vectors false) is written as 5. 5: BM25's
// terms are stemmed as the meta key "stemming" says ("english" or "none"). 4: a chunk
// is indexed (BM25 terms and embedding) with its document's title when the meta key
// "index_title" says so (ChunkIndexText), terms never stemmed; 3 indexed the chunk text alone.
// 3 and 4 are still read and written as they are. 3 put the postings in the shared BM25 index's
// bounded segments (retrieval/bm25_index.h); 2 had per-batch segments without bounds, 1 a key
// per posting: those are refused.
constexpr std::string_view kFormat = "engram-collection 6";
constexpr std::string_view kFormatWithoutSentences = "engram-collection 5";
constexpr std::string_view kFormatWithoutStemming = "engram-collection 4";
constexpr std::string_view kFormatWithoutTitles = "engram-collection 3";
constexpr const char* kIndexFile = "vectors.faiss";
// Column families, in the order the handles are kept.
enum Cf { kMeta = 0, kDocuments, kChunks, kPostings, kTerms, kCfCount };
const char* const kCfNames[kCfCount] = {"default", "documents",
                                        "chunks", "postings", "terms"};

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  return retrieval::FromRocks(s, "collection", what);
}

json DocumentJson(const DocumentInfo& d) {
  return {{"id", d.id},         {"title", d.title},     {"source", d.source},
          {"format", d.format}, {"sha256", d.sha256},   {"tags", d.tags},
          {"created_ms", d.created_ms}, {"updated_ms", d.updated_ms},
          {"bytes", d.bytes},   {"chunks", d.chunks}};
}

// A stored document record, read through typed accessors: a damaged record is nullopt, never
// an exception.
std::optional<DocumentInfo> DocumentFromJson(std::string_view s) {
  Result<json> parsed = ParseJsonText(s, "document record");
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  const JsonValue j(*parsed, "document record");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Result<int64_t> id = j.IntFieldOr("id", 0, 0, kMax), bytes = j.IntFieldOr("bytes", 0, 0, kMax),
                  chunks = j.IntFieldOr("chunks", 0, 0, UINT32_MAX),
                  created = j.IntFieldOr("created_ms", 0), updated = j.IntFieldOr("updated_ms", 0);
  Result<std::string> title = j.StringFieldOr("title", ""), source = j.StringFieldOr("source", ""),
                      format = j.StringFieldOr("format", ""), sha = j.StringFieldOr("sha256", "");
  if (!id.ok() || !bytes.ok() || !chunks.ok() || !created.ok() || !updated.ok() || !title.ok() ||
      !source.ok() || !format.ok() || !sha.ok()) {
    return std::nullopt;
  }
  DocumentInfo d{.id = static_cast<uint64_t>(*id), .title = std::move(*title),
                 .source = std::move(*source), .format = std::move(*format),
                 .sha256 = std::move(*sha), .tags = {}, .created_ms = *created,
                 .updated_ms = *updated, .bytes = static_cast<uint64_t>(*bytes),
                 .chunks = static_cast<uint32_t>(*chunks)};
  if (j.Has("tags")) {
    Result<JsonValue> tags = j.Field("tags");
    if (!tags.ok()) return std::nullopt;
    Result<std::vector<JsonValue>> items = tags->Items();
    if (!items.ok()) return std::nullopt;
    for (const JsonValue& t : *items) {
      Result<std::string> tag = t.String();
      if (!tag.ok()) return std::nullopt;
      d.tags.push_back(std::move(*tag));
    }
  }
  return d;
}

// A document of an ingest batch that needs writing.
struct PendingDocument {
  size_t input;  // its position in the batch
  std::string sha;
  DocumentInput meta;  // Normalised: everything but the text
  std::optional<DocumentInfo> replaces;
  std::vector<TextChunk> chunks;
};

// What an ingest batch embeds, in chunk order.
struct IngestTexts {
  std::vector<std::string> chunks;      // each chunk's index text
  std::vector<std::string> sentences;   // each chunk's sentences' index texts (sentence vectors)
  std::vector<size_t> sentence_counts;  // per chunk, when sentences are embedded
};

// The embeddings of `texts`, row after row, embedded 64 at a time.
Result<std::vector<float>> EmbedAll(Embedder& embedder, const std::vector<std::string>& texts) {
  std::vector<float> vectors;
  for (size_t start = 0; start < texts.size(); start += 64) {
    const size_t n = std::min<size_t>(64, texts.size() - start);
    Result<EmbeddingBatch> e = embedder.Embed(std::span(texts).subspan(start, n));
    if (!e.ok()) return e.status();
    vectors.insert(vectors.end(), e->values.begin(), e->values.end());
  }
  return vectors;
}

std::string DocKey(uint64_t id) { return "d" + BigEndian64(id); }
// "h<sha256>" -> id: written by builds before documents were identified by source alone; only
// removed now.
std::string HashKey(std::string_view sha) { return "h" + std::string(sha); }
std::string SourceKey(std::string_view source) { return "s" + std::string(source); }
}  // namespace

std::string_view IngestOutcomeName(IngestOutcome o) {
  switch (o) {
    case IngestOutcome::kReplaced: return "replaced";
    case IngestOutcome::kUnchanged: return "unchanged";
    default: return "added";
  }
}

std::string_view SearchModeName(SearchMode m) {
  switch (m) {
    case SearchMode::kBm25: return "bm25";
    case SearchMode::kDense: return "dense";
    default: return "hybrid";
  }
}

Result<SearchMode> ParseSearchMode(std::string_view s) {
  if (s == "bm25") return SearchMode::kBm25;
  if (s == "dense") return SearchMode::kDense;
  if (s == "hybrid") return SearchMode::kHybrid;
  return Status::InvalidArgument("search: mode '" + std::string(s) +
                                 "' is not bm25, dense or hybrid");
}

std::string ChunkIndexText(std::string_view title, std::string_view chunk) {
  if (title.empty()) return std::string(chunk);
  std::string text(title);
  if (std::isalnum(static_cast<unsigned char>(text.back()))) text += '.';
  text += ' ';
  text += chunk;
  return text;
}

std::string SearchHit::Citation() const {
  return std::to_string(document_id) + ":" + std::to_string(begin) + "-" + std::to_string(end);
}

// The open database (RocksDatabase: db, cf) and what the collection keeps in memory.
struct Collection::State : RocksDatabase {
  std::string dir;
  Embedder* embedder = nullptr;
  CollectionOptions options;
  std::unique_ptr<Bm25Index> bm25;  // over cf[kPostings] and cf[kTerms], prefix ""
  std::unique_ptr<VectorIndex> index;
  bool read_only = false;
  std::string instance;  // the identity that owns vectors.faiss; empty: none (read-only, old)
  bool index_title = false;  // chunks are indexed with their document's title (format 4)
  Stemming stemming = Stemming::kNone;  // how BM25's terms are cut (format 5)
  bool sentence_vectors = false;        // chunk records carry their sentences' vectors (format 6)

  std::mutex write_mu;                 // one writer at a time
  mutable std::shared_mutex state_mu;  // the in-memory state below
  std::unordered_map<uint64_t, uint64_t> chunk_document;  // live chunk -> document
  uint64_t next_document = 1, next_chunk = 1;
  uint64_t chunk_count = 0, total_terms = 0;
  bool index_dirty = false;
  // Time spent in index Add/Remove since Open (catch-up included), for Stats().
  std::atomic<int64_t> index_micros{0};
  // Mean raw idf over all terms, recomputed on the first BM25 query after a write.
  mutable std::mutex idf_mu;
  mutable std::optional<double> mean_idf;

  Result<std::vector<PendingDocument>> PlanIngest(std::span<const DocumentInput> documents,
                                                  std::vector<IngestResult>& results,
                                                  IngestTexts& texts) const;
  // Open's steps (defined next to Open).
  Status OpenDatabase(bool create);
  Status Initialise(const json& embedder_identity);
  Status ReadMeta(const json& embedder_identity);
  Status ReadCounters();
  Status ReadIndexing();
  void MakeBm25() {
    bm25 = std::make_unique<Bm25Index>(db.get(), cf[kPostings], cf[kTerms], "", options.bm25,
                                       stemming);
  }
  Status LoadChunkMap();
  Status OpenIndex();

  Status RefuseIfReadOnly(std::string_view what) const {
    if (!read_only) return Status::OK();
    return Status::FailedPrecondition("collection: cannot " + std::string(what) + " '" + dir +
                                      "': it was opened read-only");
  }

  rocksdb::WriteOptions WriteOpts() const {
    rocksdb::WriteOptions w;
    w.sync = options.sync;
    return w;
  }

  Status PutCounters(rocksdb::WriteBatch& batch) {
    const json counters = {{"next_document", next_document}, {"next_chunk", next_chunk},
                           {"chunks", chunk_count},          {"total_terms", total_terms}};
    return FromRocks(batch.Put(cf[kMeta], "counters", JsonText(counters)), "batch");
  }

  Result<std::optional<DocumentInfo>> GetDocument(uint64_t id) const {
    std::string value;
    const rocksdb::Status s = db->Get({}, cf[kDocuments], DocKey(id), &value);
    if (s.IsNotFound()) return std::optional<DocumentInfo>();
    if (!s.ok()) return FromRocks(s, "reading document " + std::to_string(id));
    std::optional<DocumentInfo> d = DocumentFromJson(value);
    if (!d) return Status::Corruption("collection: document " + std::to_string(id) + " is unreadable");
    return d;
  }

  Result<std::optional<uint64_t>> LookupId(const std::string& key) const {
    std::string value;
    const rocksdb::Status s = db->Get({}, cf[kDocuments], key, &value);
    if (s.IsNotFound()) return std::optional<uint64_t>();
    if (!s.ok()) return FromRocks(s, "reading the document index");
    return std::optional<uint64_t>(ReadBigEndian64(value));
  }

  // What a chunk of a document titled `title` is indexed as (BM25 terms and embedding).
  std::string IndexText(std::string_view title, std::string_view chunk) const {
    return index_title ? ChunkIndexText(title, chunk) : std::string(chunk);
  }

  // Adds to `batch` everything that removes document `d`; `changes` collects its postings.
  // Returns the chunk ids removed.
  Result<std::vector<uint64_t>> RemoveDocument(const DocumentInfo& d, rocksdb::WriteBatch& batch,
                                               Bm25Changes& changes) {
    std::vector<uint64_t> chunks;
    {
      std::shared_lock lock(state_mu);
      for (const auto& [chunk, doc] : chunk_document) {
        if (doc == d.id) chunks.push_back(chunk);
      }
    }
    for (uint64_t chunk : chunks) {
      std::string value;
      rocksdb::Status s = db->Get({}, cf[kChunks], BigEndian64(chunk), &value);
      if (!s.ok()) return FromRocks(s, "reading chunk " + std::to_string(chunk));
      std::optional<ChunkRecord> r = ChunkRecord::Decode(value, sentence_vectors);
      if (!r) return Status::Corruption("collection: chunk " + std::to_string(chunk) + " is unreadable");
      changes.Remove(chunk, bm25->Terms(IndexText(d.title, r->text)));
      batch.Delete(cf[kChunks], BigEndian64(chunk));
      total_terms -= r->terms;
      --chunk_count;
    }
    batch.Delete(cf[kDocuments], DocKey(d.id));
    batch.Delete(cf[kDocuments], HashKey(d.sha256));
    batch.Delete(cf[kDocuments], SourceKey(d.source));
    return chunks;
  }

  Result<double> MeanIdf() const {
    std::lock_guard lock(idf_mu);
    if (mean_idf) return *mean_idf;
    uint64_t chunks = 0;
    {
      std::shared_lock state_lock(state_mu);
      chunks = chunk_count;
    }
    ENGRAM_TRY_ASSIGN(const double mean, bm25->MeanIdf(static_cast<int64_t>(chunks)));
    mean_idf = mean;
    return mean;
  }

  // The best `n` chunks by BM25 among those of `docs` (all when null).
  // `prepared`, when given, receives the query as BM25 scored it (its terms' idf).
  Result<std::vector<RankedItem>> Bm25Top(std::string_view query, size_t n,
                                          const std::unordered_set<uint64_t>* docs,
                                          Bm25Query* prepared = nullptr) const {
    Bm25Stats stats;
    std::vector<uint8_t> allowed;  // by chunk id, when filtered
    {
      std::shared_lock lock(state_mu);
      stats.documents = static_cast<int64_t>(chunk_count);
      stats.average_length = chunk_count > 0 ? static_cast<double>(total_terms) /
                                                   static_cast<double>(chunk_count)
                                             : 0.0;
      if (docs != nullptr) {
        allowed.assign(next_chunk, 0);
        for (const auto& [chunk, doc] : chunk_document) {
          if (chunk < allowed.size() && docs->count(doc)) allowed[chunk] = 1;
        }
      }
    }
    ENGRAM_TRY_ASSIGN(stats.mean_idf, MeanIdf());
    ENGRAM_TRY_ASSIGN(const Bm25Query q, bm25->Prepare(query, stats));
    if (prepared != nullptr) *prepared = q;
    // A chunk ingested after the filter was built is not in it.
    const std::function<bool(uint64_t)> allow = [&](uint64_t chunk) {
      return chunk < allowed.size() && allowed[chunk] != 0;
    };
    return bm25->TopN(q, n, docs != nullptr ? &allow : nullptr);
  }

  // Brings the vector index in line with the chunks in the database: adds the missing, removes
  // the extra. Used on Open when the saved index is stale or missing.
  Status CatchUpIndex() {
    std::unordered_set<uint64_t> live;
    std::vector<int64_t> add_ids;
    std::vector<float> add_vectors;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kChunks]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const uint64_t id = ReadBigEndian64(it->key().ToStringView());
      live.insert(id);
      if (index->Contains(static_cast<int64_t>(id))) continue;
      std::optional<ChunkRecord> r =
          ChunkRecord::Decode(it->value().ToStringView(), sentence_vectors);
      if (!r || static_cast<int>(r->embedding.size()) != index->dim()) {
        return Status::Corruption("collection: chunk " + std::to_string(id) + " in '" + dir +
                                  "' is unreadable");
      }
      add_ids.push_back(static_cast<int64_t>(id));
      add_vectors.insert(add_vectors.end(), r->embedding.begin(), r->embedding.end());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning chunks");
    std::vector<int64_t> remove;
    // Ids the index holds but the database does not: every id below next_chunk not live.
    for (uint64_t id = 1; id < next_chunk; ++id) {
      if (!live.count(id) && index->Contains(static_cast<int64_t>(id))) {
        remove.push_back(static_cast<int64_t>(id));
      }
    }
    const auto start = std::chrono::steady_clock::now();
    if (!remove.empty()) {
      if (Status s = index->Remove(remove); !s.ok()) return s;
    }
    if (!add_ids.empty()) {
      if (Status s = index->Add(add_ids, add_vectors); !s.ok()) return s;
    }
    index_micros += MicrosSince(start);
    index_dirty = !remove.empty() || !add_ids.empty();
    return Status::OK();
  }
};

Collection::Collection(std::unique_ptr<State> state) : s_(std::move(state)) {}

Collection::~Collection() {
  if (s_ != nullptr && s_->index_dirty && !s_->read_only) (void)Flush();
}

const std::string& Collection::dir() const { return s_->dir; }

Result<std::string> CollectionPath(const std::string& data_dir, std::string_view name) {
  const bool valid =
      !name.empty() && name.size() <= 64 && name != "." && name != ".." &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (!valid) {
    return Status::InvalidArgument("collection name '" + std::string(name) +
                                   "' must be 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  return (CollectionsDir(data_dir) / std::string(name)).string();
}

std::vector<std::string> ListCollections(const std::string& data_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(CollectionsDir(data_dir), ec)) {
    if (!e.is_directory(ec)) continue;
    const CollectionHealth h = ProbeCollection(e.path().string()).health;
    if (h == CollectionHealth::kSound || h == CollectionHealth::kDamaged) {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

// The files RocksDB cannot open without: db/CURRENT and the MANIFEST it names. Empty when
// they are there.
std::string MissingDatabaseFiles(const fs::path& db_path) {
  std::error_code ec;
  if (!fs::is_directory(db_path, ec)) return "db/ is missing";
  if (!fs::exists(db_path / "CURRENT", ec)) return "db/CURRENT is missing";
  Result<std::string> current = ReadFileBounded(db_path / "CURRENT", 4096, "database file");
  if (!current.ok()) return "db/CURRENT is unreadable: " + std::string(current.status().message());
  std::string manifest = *current;
  while (!manifest.empty() && std::isspace(static_cast<unsigned char>(manifest.back()))) manifest.pop_back();
  if (!manifest.starts_with("MANIFEST-") || manifest.find('/') != std::string::npos) {
    return "db/CURRENT does not name a MANIFEST";
  }
  if (!fs::exists(db_path / manifest, ec)) return "db/" + manifest + " is missing";
  return {};
}

// The marker key read through a read-only open without a log file: sound, damaged, foreign, or
// a collection of another format version (foreign too, with `format` set).
CollectionProbe ProbeDatabase(const fs::path& db_path) {
  std::optional<std::string> format;
  const rocksdb::Status s = ReadFormatMarker(db_path.string(), &format);
  if (!s.ok()) {
    return {CollectionHealth::kDamaged, "the database cannot be opened: " + s.ToString(), {}};
  }
  if (!format || !format->starts_with("engram-collection")) {
    return {CollectionHealth::kForeign, "it holds a database that is not an engram collection", {}};
  }
  if (*format != kFormat && *format != kFormatWithoutSentences &&
      *format != kFormatWithoutStemming && *format != kFormatWithoutTitles) {
    return {CollectionHealth::kForeign,
            "it is an engram collection of format '" + *format + "'; this engram reads '" +
                std::string(kFormat) + "': re-ingest its documents into a new collection",
            *format};
  }
  return {CollectionHealth::kSound, {}, {}};
}

std::string CollectionName(const std::string& dir) {
  return fs::path(dir).lexically_normal().filename().string();
}

Status DamagedStatus(const std::string& dir, const std::string& problem) {
  return Status::Corruption("collection '" + CollectionName(dir) + "' at '" + dir +
                            "' is damaged (" + problem +
                            "); restore it from a backup, or delete it with 'rm -r " + dir + "'");
}

// 16 random bytes, hex: the collection's identity, which owns its vector index file.
std::string NewInstanceId() { return RandomHex(16); }

Status ValidateCollectionOptions(const CollectionOptions& o, const Embedder& embedder) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("collection: " + what);
  };
  const int max_tokens = embedder.MaxTokens();
  if (o.chunking.max_tokens < 1 || o.chunking.max_tokens > max_tokens) {
    return bad("chunking.max_tokens must be within 1.." + std::to_string(max_tokens) +
               " (the embedder's limit), got " + std::to_string(o.chunking.max_tokens));
  }
  if (o.chunking.overlap_tokens < 0 || o.chunking.overlap_tokens >= o.chunking.max_tokens) {
    return bad("chunking.overlap_tokens must be within 0.." +
               std::to_string(o.chunking.max_tokens - 1) + ", got " +
               std::to_string(o.chunking.overlap_tokens));
  }
  if (!std::isfinite(o.bm25.k1) || o.bm25.k1 < 0 || o.bm25.k1 > 100) {
    return bad("bm25.k1 must be a finite number within 0..100, got " + std::to_string(o.bm25.k1));
  }
  if (!std::isfinite(o.bm25.b) || o.bm25.b < 0 || o.bm25.b > 1) {
    return bad("bm25.b must be a finite number within 0..1, got " + std::to_string(o.bm25.b));
  }
  return Status::OK();
}

}  // namespace

CollectionProbe ProbeCollection(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {CollectionHealth::kMissing, {}, {}};
  if (!fs::is_directory(dir, ec)) return {CollectionHealth::kForeign, "it is a file", {}};
  if (fs::is_empty(dir, ec)) return {CollectionHealth::kMissing, {}, {}};
  const fs::path db_path = fs::path(dir) / "db";
  // An engram collection is a db/ directory, and a vectors.faiss beside it once flushed; a
  // directory with neither is someone else's.
  if (!fs::exists(db_path, ec) && !fs::exists(fs::path(dir) / kIndexFile, ec)) {
    return {CollectionHealth::kForeign, "it holds files that are not an engram collection", {}};
  }
  if (std::string missing = MissingDatabaseFiles(db_path); !missing.empty()) {
    return {CollectionHealth::kDamaged, missing, {}};
  }
  return ProbeDatabase(db_path);
}

Status CheckCollection(const std::string& dir, OpenMode mode) {
  const CollectionProbe probe = ProbeCollection(dir);
  switch (probe.health) {
    case CollectionHealth::kMissing:
      if (mode == OpenMode::kCreate) return Status::OK();
      return Status::NotFound("collection '" + CollectionName(dir) + "' does not exist at '" +
                              dir + "'");
    case CollectionHealth::kForeign:
      if (!probe.format.empty()) {
        return RefuseFormat("collection", dir, probe.format, kFormat,
                            "re-ingest its documents into a new collection (delete this one "
                            "with 'rm -r " + dir + "'), or read it with the engram that made it");
      }
      return Status::InvalidArgument("collection: '" + dir + "' is not an engram collection (" +
                                     probe.problem + "); pick another name or --data-dir");
    case CollectionHealth::kDamaged:
      return DamagedStatus(dir, probe.problem);
    case CollectionHealth::kSound:
      break;
  }
  return Status::OK();
}

Status Collection::State::OpenDatabase(bool create) {
  const fs::path db_path = fs::path(dir) / "db";
  rocksdb::DBOptions db_options = BaseDatabaseOptions(create);
  if (read_only) db_options.info_log = NullRocksLogger();
  const rocksdb::Status s = Open(db_path.string(), kCfNames, db_options,
                                 rocksdb::ColumnFamilyOptions(), read_only);
  if (s.ok()) return Status::OK();  // the BM25 index comes once its stemming is known
  if (IsLockError(s)) {
    return Status::Unavailable("collection '" + CollectionName(dir) + "' at '" + dir +
                               "' is open in another process (an ingest?); retry when it ends, "
                               "or read it with a read-only command");
  }
  return DamagedStatus(dir, "the database cannot be opened: " + s.ToString());
}

// Writes the markers of a new collection.
Status Collection::State::Initialise(const json& embedder_identity) {
  instance = NewInstanceId();
  rocksdb::WriteBatch batch;
  sentence_vectors = options.sentence_vectors;
  batch.Put(cf[kMeta], "format", std::string(sentence_vectors ? kFormat : kFormatWithoutSentences));
  batch.Put(cf[kMeta], "embedder", JsonText(embedder_identity));
  batch.Put(cf[kMeta], "index", std::string(IndexKindName(options.index.kind)));
  batch.Put(cf[kMeta], "instance", instance);
  index_title = options.index_title;
  batch.Put(cf[kMeta], "index_title", index_title ? "true" : "false");
  stemming = options.stemming;
  batch.Put(cf[kMeta], "stemming", std::string(StemmingName(stemming)));
  MakeBm25();
  if (Status st = PutCounters(batch); !st.ok()) return st;
  rocksdb::WriteOptions w;
  w.sync = true;
  return FromRocks(db->Write(w, &batch), "initialising");
}

// Checks the embedder, reads the counters, the index kind and the identity (writing one for a
// collection older than identities, unless read-only).
Status Collection::State::ReadMeta(const json& embedder_identity) {
  std::string value;
  rocksdb::Status s = db->Get({}, cf[kMeta], "embedder", &value);
  const json stored = json::parse(value, nullptr, false);
  if (!s.ok() || stored.is_discarded() || stored != embedder_identity) {
    return Status::FailedPrecondition(
        "collection: '" + dir + "' was built with embedder " +
        (stored.is_discarded() ? std::string("?") : JsonText(stored)) + ", not " +
        JsonText(embedder_identity) + "; use that embedder or a new collection");
  }
  if (Status st = ReadCounters(); !st.ok()) return st;
  if (Status st = ReadIndexing(); !st.ok()) return st;
  // The index kind chosen at creation stays the collection's (for rebuilds after a crash).
  if (db->Get({}, cf[kMeta], "index", &value).ok()) {
    Result<IndexKind> kind = ParseIndexKind(value);
    if (!kind.ok()) return DamagedStatus(dir, "it names index kind '" + value + "'");
    options.index.kind = *kind;
  }
  s = db->Get({}, cf[kMeta], "instance", &instance);
  if (s.ok()) return Status::OK();
  if (!s.IsNotFound()) return FromRocks(s, "reading the identity");
  instance.clear();
  if (read_only) return Status::OK();  // the index is then rebuilt in memory
  instance = NewInstanceId();
  rocksdb::WriteOptions w;
  w.sync = true;
  return FromRocks(db->Put(w, cf[kMeta], "instance", instance), "writing the identity");
}

// How chunks are indexed, as stored: formats 6 and 5 say whether titles are indexed and how terms
// are stemmed, and 6 embeds sentences; 4 says the first and never stems; 3 did neither. Then
// opens the BM25 index.
Status Collection::State::ReadIndexing() {
  std::string format;
  if (!db->Get({}, cf[kMeta], "format", &format).ok()) {
    return DamagedStatus(dir, "its format marker is unreadable");
  }
  index_title = false;
  stemming = Stemming::kNone;
  std::string value;
  if (format != kFormatWithoutTitles) {
    const rocksdb::Status s = db->Get({}, cf[kMeta], "index_title", &value);
    if (!s.ok() || (value != "true" && value != "false")) {
      return DamagedStatus(dir, "its index_title record is missing or unreadable");
    }
    index_title = value == "true";
  }
  if (format == kFormat || format == kFormatWithoutSentences) {
    const rocksdb::Status s = db->Get({}, cf[kMeta], "stemming", &value);
    if (!s.ok() || !ParseStemming(value, &stemming)) {
      return DamagedStatus(dir, "its stemming record is missing or unreadable");
    }
  }
  sentence_vectors = format == kFormat;
  MakeBm25();
  return Status::OK();
}

Status Collection::State::ReadCounters() {
  std::string value;
  const rocksdb::Status s = db->Get({}, cf[kMeta], "counters", &value);
  if (!s.ok()) return DamagedStatus(dir, "its counters are unreadable: " + s.ToString());
  Result<json> parsed = ParseJsonText(value, "counters");
  if (!parsed.ok()) return DamagedStatus(dir, std::string(parsed.status().message()));
  const JsonValue counters(*parsed, "collection counters");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Result<int64_t> next_doc = counters.IntFieldOr("next_document", 1, 1, kMax);
  Result<int64_t> next_ch = counters.IntFieldOr("next_chunk", 1, 1, kMax);
  Result<int64_t> chunks = counters.IntFieldOr("chunks", 0, 0, kMax);
  Result<int64_t> terms = counters.IntFieldOr("total_terms", 0, 0, kMax);
  for (const Status* st : {&next_doc.status(), &next_ch.status(), &chunks.status(), &terms.status()}) {
    if (!st->ok()) return DamagedStatus(dir, std::string(st->message()));
  }
  next_document = static_cast<uint64_t>(*next_doc);
  next_chunk = static_cast<uint64_t>(*next_ch);
  chunk_count = static_cast<uint64_t>(*chunks);
  total_terms = static_cast<uint64_t>(*terms);
  return Status::OK();
}

// Loads vectors.faiss if this collection owns it and it has the embedder's dimension; otherwise
// (missing, damaged, foreign, older) starts an empty index. Then catches it up with the chunks
// unless it reflects the latest sequence.
Status Collection::State::OpenIndex() {
  const std::string path = (fs::path(dir) / kIndexFile).string();
  uint64_t saved_sequence = UINT64_MAX;
  if (!instance.empty()) {
    Result<std::unique_ptr<VectorIndex>> loaded = VectorIndex::Load(path, &saved_sequence, instance);
    if (loaded.ok() && (*loaded)->dim() == embedder->Dim()) {
      index = std::move(*loaded);
    } else if (!loaded.ok() && loaded.status().code() != StatusCode::kNotFound) {
      spdlog::warn("collection '{}': not using its vector index ({}); rebuilding it from the "
                   "database", CollectionName(dir), loaded.status().message());
    }
  }
  if (index == nullptr) {
    Result<std::unique_ptr<VectorIndex>> created = VectorIndex::Create(embedder->Dim(), options.index);
    if (!created.ok()) return created.status();
    index = std::move(*created);
    saved_sequence = UINT64_MAX;  // nothing reflected
  }
  if (saved_sequence == db->GetLatestSequenceNumber()) return Status::OK();
  if (Status st = CatchUpIndex(); !st.ok()) return st;
  index_dirty = true;
  return Status::OK();
}

Status Collection::State::LoadChunkMap() {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, cf[kChunks]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    chunk_document[ReadBigEndian64(it->key().ToStringView())] =
        internal::ReadRaw<uint64_t>(it->value().ToStringView(), 0);
  }
  return FromRocks(it->status(), "scanning chunks");
}

Result<std::unique_ptr<Collection>> Collection::Open(const std::string& dir, Embedder* embedder,
                                                     const CollectionOptions& options) {
  if (embedder == nullptr) return Status::InvalidArgument("collection: an embedder is required");
  if (Status st = ValidateCollectionOptions(options, *embedder); !st.ok()) return st;
  // Refuse what is not a sound collection before writing anything.
  if (Status st = CheckCollection(dir, options.mode); !st.ok()) return st;
  std::error_code ec;
  const bool create = !fs::exists(dir, ec) || fs::is_empty(dir, ec);  // as the probe said
  if (create) fs::create_directories(dir, ec);
  if (ec) return Status::IOError("collection: cannot create '" + dir + "': " + ec.message());

  auto state = std::make_unique<State>();
  state->dir = dir;
  state->embedder = embedder;
  state->options = options;
  state->read_only = options.mode == OpenMode::kReadOnly;
  if (Status st = state->OpenDatabase(create); !st.ok()) return st;
  const json identity = {{"embedder", std::string(embedder->Name())}, {"dim", embedder->Dim()}};
  if (Status st = create ? state->Initialise(identity) : state->ReadMeta(identity); !st.ok()) {
    return st;
  }
  if (Status st = state->LoadChunkMap(); !st.ok()) return st;
  if (Status st = state->OpenIndex(); !st.ok()) return st;
  auto c = std::unique_ptr<Collection>(new Collection(std::move(state)));
  if (c->s_->index_dirty && !c->s_->read_only) {
    if (Status st = c->Flush(); !st.ok()) return st;
  }
  return c;
}

Status Collection::Flush() {
  if (Status st = s_->RefuseIfReadOnly("flush"); !st.ok()) return st;
  std::lock_guard lock(s_->write_mu);
  const std::string path = (fs::path(s_->dir) / kIndexFile).string();
  if (Status st = s_->index->Save(path, s_->db->GetLatestSequenceNumber(), s_->instance); !st.ok()) {
    return st;
  }
  s_->index_dirty = false;
  // Memtables to table files too, so the next Open replays no write-ahead log (at 100k chunks
  // that replay took 15 s).
  return FromRocks(s_->db->Flush(rocksdb::FlushOptions()), "flushing the database");
}

Result<IngestResult> Collection::Ingest(const DocumentInput& document) {
  Result<std::vector<IngestResult>> r = IngestBatch(std::span(&document, 1));
  if (!r.ok()) return r.status();
  return (*r)[0];
}

namespace {

// A document as the collection stores it: source, title and tags valid UTF-8 (so the source
// key and the stored record agree), an empty source named by the text.
DocumentInput Normalised(const DocumentInput& d, const std::string& sha) {
  DocumentInput n;
  n.title = RepairUtf8(d.title);
  n.source = d.source.empty() ? "sha256:" + sha.substr(0, 12) : RepairUtf8(d.source);
  for (const std::string& t : d.tags) n.tags.push_back(RepairUtf8(t));
  n.format = RepairUtf8(d.format);
  return n;
}

bool SameDocument(const DocumentInfo& stored, const DocumentInput& n, const std::string& sha) {
  return stored.sha256 == sha && stored.title == n.title && stored.tags == n.tags &&
         stored.format == n.format;
}

}  // namespace

// Which documents of a batch need writing (a source already there with the same content is
// kUnchanged in `results`), with their chunks; `texts` gets what to embed for them.
Result<std::vector<PendingDocument>> Collection::State::PlanIngest(
    std::span<const DocumentInput> documents, std::vector<IngestResult>& results,
    IngestTexts& texts) const {
  std::vector<PendingDocument> pending;
  std::unordered_map<std::string, size_t> batch_sources;
  auto count = [&](std::string_view t) { return embedder->CountTokens(t); };
  for (size_t i = 0; i < documents.size(); ++i) {
    const DocumentInput& d = documents[i];
    PendingDocument p{i, Sha256Hex(d.text), {}, std::nullopt, {}};
    p.meta = Normalised(d, p.sha);
    if (auto [at, fresh] = batch_sources.emplace(p.meta.source, i); !fresh) {
      return Status::InvalidArgument("ingest: documents " + std::to_string(at->second) + " and " +
                                     std::to_string(i) + " of one batch have the same source '" +
                                     p.meta.source + "'; a source names one document");
    }
    Result<std::optional<uint64_t>> old = LookupId(SourceKey(p.meta.source));
    if (!old.ok()) return old.status();
    if (*old) {
      Result<std::optional<DocumentInfo>> info = GetDocument(**old);
      if (!info.ok()) return info.status();
      if (*info && SameDocument(**info, p.meta, p.sha)) {
        results[i] = {(*info)->id, IngestOutcome::kUnchanged, (*info)->chunks};
        continue;
      }
      p.replaces = *info;  // nullopt: a key left by an older build; overwritten below
    }
    Result<std::vector<TextChunk>> chunks = ChunkText(d.text, options.chunking, count);
    if (!chunks.ok()) return chunks.status();
    p.chunks = std::move(*chunks);
    for (const TextChunk& c : p.chunks) {
      const std::string_view chunk = std::string_view(d.text).substr(c.begin, c.end - c.begin);
      texts.chunks.push_back(IndexText(p.meta.title, chunk));
      if (!sentence_vectors) continue;
      const std::vector<TextSpan> sentences = SplitSentences(chunk);
      for (const TextSpan& sentence : sentences) {
        texts.sentences.push_back(
            IndexText(p.meta.title, chunk.substr(sentence.begin, sentence.end - sentence.begin)));
      }
      texts.sentence_counts.push_back(sentences.size());
    }
    pending.push_back(std::move(p));
  }
  return pending;
}

Result<std::vector<IngestResult>> Collection::IngestBatch(std::span<const DocumentInput> documents) {
  State& s = *s_;
  if (Status st = s.RefuseIfReadOnly("ingest into"); !st.ok()) return st;
  std::lock_guard lock(s.write_mu);
  std::vector<IngestResult> results(documents.size());
  // Chunk every document that needs writing, then embed all chunks (and sentences) together.
  IngestTexts texts;
  ENGRAM_TRY_ASSIGN(std::vector<PendingDocument> pending, s.PlanIngest(documents, results, texts));
  ENGRAM_TRY_ASSIGN(const std::vector<float> vectors, EmbedAll(*s.embedder, texts.chunks));
  ENGRAM_TRY_ASSIGN(const std::vector<float> sentence_embeddings,
                    EmbedAll(*s.embedder, texts.sentences));
  const size_t dim = static_cast<size_t>(s.embedder->Dim());
  size_t next_sentence = 0;

  rocksdb::WriteBatch batch;
  Bm25Changes changes;
  std::vector<int64_t> add_ids, remove_ids;
  std::vector<std::pair<uint64_t, uint64_t>> add_chunks;  // chunk, document
  size_t next_vector = 0;
  const int64_t now = WallClockMs();
  for (PendingDocument& p : pending) {
    const DocumentInput& d = documents[p.input];
    IngestResult& result = results[p.input];
    DocumentInfo info;
    info.created_ms = now;
    if (p.replaces) {
      Result<std::vector<uint64_t>> removed = s.RemoveDocument(*p.replaces, batch, changes);
      if (!removed.ok()) return removed.status();
      for (uint64_t c : *removed) remove_ids.push_back(static_cast<int64_t>(c));
      info.created_ms = p.replaces->created_ms;
      result.outcome = IngestOutcome::kReplaced;
    }
    info.id = s.next_document++;
    info.title = p.meta.title;
    info.source = p.meta.source;
    info.format = p.meta.format;
    info.sha256 = p.sha;
    info.tags = p.meta.tags;
    info.updated_ms = now;
    info.bytes = d.text.size();
    info.chunks = static_cast<uint32_t>(p.chunks.size());
    for (const TextChunk& c : p.chunks) {
      ChunkRecord r;
      r.document = info.id;
      r.begin = c.begin;
      r.end = c.end;
      r.tokens = static_cast<uint32_t>(c.tokens);
      r.text = d.text.substr(c.begin, c.end - c.begin);
      const std::vector<std::string> terms = s.bm25->Terms(s.IndexText(info.title, r.text));
      r.terms = static_cast<uint32_t>(terms.size());
      r.embedding.assign(vectors.begin() + next_vector * dim, vectors.begin() + (next_vector + 1) * dim);
      const size_t sentences =
          texts.sentence_counts.empty() ? 0 : texts.sentence_counts[next_vector];
      for (size_t k = 0; k < sentences; ++k, ++next_sentence) {
        r.sentences.push_back(internal::QuantizeVector(
            std::span(sentence_embeddings).subspan(next_sentence * dim, dim)));
      }
      ++next_vector;
      const uint64_t chunk = s.next_chunk++;
      changes.Add(chunk, terms);
      batch.Put(s.cf[kChunks], BigEndian64(chunk), r.Encode(s.sentence_vectors));
      s.chunk_count += 1;
      s.total_terms += r.terms;
      add_ids.push_back(static_cast<int64_t>(chunk));
      add_chunks.emplace_back(chunk, info.id);
    }
    batch.Put(s.cf[kDocuments], DocKey(info.id), JsonText(DocumentJson(info)));
    batch.Put(s.cf[kDocuments], SourceKey(info.source), BigEndian64(info.id));
    result.id = info.id;
    result.chunks = info.chunks;
  }
  if (pending.empty()) return results;
  if (Status st = s.bm25->Apply(changes, batch); !st.ok()) return st;
  if (Status st = s.PutCounters(batch); !st.ok()) return st;
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "writing documents"); !st.ok()) {
    return st;
  }
  // The database is the truth from here; the index follows (and is caught up on the next Open
  // should this process die before Flush).
  {
    std::unique_lock state_lock(s.state_mu);
    for (int64_t c : remove_ids) s.chunk_document.erase(static_cast<uint64_t>(c));
    for (const auto& [chunk, doc] : add_chunks) s.chunk_document[chunk] = doc;
  }
  {
    std::lock_guard idf_lock(s.idf_mu);
    s.mean_idf.reset();
  }
  const auto index_start = std::chrono::steady_clock::now();
  if (!remove_ids.empty()) {
    if (Status st = s.index->Remove(remove_ids); !st.ok()) return st;
  }
  if (!add_ids.empty()) {
    if (Status st = s.index->Add(add_ids, vectors); !st.ok()) return st;
  }
  s.index_micros += MicrosSince(index_start);
  s.index_dirty = true;
  return results;
}

Status Collection::Delete(uint64_t document_id) {
  return Delete(std::span<const uint64_t>(&document_id, 1));
}

Status Collection::Delete(std::span<const uint64_t> document_ids) {
  State& s = *s_;
  if (Status st = s.RefuseIfReadOnly("delete from"); !st.ok()) return st;
  std::lock_guard lock(s.write_mu);
  // Every id is looked up before anything changes.
  const std::set<uint64_t> wanted(document_ids.begin(), document_ids.end());
  std::vector<DocumentInfo> documents;
  std::string missing;
  for (const uint64_t id : wanted) {
    Result<std::optional<DocumentInfo>> info = s.GetDocument(id);
    if (!info.ok()) return info.status();
    if (*info) {
      documents.push_back(std::move(**info));
    } else {
      missing += (missing.empty() ? "" : ", ") + std::to_string(id);
    }
  }
  if (!missing.empty()) {
    return Status::NotFound("collection: no document " + missing + " in '" + s.dir +
                            "'; nothing was deleted");
  }
  rocksdb::WriteBatch batch;
  Bm25Changes changes;
  std::vector<uint64_t> removed;
  for (const DocumentInfo& d : documents) {
    Result<std::vector<uint64_t>> chunks = s.RemoveDocument(d, batch, changes);
    if (!chunks.ok()) return chunks.status();
    removed.insert(removed.end(), chunks->begin(), chunks->end());
  }
  if (Status st = s.bm25->Apply(changes, batch); !st.ok()) return st;
  if (Status st = s.PutCounters(batch); !st.ok()) return st;
  if (Status st = FromRocks(s.db->Write(s.WriteOpts(), &batch), "deleting"); !st.ok()) return st;
  std::vector<int64_t> ids;
  {
    std::unique_lock state_lock(s.state_mu);
    for (uint64_t c : removed) {
      s.chunk_document.erase(c);
      ids.push_back(static_cast<int64_t>(c));
    }
  }
  {
    std::lock_guard idf_lock(s.idf_mu);
    s.mean_idf.reset();
  }
  s.index_dirty = true;
  return s.index->Remove(ids);
}

Result<DocumentInfo> Collection::Get(uint64_t document_id) const {
  Result<std::optional<DocumentInfo>> info = s_->GetDocument(document_id);
  if (!info.ok()) return info.status();
  if (!*info) return Status::NotFound("collection: no document " + std::to_string(document_id));
  return **info;
}

Result<std::string> Collection::DocumentText(uint64_t document_id) const {
  ENGRAM_TRY_ASSIGN(DocumentInfo info, Get(document_id));
  std::vector<uint64_t> chunks;
  {
    std::shared_lock lock(s_->state_mu);
    for (const auto& [chunk, doc] : s_->chunk_document) {
      if (doc == document_id) chunks.push_back(chunk);
    }
  }
  std::string text(info.bytes, ' ');
  for (uint64_t chunk : chunks) {
    std::string value;
    const rocksdb::Status st = s_->db->Get({}, s_->cf[kChunks], BigEndian64(chunk), &value);
    if (!st.ok()) return FromRocks(st, "reading chunk " + std::to_string(chunk));
    std::optional<ChunkRecord> r = ChunkRecord::Decode(value, s_->sentence_vectors);
    if (!r || r->end > text.size() || r->begin > r->end || r->text.size() != r->end - r->begin) {
      return Status::Corruption("collection: chunk " + std::to_string(chunk) + " in '" + s_->dir +
                                "' is unreadable");
    }
    text.replace(r->begin, r->text.size(), r->text);
  }
  return text;
}

Result<std::vector<DocumentInfo>> Collection::List() const {
  std::vector<DocumentInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(s_->db->NewIterator({}, s_->cf[kDocuments]));
  for (it->Seek("d"); it->Valid() && it->key().starts_with("d"); it->Next()) {
    std::optional<DocumentInfo> d = DocumentFromJson(it->value().ToStringView());
    if (!d) return Status::Corruption("collection: a document record in '" + s_->dir + "' is unreadable");
    out.push_back(std::move(*d));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing documents");
  return out;
}

CollectionStats Collection::Stats() const {
  std::shared_lock lock(s_->state_mu);
  CollectionStats st;
  std::unordered_set<uint64_t> docs;
  for (const auto& [chunk, doc] : s_->chunk_document) docs.insert(doc);
  st.documents = docs.size();
  st.chunks = s_->chunk_count;
  st.average_chunk_terms =
      s_->chunk_count > 0 ? static_cast<double>(s_->total_terms) / static_cast<double>(s_->chunk_count) : 0.0;
  st.index_kind = s_->index->kind();
  st.index_bytes = s_->index->memory_bytes();
  st.index_seconds = static_cast<double>(s_->index_micros.load()) / 1e6;
  st.index_title = s_->index_title;
  st.stemming = s_->stemming;
  st.sentence_vectors = s_->sentence_vectors;
  return st;
}

Status ValidateSearch(std::string_view query, const SearchOptions& o) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("search: " + what); };
  if (std::all_of(query.begin(), query.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; })) {
    return bad("the query is empty; give words to search for");
  }
  if (query.size() > kMaxQueryBytes) {
    return bad("the query has " + std::to_string(query.size()) + " bytes, more than the " +
               std::to_string(kMaxQueryBytes) + " allowed; shorten it");
  }
  auto int_in = [&](std::string_view name, int v, int lo, int hi) -> Status {
    if (v >= lo && v <= hi) return Status::OK();
    return bad(std::string(name) + " must be within " + std::to_string(lo) + ".." +
               std::to_string(hi) + ", got " + std::to_string(v));
  };
  auto real_in = [&](std::string_view name, double v, double lo, double hi) -> Status {
    if (std::isfinite(v) && v >= lo && v <= hi) return Status::OK();
    auto text = [](double x) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%g", x);
      return std::string(buffer);
    };
    return bad(std::string(name) + " must be a finite number within " + text(lo) + ".." +
               text(hi) + ", got " + text(v));
  };
  for (Status st :
       {int_in("k", o.k, 1, kMaxSearchK),
        int_in("candidates", o.candidates, 0, kMaxSearchCandidates),
        real_in("rrf_k", o.rrf_k, 0.0, 1e6), real_in("dense_weight", o.dense_weight, 0.0, 1.0),
        real_in("mmr_lambda", o.mmr_lambda, 0.0, 1.0),
        int_in("rescore.candidates", o.rescore.candidates, 0, kMaxSearchCandidates),
        real_in("rescore.cosine", o.rescore.cosine, 0.0, kMaxRescoreWeight),
        real_in("rescore.sentence_cosine", o.rescore.sentence_cosine, 0.0, kMaxRescoreWeight),
        real_in("rescore.coverage", o.rescore.coverage, 0.0, kMaxRescoreWeight),
        real_in("rescore.sentence", o.rescore.sentence, 0.0, kMaxRescoreWeight),
        real_in("rescore.bigrams", o.rescore.bigrams, 0.0, kMaxRescoreWeight)}) {
    if (!st.ok()) return st;
  }
  return Status::OK();
}

namespace {

// The documents a search's filters admit; nullopt: every one.
Result<std::optional<std::unordered_set<uint64_t>>> AllowedDocuments(const Collection& c,
                                                                     const SearchOptions& options) {
  std::optional<std::unordered_set<uint64_t>> allowed_docs;
  if (options.document && options.tags.empty() && options.source_prefix.empty()) {
    allowed_docs.emplace({*options.document});
  } else if (!options.tags.empty() || !options.source_prefix.empty() || options.document) {
    Result<std::vector<DocumentInfo>> docs = c.List();
    if (!docs.ok()) return docs.status();
    allowed_docs.emplace();
    // Stored sources and tags are repaired UTF-8 (Normalised); filters match them so. A prefix
    // that ends inside a character also matches as given.
    const std::string prefix = RepairUtf8(options.source_prefix);
    std::vector<std::string> tags;
    for (const std::string& t : options.tags) tags.push_back(RepairUtf8(t));
    for (const DocumentInfo& d : *docs) {
      bool ok = !options.document || d.id == *options.document;
      ok = ok && (d.source.starts_with(prefix) || d.source.starts_with(options.source_prefix));
      for (const std::string& t : tags) {
        ok = ok && std::find(d.tags.begin(), d.tags.end(), t) != d.tags.end();
      }
      if (ok) allowed_docs->insert(d.id);
    }
  }
  return allowed_docs;
}

// A search's first candidates with their records, in fused order (chunks deleted meanwhile
// dropped); cosine[i] and best_sentence[i] are filled by RescoreCandidates.
struct Candidates {
  std::vector<ChunkRecord> records;
  std::vector<RankedItem> kept;
  std::vector<double> cosine;
  std::vector<std::optional<size_t>> best_sentence;  // its index in SplitSentences(text)
};

Result<Candidates> LoadCandidates(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* chunks,
                                  bool sentence_vectors, const std::vector<RankedItem>& fused,
                                  size_t n) {
  Candidates out;
  for (size_t i = 0; i < n; ++i) {
    std::string value;
    rocksdb::Status st = db.Get({}, chunks, BigEndian64(fused[i].id), &value);
    if (st.IsNotFound()) continue;  // deleted while we searched
    if (!st.ok()) return FromRocks(st, "reading a chunk");
    std::optional<ChunkRecord> r = ChunkRecord::Decode(value, sentence_vectors);
    if (!r)
      return Status::Corruption("collection: chunk " + std::to_string(fused[i].id) +
                                " is unreadable");
    out.records.push_back(std::move(*r));
    out.kept.push_back(fused[i]);
  }
  return out;
}

double Cosine(std::span<const float> a, std::span<const float> b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (size_t d = 0; d < a.size() && d < b.size(); ++d) {
    dot += static_cast<double>(a[d]) * b[d];
    na += static_cast<double>(a[d]) * a[d];
    nb += static_cast<double>(b[d]) * b[d];
  }
  return na > 0.0 && nb > 0.0 ? dot / std::sqrt(na * nb) : 0.0;
}

// SearchOptions::rescore: every candidate's score becomes the fused score plus its weighted
// cosines and term matches (RescoreOptions), and they are sorted by it (ties by chunk id).
void RescoreCandidates(std::string_view query, const Bm25Query& bm25_query, Stemming stemming,
                       std::span<const float> query_vector, const RescoreOptions& w,
                       Candidates& c) {
  QueryTerms terms{.terms = Bm25Terms(query, stemming), .idf = {}, .stemming = stemming};
  for (const Bm25Query::Term& t : bm25_query.terms) terms.idf[t.term] = t.idf;
  c.cosine.clear();
  c.best_sentence.clear();
  for (size_t i = 0; i < c.records.size(); ++i) {
    const TermMatch m = MatchTerms(terms, c.records[i].text);
    c.cosine.push_back(Cosine(query_vector, c.records[i].embedding));
    const std::optional<internal::BestSentence> best =
        internal::FindBestSentence(query_vector, c.records[i]);
    c.best_sentence.push_back(best ? std::optional(best->index) : std::nullopt);
    // A chunk stored without sentence vectors stands for its one sentence.
    const double sentence_cosine = best ? best->cosine : c.cosine.back();
    c.kept[i].score += w.cosine * c.cosine.back() + w.sentence_cosine * sentence_cosine +
                       w.coverage * m.coverage + w.sentence * m.sentence + w.bigrams * m.bigrams;
  }
  std::vector<size_t> order(c.kept.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return c.kept[a].score != c.kept[b].score ? c.kept[a].score > c.kept[b].score
                                              : c.kept[a].id < c.kept[b].id;
  });
  Candidates sorted;
  for (size_t i : order) {
    sorted.records.push_back(std::move(c.records[i]));
    sorted.kept.push_back(c.kept[i]);
    sorted.cosine.push_back(c.cosine[i]);
    sorted.best_sentence.push_back(c.best_sentence[i]);
  }
  c = std::move(sorted);
}

// Candidate i as a hit, without the component scores, title and source, which the caller has.
SearchHit CandidateHit(const Candidates& found, size_t i) {
  const ChunkRecord& r = found.records[i];
  SearchHit h;
  h.chunk_id = found.kept[i].id;
  h.document_id = r.document;
  h.score = found.kept[i].score;
  h.begin = h.sentence_begin = r.begin;
  h.end = h.sentence_end = r.end;
  if (i < found.best_sentence.size() && found.best_sentence[i]) {
    const std::vector<TextSpan> sentences = SplitSentences(r.text);
    if (*found.best_sentence[i] < sentences.size()) {
      h.sentence_begin = r.begin + sentences[*found.best_sentence[i]].begin;
      h.sentence_end = r.begin + sentences[*found.best_sentence[i]].end;
    }
  }
  h.text = r.text;
  return h;
}

}  // namespace

Result<std::vector<SearchHit>> Collection::Search(std::string_view query,
                                                  const SearchOptions& options) const {
  const State& s = *s_;
  if (Status st = ValidateSearch(query, options); !st.ok()) return st;
  const int candidates = options.candidates > 0 ? options.candidates : std::max(4 * options.k, 50);

  ENGRAM_TRY_ASSIGN(const std::optional<std::unordered_set<uint64_t>> allowed_docs,
                    AllowedDocuments(*this, options));
  auto doc_allowed = [&](uint64_t doc) { return !allowed_docs || allowed_docs->count(doc) > 0; };

  std::vector<RankedItem> bm25, dense;
  Bm25Query bm25_query;
  if (options.mode != SearchMode::kDense) {
    Result<std::vector<RankedItem>> top =
        s.Bm25Top(query, static_cast<size_t>(candidates), allowed_docs ? &*allowed_docs : nullptr,
                  &bm25_query);
    if (!top.ok()) return top.status();
    bm25 = std::move(*top);
  }
  std::vector<float> query_vector;
  if (options.mode != SearchMode::kBm25) {
    const std::string q(query);
    Result<EmbeddingBatch> e = s.embedder->Embed(std::span(&q, 1));
    if (!e.ok()) return e.status();
    query_vector = e->values;
    std::function<bool(int64_t)> allow = [&](int64_t chunk) {
      std::shared_lock lock(s.state_mu);
      auto it = s.chunk_document.find(static_cast<uint64_t>(chunk));
      return it != s.chunk_document.end() && doc_allowed(it->second);
    };
    Result<std::vector<VectorHit>> hits =
        s.index->Search(query_vector, candidates, allowed_docs ? &allow : nullptr);
    if (!hits.ok()) return hits.status();
    for (const VectorHit& h : *hits) dense.push_back({static_cast<uint64_t>(h.id), h.score});
  }

  std::vector<RankedItem> fused;
  switch (options.mode) {
    case SearchMode::kBm25: fused = bm25; break;
    case SearchMode::kDense: fused = dense; break;
    case SearchMode::kHybrid:
      fused = options.fusion == FusionMethod::kRrf
                  ? ReciprocalRankFusion({&bm25, &dense}, options.rrf_k)
                  : WeightedFusion(bm25, dense, 1.0 - options.dense_weight, options.dense_weight);
      break;
  }
  std::unordered_map<uint64_t, double> bm25_of, dense_of;
  for (const RankedItem& r : bm25) bm25_of[r.id] = r.score;
  for (const RankedItem& r : dense) dense_of[r.id] = r.score;

  // Load the candidates' records (rescoring and MMR need their text and embeddings).
  const bool rescore = options.mode == SearchMode::kHybrid && options.rescore.candidates > 0;
  size_t wanted = static_cast<size_t>(options.k);
  if (rescore) wanted = std::max(wanted, static_cast<size_t>(options.rescore.candidates));
  if (options.mmr) wanted = std::max(wanted, static_cast<size_t>(candidates));
  ENGRAM_TRY_ASSIGN(Candidates found, LoadCandidates(*s.db, s.cf[kChunks], s.sentence_vectors,
                                                     fused, std::min(fused.size(), wanted)));
  if (rescore) {
    RescoreCandidates(query, bm25_query, s.stemming, query_vector, options.rescore, found);
    for (size_t i = 0; i < found.kept.size(); ++i) dense_of[found.kept[i].id] = found.cosine[i];
  }
  const std::vector<ChunkRecord>& records = found.records;
  const std::vector<RankedItem>& kept = found.kept;
  std::vector<size_t> order(kept.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (options.mmr) {
    std::vector<std::span<const float>> vectors;
    for (const ChunkRecord& r : records) vectors.emplace_back(r.embedding);
    order = MaximalMarginalRelevance(kept, vectors, static_cast<size_t>(options.k), options.mmr_lambda);
  }
  if (order.size() > static_cast<size_t>(options.k)) order.resize(static_cast<size_t>(options.k));

  std::unordered_map<uint64_t, DocumentInfo> docs;
  std::vector<SearchHit> out;
  for (size_t i : order) {
    const uint64_t document = records[i].document;
    if (!docs.count(document)) {
      Result<std::optional<DocumentInfo>> d = s.GetDocument(document);
      if (!d.ok()) return d.status();
      docs[document] = d->value_or(DocumentInfo{});
    }
    SearchHit h = CandidateHit(found, i);
    h.bm25_score = bm25_of.count(h.chunk_id) ? bm25_of[h.chunk_id] : 0.0;
    h.dense_score = dense_of.count(h.chunk_id) ? dense_of[h.chunk_id] : 0.0;
    h.title = docs[document].title;
    h.source = docs[document].source;
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace engram::retrieval
