// VectorIndex: an id-mapped FAISS index of inner-product vectors (chunk and episode embeddings).
//
//   VectorIndexOptions options;                       // kAuto: exact below 50,000, HNSW above
//   Result<std::unique_ptr<VectorIndex>> index = VectorIndex::Create(384, options);
//   if (!index.ok()) return index.status();
//   Status s = (*index)->Add(ids, vectors);            // ids.size() * 384 floats
//   Result<std::vector<VectorHit>> hits = (*index)->Search(query, 10);
//   s = (*index)->Save(dir + "/chunks.vindex", db_sequence, store_identity);
//   auto again = VectorIndex::Load(dir + "/chunks.vindex", &db_sequence, store_identity);
//
// Vectors are L2-normalised by callers, so the inner product is the cosine. No FAISS type leaks
// through this header; every FAISS exception is caught inside and returned as a Status.
//
// Kinds (IndexKind):
//   flat   exact inner product (faiss::IndexFlatIP). Remove compacts the storage.
//   hnsw   faiss::IndexHNSWFlat (inner product), M = hnsw_m, efConstruction / efSearch from the
//          options (efSearch raised to k when k is larger). FAISS cannot remove from HNSW:
//          Remove leaves a tombstone that every search excludes through an IDSelector, and the
//          graph is rebuilt from the live vectors once tombstones exceed 20% of the stored ones.
//   ivfpq  faiss::IndexIVFPQ (inner product, coarse quantizer IndexFlatIP, pq_m sub-quantizers
//          of 8 bits, residual encoding). It needs training: vectors are buffered in an exact
//          flat index (searches are exact meanwhile) until the buffer holds at least
//          max(39 * nlist, 10000) vectors; then the quantizers are trained on the whole buffer,
//          the buffer is moved into the IVF-PQ index, and later Adds go straight there. With
//          ivf_nlist = 0, nlist = min(4 * sqrt(n), n / 39) at training time (n = the buffer
//          size), so training starts at 10,000 vectors. Scores are then PQ approximations.
//   auto   flat below hnsw_threshold live vectors; the Add that makes the count reach the
//          threshold converts the index to HNSW, once (it stays HNSW if Removes shrink it).
//
// Filters (`allow` in Search) are applied inside the FAISS search through an IDSelector, so
// vectors that are not allowed never take a result slot:
//   flat   exact scan of the allowed vectors: always min(k, allowed live) hits.
//   hnsw   graph search at efSearch with the selector (tombstones and `allow`); when it yields
//          fewer than k hits (a selective filter starves the graph walk), it retries at 4x
//          efSearch, and if that is still short, scans the HNSW's flat storage exactly with the
//          same selector. So it returns min(k, allowed live) hits; the hits of the graph passes
//          are approximate. (FAISS 1.7.3 ignores SearchParametersHNSW::efSearch for the queue
//          size, which is max(hnsw.efSearch, k); a search at ef asks FAISS for ef results.)
//   ivfpq  nprobe lists with the selector; when short, nprobe is multiplied by 4 until it covers
//          every list (which sees every allowed vector). Before training: as flat.
//
// Thread safety: any number of concurrent Search / Contains / size / memory_bytes / Save calls
// together with one writer at a time (Add, Remove); a std::shared_mutex inside orders them,
// with writer priority (a waiting Add holds back new searches, so it is never starved). A
// search runs on the calling thread (FAISS's OpenMP parallelism is over queries; the team size
// is set to 1 for the calling thread during the search and restored after); Add, training and
// HNSW building use FAISS's OpenMP threads (OMP_NUM_THREADS).
// Save only reads the index, but two Saves to the same path at once race on <path>.tmp, so
// callers treat Save as part of their single writer.
//
// Owner: an index is a cache of vectors that some store (a collection's database, a memory
// namespace) holds as the truth. Save can stamp the file with that store's identity (an opaque
// string, at most kMaxIndexOwnerBytes, e.g. 32 random hex digits kept in the store's
// metadata); Load given an expected owner refuses a file stamped with another owner or with
// none (kFailedPrecondition), so an index file copied from another store with the same ids is
// never trusted. The caller then rebuilds the index from its store.
//
// File format (Save / Load; all integers little-endian):
//   header (32 bytes): magic "ENGVIDX\0" | u32 version = 2 | u32 header size = 32 |
//                      u64 payload size | u64 FNV-1a 64 over the header's first 24 bytes and
//                      then the payload (so a flipped version or size byte is caught too)
//   payload: u64 sequence | u16 owner bytes | owner (version 2 only; version 1 files, which
//            have neither field, load as owned by nobody) | i32 dim | u8 options.kind | u8 concrete kind | u8 ivf trained |
//            u8 reserved | i64 hnsw_threshold | i32 hnsw_m | i32 hnsw_ef_construction |
//            i32 hnsw_ef_search | i32 ivf_nlist | i32 pq_m | i32 ivf_nprobe |
//            u64 slot count | i64 id per FAISS slot (flat / hnsw / buffer; 0 for trained IVF,
//            which stores the ids itself) | u64 tombstone count | i64 slot per tombstone |
//            u64 FAISS byte count | faiss::write_index bytes
// A torn file (short payload), a foreign file (wrong magic), a checksum mismatch or a payload
// that does not describe a consistent index loads as kCorruption; a newer version as
// kNotSupported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"

namespace engram::retrieval {

enum class IndexKind { kAuto, kFlat, kHnsw, kIvfPq };

// The longest owner identity Save accepts (see "Owner" above).
inline constexpr size_t kMaxIndexOwnerBytes = 256;

// "auto", "flat", "hnsw", "ivfpq".
std::string_view IndexKindName(IndexKind k);
// The inverse of IndexKindName; kInvalidArgument for anything else.
Result<IndexKind> ParseIndexKind(std::string_view s);

struct VectorIndexOptions {
  // The index structure (see the file comment). Default: kAuto.
  IndexKind kind = IndexKind::kAuto;
  // kAuto: live vector count from which the index is HNSW. Default 50,000. Must be >= 1.
  int64_t hnsw_threshold = 50000;
  // HNSW: neighbours per node (M), candidate list size while building, and while searching
  // (raised to k per search when k is larger). Defaults 32, 200, 128.
  int hnsw_m = 32, hnsw_ef_construction = 200, hnsw_ef_search = 128;
  // IVF-PQ: inverted lists; 0 means min(4 * sqrt(n), n / 39) with n the vectors at training
  // time. Default 0.
  int ivf_nlist = 0;
  // IVF-PQ: sub-quantizers of 8 bits each (bytes per vector); dim must be divisible by it.
  // Default 16.
  int pq_m = 16;
  // IVF-PQ: lists visited per search. Default 16.
  int ivf_nprobe = 16;
};

struct VectorHit {
  int64_t id;
  float score;  // inner product with the query (the cosine for normalised vectors)
};

class VectorIndex {
 public:
  // An empty index of `dim`-dimensional vectors. kInvalidArgument for dim < 1, option values
  // out of range (non-positive M, ef, nprobe, pq_m, hnsw_threshold; negative nlist) or a dim
  // that pq_m does not divide (kIvfPq only).
  static Result<std::unique_ptr<VectorIndex>> Create(int dim, const VectorIndexOptions& options);

  // Writes the index to `path` atomically: <path>.tmp is written and fsync'ed, renamed over
  // `path`, and the directory is fsync'ed. `sequence` is stored as is (callers record which
  // database state the index reflects). On failure `path` is untouched (the .tmp is removed
  // when possible); kIOError / kNotFound (missing directory) from the OS, kInternal if FAISS
  // refuses to serialise. `owner` (may be empty: no owner) is stored with it; longer than
  // kMaxIndexOwnerBytes is kInvalidArgument.
  virtual Status Save(const std::string& path, uint64_t sequence, std::string_view owner) const = 0;
  Status Save(const std::string& path, uint64_t sequence) const { return Save(path, sequence, {}); }

  // Reads an index written by Save and sets *sequence (when not null) to the stored value.
  // kNotFound when `path` does not exist; kCorruption for a torn, foreign or garbled file
  // (never a crash); kNotSupported for a newer format version; kIOError when it cannot be read.
  // With a non-empty `expected_owner`, a file whose stored owner differs (another owner, or
  // none: a version-1 file or one saved without owner) is kFailedPrecondition naming both,
  // and *sequence is left unchanged. An empty `expected_owner` accepts any file.
  static Result<std::unique_ptr<VectorIndex>> Load(const std::string& path, uint64_t* sequence,
                                                   std::string_view expected_owner = {});

  virtual ~VectorIndex() = default;

  // Adds ids.size() vectors, `vectors` holding ids.size() * dim() floats, row-major. Ids must be
  // >= 0, unique within the call and not in the index; vectors finite. kInvalidArgument
  // (nothing added) otherwise. kInternal if FAISS fails (the index may then hold part of the
  // batch; Contains tells which). May train (ivfpq) or convert to HNSW (auto): see above.
  virtual Status Add(std::span<const int64_t> ids, std::span<const float> vectors) = 0;

  // Removes the vectors with these ids; unknown ids are ignored. HNSW: tombstones, and a
  // rebuild when they exceed 20% of the stored vectors.
  virtual Status Remove(std::span<const int64_t> ids) = 0;

  // The top k hits by score, best first; fewer when fewer (allowed) vectors are live.
  // `query` holds dim() floats; k >= 0 (kInvalidArgument otherwise). `allow`, when given, keeps
  // only the ids it returns true for; it is called from FAISS's search (possibly from several
  // OpenMP threads, and more than once per id), so it must be thread-safe, cheap and must not
  // throw. Guarantees on the number of hits: see "Filters" above.
  virtual Result<std::vector<VectorHit>> Search(
      std::span<const float> query, int k,
      const std::function<bool(int64_t)>* allow = nullptr) const = 0;

  virtual bool Contains(int64_t id) const = 0;
  // Live vectors (added and not removed).
  virtual int64_t size() const = 0;
  virtual int dim() const = 0;
  // The structure now: kFlat, kHnsw or kIvfPq, never kAuto (an auto index below its threshold
  // is kFlat; an untrained ivfpq index is kIvfPq).
  virtual IndexKind kind() const = 0;
  // Approximate heap bytes of the vectors, graph / codes, and id tables.
  virtual size_t memory_bytes() const = 0;
  // Changes the HNSW search breadth (hnsw_ef_search) from now on, and in the file Save writes;
  // for tuning (`engram bench vectors`). kInvalidArgument below 1.
  virtual Status SetHnswEfSearch(int ef_search) = 0;
};

}  // namespace engram::retrieval
