#include "retrieval/vector_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <omp.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include "common/thread_annotations.h"
#include "retrieval/internal/simd_flat_ip.h"

namespace engram::retrieval {
namespace {

using idx_t = faiss::Index::idx_t;

// Tombstones above this fraction of the HNSW's stored vectors trigger a rebuild.
constexpr double kTombstoneRebuildFraction = 0.2;
// IVF-PQ trains once the buffer holds at least this many vectors (and 39 per list): PQ's 256
// centroids per sub-quantizer want ~39 points each as well.
constexpr int64_t kMinTrainingVectors = 10000;
constexpr int64_t kTrainingPointsPerCentroid = 39;
// Filtered searches that come back short widen their search by this factor per retry.
constexpr int kWidenFactor = 4;

constexpr char kMagic[8] = {'E', 'N', 'G', 'V', 'I', 'D', 'X', '\0'};
// 2 added the owner after the sequence; version 1 files still load (owned by nobody).
constexpr uint32_t kVersion = 2;
constexpr uint32_t kHeaderBytes = 32;

// Runs a FAISS call; exceptions become kInternal statuses "vector index: <what>: <message>".
template <typename F>
Status CallFaiss(std::string_view what, F&& f) {
  try {
    f();
    return Status::OK();
  } catch (const faiss::FaissException& e) {
    return Status::Internal("vector index: " + std::string(what) + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Internal("vector index: " + std::string(what) + ": " + e.what());
  }
}

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ull;
// Bytes of the header the checksum covers: everything before the checksum itself.
constexpr size_t kChecksummedHeaderBytes = 24;

// FNV-1a 64, continuing from `h` (so several spans hash as their concatenation).
uint64_t Fnv1a64(std::span<const uint8_t> bytes, uint64_t h = kFnvOffsetBasis) {
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

// --- little-endian encoding -------------------------------------------------------------------

class Encoder {
 public:
  template <typename T>
  void Put(T value) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(value);
    for (size_t i = 0; i < sizeof(T); ++i) bytes_.push_back(static_cast<uint8_t>(u >> (8 * i)));
  }
  void PutBytes(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  bool Get(T* value) {
    static_assert(std::is_integral_v<T>);
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::make_unsigned_t<T> u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u |= static_cast<std::make_unsigned_t<T>>(bytes_[pos_ + i]) << (8 * i);
    }
    pos_ += sizeof(T);
    *value = static_cast<T>(u);
    return true;
  }
  bool GetBytes(size_t n, std::span<const uint8_t>* out) {
    if (bytes_.size() - pos_ < n) return false;
    *out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Reads FAISS's serialisation from a span without copying it.
struct SpanIOReader : faiss::IOReader {
  explicit SpanIOReader(std::span<const uint8_t> b) : bytes(b) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    size_t available = (bytes.size() - pos) / size;
    size_t n = std::min(nitems, available);
    std::memcpy(ptr, bytes.data() + pos, n * size);
    pos += n * size;
    return n;
  }
  std::span<const uint8_t> bytes;
  size_t pos = 0;
};

// Sets this thread's OpenMP team size (an OpenMP per-thread setting) for a scope.
class OmpThreadsOnThisThread {
 public:
  explicit OmpThreadsOnThisThread(int threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~OmpThreadsOnThisThread() { omp_set_num_threads(saved_); }
  OmpThreadsOnThisThread(const OmpThreadsOnThisThread&) = delete;
  OmpThreadsOnThisThread& operator=(const OmpThreadsOnThisThread&) = delete;

 private:
  int saved_;
};

// --- selectors ----------------------------------------------------------------------------------

// Over FAISS slots (flat, HNSW, IVF buffer): excludes tombstones and ids `allow` rejects.
class SlotSelector : public faiss::IDSelector {
 public:
  SlotSelector(const std::vector<int64_t>& slot_ids, const std::vector<uint8_t>* dead,
               const std::function<bool(int64_t)>* allow)
      : slot_ids_(slot_ids), dead_(dead), allow_(allow) {}
  bool is_member(idx_t slot) const override {
    if (dead_ != nullptr && (*dead_)[slot]) return false;
    return allow_ == nullptr || (*allow_)(slot_ids_[slot]);
  }

 private:
  const std::vector<int64_t>& slot_ids_;
  const std::vector<uint8_t>* dead_;
  const std::function<bool(int64_t)>* allow_;
};

// Over ids as FAISS stores them (trained IVF-PQ).
class AllowSelector : public faiss::IDSelector {
 public:
  explicit AllowSelector(const std::function<bool(int64_t)>* allow) : allow_(allow) {}
  bool is_member(idx_t id) const override { return (*allow_)(id); }

 private:
  const std::function<bool(int64_t)>* allow_;
};

// --- atomic file writing ----------------------------------------------------------------------

Status WriteAll(int fd, std::span<const uint8_t> bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("vector index: cannot write '" + path + "'", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status FsyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("vector index: cannot open directory '" + dir + "'", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("vector index: cannot fsync directory '" + dir + "'", err);
  return Status::OK();
}

// <path>.tmp, fsync, rename over path, fsync the directory. Removes the .tmp on failure.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> header,
                           std::span<const uint8_t> payload) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("vector index: cannot create '" + tmp + "'", errno);
  Status s = WriteAll(fd, header, tmp);
  if (s.ok()) s = WriteAll(fd, payload, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("vector index: cannot fsync '" + tmp + "'", errno);
  if (::close(fd) != 0 && s.ok()) {
    s = ErrnoStatus("vector index: cannot close '" + tmp + "'", errno);
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("vector index: cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDirectoryOf(path);
}

Result<std::vector<uint8_t>> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("vector index: cannot open '" + path + "'", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("vector index: cannot stat '" + path + "'", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("vector index: '" + path + "' is not a regular file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus("vector index: cannot read '" + path + "'", err);
    }
    if (n == 0) break;  // shrank while reading: the checks below report a torn file
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

Status ValidateOptions(int dim, const VectorIndexOptions& o) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("vector index: " + what);
  };
  if (dim < 1) return bad("dim must be >= 1, got " + std::to_string(dim));
  switch (o.kind) {
    case IndexKind::kAuto:
    case IndexKind::kFlat:
    case IndexKind::kHnsw:
    case IndexKind::kIvfPq:
      break;
    default:
      return bad("unknown kind " + std::to_string(static_cast<int>(o.kind)));
  }
  if (o.hnsw_threshold < 1) {
    return bad("hnsw_threshold must be >= 1, got " + std::to_string(o.hnsw_threshold));
  }
  if (o.hnsw_m < 2) return bad("hnsw_m must be >= 2, got " + std::to_string(o.hnsw_m));
  if (o.hnsw_ef_construction < 1) {
    return bad("hnsw_ef_construction must be >= 1, got " +
               std::to_string(o.hnsw_ef_construction));
  }
  if (o.hnsw_ef_search < 1) {
    return bad("hnsw_ef_search must be >= 1, got " + std::to_string(o.hnsw_ef_search));
  }
  if (o.ivf_nlist < 0) return bad("ivf_nlist must be >= 0, got " + std::to_string(o.ivf_nlist));
  if (o.ivf_nprobe < 1) {
    return bad("ivf_nprobe must be >= 1, got " + std::to_string(o.ivf_nprobe));
  }
  if (o.pq_m < 1) return bad("pq_m must be >= 1, got " + std::to_string(o.pq_m));
  if (o.kind == IndexKind::kIvfPq && dim % o.pq_m != 0) {
    return bad("dim " + std::to_string(dim) + " is not divisible by pq_m " +
               std::to_string(o.pq_m));
  }
  return Status::OK();
}

// --- the implementation -------------------------------------------------------------------------

class FaissVectorIndex final : public VectorIndex {
 public:
  FaissVectorIndex(int dim, const VectorIndexOptions& options) : dim_(dim), options_(options) {}

  // Sets up the empty structures for options_.kind.
  Status Init();
  // Load's second half: installs a deserialised FAISS index and the id tables.
  Status Restore(IndexKind concrete, bool trained, std::unique_ptr<faiss::Index> index,
                 std::vector<int64_t> slot_ids, const std::vector<int64_t>& tombstones);

  using VectorIndex::Save;
  Status Save(const std::string& path, uint64_t sequence, std::string_view owner) const override;
  Status Add(std::span<const int64_t> ids, std::span<const float> vectors) override;
  Status Remove(std::span<const int64_t> ids) override;
  Result<std::vector<VectorHit>> Search(
      std::span<const float> query, int k,
      const std::function<bool(int64_t)>* allow) const override;
  bool Contains(int64_t id) const override;
  int64_t size() const override;
  int dim() const override { return dim_; }
  IndexKind kind() const override;
  size_t memory_bytes() const override;
  Status SetHnswEfSearch(int ef_search) override;

 private:
  Status AddToSlots(faiss::Index* index, std::span<const int64_t> ids,
                    std::span<const float> vectors) EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ConvertToHnsw() EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RebuildHnsw() EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status TrainIvf() EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t TrainingThreshold() const;
  std::unique_ptr<faiss::IndexHNSWFlat> NewHnsw() const;
  void ReindexSlots() EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const faiss::Index* CurrentIndex() const;

  Status SearchFlat(const faiss::Index& index, const float* query, idx_t k,
                    const faiss::IDSelector* sel, std::vector<VectorHit>* hits) const;
  Status SearchHnsw(const float* query, idx_t k, const std::function<bool(int64_t)>* allow,
                    std::vector<VectorHit>* hits) const;
  Status SearchIvf(const float* query, idx_t k, const std::function<bool(int64_t)>* allow,
                   std::vector<VectorHit>* hits) const;
  // FAISS labels (slots, or ids when `labels_are_ids`) to hits; drops the -1 padding.
  void CollectHits(const std::vector<float>& scores, const std::vector<idx_t>& labels,
                   bool labels_are_ids, std::vector<VectorHit>* hits) const;

  const int dim_;
  // Constant but for hnsw_ef_search, which SetHnswEfSearch changes under the writer lock.
  VectorIndexOptions options_;

  // glibc's rwlock prefers readers, so a steady stream of searches would starve Add forever.
  // Both sides pass through gate_ first, and a writer keeps it while it waits for the readers
  // inside to leave, so new searches queue behind a waiting writer.
  std::shared_lock<std::shared_mutex> ReaderLock() const {
    std::lock_guard gate(gate_);
    return std::shared_lock(mu_);
  }
  std::unique_lock<std::shared_mutex> WriterLock() const {
    std::lock_guard gate(gate_);
    return std::unique_lock(mu_);
  }

  mutable std::mutex gate_;
  mutable std::shared_mutex mu_;
  IndexKind kind_ GUARDED_BY(mu_) = IndexKind::kFlat;  // concrete: kFlat, kHnsw or kIvfPq
  // kFlat, and kIvfPq until trained (the training buffer).
  std::unique_ptr<faiss::IndexFlat> flat_ GUARDED_BY(mu_);
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw_ GUARDED_BY(mu_);
  // Trained kIvfPq. The quantizer is declared first so that it outlives ivf_, which borrows it
  // (own_fields = false).
  std::unique_ptr<faiss::IndexFlat> ivf_quantizer_ GUARDED_BY(mu_);
  std::unique_ptr<faiss::IndexIVFPQ> ivf_ GUARDED_BY(mu_);
  // FAISS slot -> id, for flat_ and hnsw_ (empty for a trained ivf_, which stores ids).
  std::vector<int64_t> slot_ids_ GUARDED_BY(mu_);
  // hnsw_ only: 1 for a removed slot; dead_count_ of them.
  std::vector<uint8_t> dead_ GUARDED_BY(mu_);
  int64_t dead_count_ GUARDED_BY(mu_) = 0;
  // Live id -> slot (-1 for a trained ivf_).
  std::unordered_map<int64_t, int64_t> slots_ GUARDED_BY(mu_);
};

Status FaissVectorIndex::Init() {
  std::unique_lock lock = WriterLock();
  return CallFaiss("creating the index", [&] {
    switch (options_.kind) {
      case IndexKind::kAuto:
      case IndexKind::kFlat:
        kind_ = IndexKind::kFlat;
        flat_ = std::make_unique<internal::SimdFlatIP>(dim_);
        break;
      case IndexKind::kHnsw:
        kind_ = IndexKind::kHnsw;
        hnsw_ = NewHnsw();
        break;
      case IndexKind::kIvfPq:
        kind_ = IndexKind::kIvfPq;
        flat_ = std::make_unique<internal::SimdFlatIP>(dim_);
        break;
    }
  });
}

// Replaces an HNSW index's flat storage by a SimdFlatIP holding the same vectors (see
// internal/simd_flat_ip.h for why). The HNSW owns its storage (own_fields).
void UseSimdStorage(faiss::IndexHNSW* hnsw) {
  std::unique_ptr<internal::SimdFlatIP> storage =
      internal::AdoptFlatIP(dynamic_cast<faiss::IndexFlat*>(hnsw->storage));
  if (storage == nullptr) return;  // not a flat IP storage: keep FAISS's
  if (hnsw->own_fields) delete hnsw->storage;
  hnsw->storage = storage.release();
  hnsw->own_fields = true;
}

std::unique_ptr<faiss::IndexHNSWFlat> FaissVectorIndex::NewHnsw() const {
  auto index = std::make_unique<faiss::IndexHNSWFlat>(dim_, options_.hnsw_m,
                                                      faiss::METRIC_INNER_PRODUCT);
  index->hnsw.efConstruction = options_.hnsw_ef_construction;
  index->hnsw.efSearch = options_.hnsw_ef_search;
  UseSimdStorage(index.get());
  return index;
}

Status FaissVectorIndex::SetHnswEfSearch(int ef_search) {
  if (ef_search < 1) return Status::InvalidArgument("vector index: efSearch must be >= 1");
  std::unique_lock lock = WriterLock();
  options_.hnsw_ef_search = ef_search;
  if (hnsw_) hnsw_->hnsw.efSearch = ef_search;
  return Status::OK();
}

const faiss::Index* FaissVectorIndex::CurrentIndex() const {
  if (ivf_) return ivf_.get();
  if (hnsw_) return hnsw_.get();
  return flat_.get();
}

void FaissVectorIndex::ReindexSlots() {
  slots_.clear();
  slots_.reserve(slot_ids_.size());
  for (size_t i = 0; i < slot_ids_.size(); ++i) {
    if (dead_.empty() || !dead_[i]) slots_.emplace(slot_ids_[i], static_cast<int64_t>(i));
  }
}

Status FaissVectorIndex::AddToSlots(faiss::Index* index, std::span<const int64_t> ids,
                                    std::span<const float> vectors) {
  const idx_t before = index->ntotal;
  Status s = CallFaiss("adding vectors", [&] {
    index->add(static_cast<idx_t>(ids.size()), vectors.data());
  });
  // Record whatever FAISS stored, even after a failure, so that slots and ids stay in step.
  const idx_t stored = std::clamp<idx_t>(index->ntotal - before, 0, ids.size());
  for (idx_t i = 0; i < stored; ++i) {
    slots_.emplace(ids[i], static_cast<int64_t>(slot_ids_.size()));
    slot_ids_.push_back(ids[i]);
    if (hnsw_ && index == hnsw_.get()) dead_.push_back(0);
  }
  return s;
}

Status FaissVectorIndex::Add(std::span<const int64_t> ids, std::span<const float> vectors) {
  if (vectors.size() != ids.size() * static_cast<size_t>(dim_)) {
    return Status::InvalidArgument("vector index: Add got " + std::to_string(vectors.size()) +
                                   " floats for " + std::to_string(ids.size()) +
                                   " ids of dim " + std::to_string(dim_));
  }
  for (float v : vectors) {
    if (!std::isfinite(v)) {
      return Status::InvalidArgument("vector index: Add got a non-finite vector component");
    }
  }
  std::unique_lock lock = WriterLock();
  std::unordered_set<int64_t> batch;
  batch.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0) {
      return Status::InvalidArgument("vector index: id " + std::to_string(id) +
                                     " is negative");
    }
    if (!batch.insert(id).second) {
      return Status::InvalidArgument("vector index: id " + std::to_string(id) +
                                     " appears twice in one Add");
    }
    if (slots_.contains(id)) {
      return Status::InvalidArgument("vector index: id " + std::to_string(id) +
                                     " is already in the index");
    }
  }
  if (ids.empty()) return Status::OK();

  switch (kind_) {
    case IndexKind::kHnsw:
      return AddToSlots(hnsw_.get(), ids, vectors);
    case IndexKind::kIvfPq:
      if (ivf_) {
        Status s = CallFaiss("adding vectors to IVF-PQ", [&] {
          ivf_->add_with_ids(static_cast<idx_t>(ids.size()), vectors.data(), ids.data());
        });
        // add_with_ids either stores the batch or throws before touching the lists.
        if (s.ok()) {
          for (int64_t id : ids) slots_.emplace(id, -1);
        }
        return s;
      } else {
        Status s = AddToSlots(flat_.get(), ids, vectors);
        if (!s.ok()) return s;
        if (flat_->ntotal >= TrainingThreshold()) return TrainIvf();
        return Status::OK();
      }
    case IndexKind::kFlat:
    default: {
      Status s = AddToSlots(flat_.get(), ids, vectors);
      if (!s.ok()) return s;
      if (options_.kind == IndexKind::kAuto &&
          static_cast<int64_t>(slots_.size()) >= options_.hnsw_threshold) {
        return ConvertToHnsw();
      }
      return Status::OK();
    }
  }
}

Status FaissVectorIndex::ConvertToHnsw() {
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw;
  Status s = CallFaiss("converting to HNSW", [&] {
    hnsw = NewHnsw();
    hnsw->add(flat_->ntotal, flat_->get_xb());
  });
  if (!s.ok()) return s;  // stays flat, with the new vectors; the next Add tries again
  hnsw_ = std::move(hnsw);
  flat_.reset();
  dead_.assign(slot_ids_.size(), 0);
  dead_count_ = 0;
  kind_ = IndexKind::kHnsw;
  return Status::OK();
}

Status FaissVectorIndex::RebuildHnsw() {
  const auto* storage = dynamic_cast<const faiss::IndexFlat*>(hnsw_->storage);
  if (storage == nullptr) return Status::Internal("vector index: HNSW storage is not flat");
  const size_t live = slot_ids_.size() - static_cast<size_t>(dead_count_);
  std::vector<float> vectors;
  std::vector<int64_t> ids;
  vectors.reserve(live * dim_);
  ids.reserve(live);
  const float* xb = storage->get_xb();
  for (size_t slot = 0; slot < slot_ids_.size(); ++slot) {
    if (dead_[slot]) continue;
    vectors.insert(vectors.end(), xb + slot * dim_, xb + (slot + 1) * dim_);
    ids.push_back(slot_ids_[slot]);
  }
  std::unique_ptr<faiss::IndexHNSWFlat> hnsw;
  Status s = CallFaiss("rebuilding HNSW without removed vectors", [&] {
    hnsw = NewHnsw();
    hnsw->add(static_cast<idx_t>(ids.size()), vectors.data());
  });
  if (!s.ok()) return s;  // the old graph with its tombstones stays in place
  hnsw_ = std::move(hnsw);
  slot_ids_ = std::move(ids);
  dead_.assign(slot_ids_.size(), 0);
  dead_count_ = 0;
  ReindexSlots();
  return Status::OK();
}

int64_t FaissVectorIndex::TrainingThreshold() const {
  if (options_.ivf_nlist > 0) {
    return std::max(kTrainingPointsPerCentroid * options_.ivf_nlist, kMinTrainingVectors);
  }
  return kMinTrainingVectors;  // the automatic nlist never asks for more than n / 39 lists
}

Status FaissVectorIndex::TrainIvf() {
  const idx_t n = flat_->ntotal;
  int64_t nlist = options_.ivf_nlist;
  if (nlist == 0) {
    nlist = std::min<int64_t>(std::llround(4.0 * std::sqrt(static_cast<double>(n))),
                              n / kTrainingPointsPerCentroid);
    nlist = std::max<int64_t>(nlist, 1);
  }
  std::unique_ptr<faiss::IndexFlat> quantizer;
  std::unique_ptr<faiss::IndexIVFPQ> ivf;
  Status s = CallFaiss("training IVF-PQ", [&] {
    quantizer = std::make_unique<internal::SimdFlatIP>(dim_);
    ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), dim_, static_cast<size_t>(nlist),
                                              static_cast<size_t>(options_.pq_m), 8,
                                              faiss::METRIC_INNER_PRODUCT);
    ivf->own_fields = false;
    ivf->cp.spherical = true;  // unit-norm data: centroids on the sphere suit inner products
    ivf->train(n, flat_->get_xb());
    ivf->add_with_ids(n, flat_->get_xb(), slot_ids_.data());
  });
  if (!s.ok()) return s;  // stays a buffer; the next Add tries again
  ivf_quantizer_ = std::move(quantizer);
  ivf_ = std::move(ivf);
  flat_.reset();
  slot_ids_.clear();
  slot_ids_.shrink_to_fit();
  for (auto& entry : slots_) entry.second = -1;
  return Status::OK();
}

Status FaissVectorIndex::Remove(std::span<const int64_t> ids) {
  std::unique_lock lock = WriterLock();
  std::vector<idx_t> targets;  // slots, or ids for a trained IVF
  for (int64_t id : ids) {
    auto it = slots_.find(id);
    if (it == slots_.end()) continue;
    targets.push_back(ivf_ ? id : it->second);
    slots_.erase(it);
  }
  if (targets.empty()) return Status::OK();

  if (ivf_) {
    faiss::IDSelectorBatch sel(targets.size(), targets.data());
    return CallFaiss("removing from IVF-PQ", [&] { ivf_->remove_ids(sel); });
  }
  if (hnsw_) {
    for (idx_t slot : targets) {
      if (!dead_[slot]) {
        dead_[slot] = 1;
        ++dead_count_;
      }
    }
    if (static_cast<double>(dead_count_) >
        kTombstoneRebuildFraction * static_cast<double>(slot_ids_.size())) {
      return RebuildHnsw();
    }
    return Status::OK();
  }
  // Flat (or the IVF training buffer): FAISS compacts the storage keeping the order, and so
  // does slot_ids_.
  faiss::IDSelectorBatch sel(targets.size(), targets.data());
  Status s = CallFaiss("removing from the flat index", [&] { flat_->remove_ids(sel); });
  std::vector<uint8_t> removed(slot_ids_.size(), 0);
  for (idx_t slot : targets) removed[slot] = 1;
  size_t j = 0;
  for (size_t i = 0; i < slot_ids_.size(); ++i) {
    if (!removed[i]) slot_ids_[j++] = slot_ids_[i];
  }
  slot_ids_.resize(j);
  if (!s.ok() || static_cast<size_t>(flat_->ntotal) != slot_ids_.size()) {
    // Cannot tell which vectors FAISS kept: an invariant of ours is broken.
    return s.ok() ? Status::Internal("vector index: flat removal left " +
                                     std::to_string(flat_->ntotal) + " vectors for " +
                                     std::to_string(slot_ids_.size()) + " ids")
                  : s;
  }
  ReindexSlots();
  return Status::OK();
}

void FaissVectorIndex::CollectHits(const std::vector<float>& scores,
                                   const std::vector<idx_t>& labels, bool labels_are_ids,
                                   std::vector<VectorHit>* hits) const
    {
  hits->clear();
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    hits->push_back({labels_are_ids ? labels[i] : slot_ids_[labels[i]], scores[i]});
  }
}

Status FaissVectorIndex::SearchFlat(const faiss::Index& index, const float* query, idx_t k,
                                    const faiss::IDSelector* sel,
                                    std::vector<VectorHit>* hits) const {
  std::vector<float> scores(k);
  std::vector<idx_t> labels(k, -1);
  faiss::SearchParameters params;
  params.sel = const_cast<faiss::IDSelector*>(sel);  // FAISS 1.7.3 declares it non-const
  Status s = CallFaiss("flat search", [&] {
    index.search(1, query, k, scores.data(), labels.data(), sel ? &params : nullptr);
  });
  if (!s.ok()) return s;
  CollectHits(scores, labels, /*labels_are_ids=*/false, hits);
  return Status::OK();
}

Status FaissVectorIndex::SearchHnsw(const float* query, idx_t k,
                                    const std::function<bool(int64_t)>* allow,
                                    std::vector<VectorHit>* hits) const {
  SlotSelector sel(slot_ids_, dead_count_ > 0 ? &dead_ : nullptr, allow);
  const bool filtered = allow != nullptr || dead_count_ > 0;
  // FAISS 1.7.3 sizes the candidate queue as max(hnsw.efSearch, k) and ignores
  // SearchParametersHNSW::efSearch there (it only uses it for the stopping test). Asking for
  // `ef` results with params.efSearch = ef is exactly a search at efSearch = ef, without
  // writing the shared index; the top k of them are the answer.
  idx_t ef = std::max<idx_t>(options_.hnsw_ef_search, k);
  for (int attempt = 0; attempt < 2; ++attempt, ef *= kWidenFactor) {
    const idx_t fetch = std::min<idx_t>(ef, hnsw_->ntotal);
    std::vector<float> scores(fetch);
    std::vector<idx_t> labels(fetch, -1);
    faiss::SearchParametersHNSW params;
    params.efSearch = static_cast<int>(fetch);
    params.sel = filtered ? &sel : nullptr;
    Status s = CallFaiss("HNSW search", [&] {
      hnsw_->search(1, query, fetch, scores.data(), labels.data(), &params);
    });
    if (!s.ok()) return s;
    CollectHits(scores, labels, /*labels_are_ids=*/false, hits);
    if (static_cast<idx_t>(hits->size()) >= k) {
      hits->resize(k);
      return Status::OK();
    }
    if (fetch >= hnsw_->ntotal) break;
  }
  // The graph walk ran out of allowed neighbours: scan the stored vectors exactly.
  return SearchFlat(*hnsw_->storage, query, k, filtered ? &sel : nullptr, hits);
}

Status FaissVectorIndex::SearchIvf(const float* query, idx_t k,
                                   const std::function<bool(int64_t)>* allow,
                                   std::vector<VectorHit>* hits) const
    {
  std::unique_ptr<AllowSelector> sel;
  if (allow) sel = std::make_unique<AllowSelector>(allow);
  std::vector<float> scores(k);
  std::vector<idx_t> labels(k);
  const size_t nlist = ivf_->nlist;
  size_t nprobe = std::min<size_t>(options_.ivf_nprobe, nlist);
  while (true) {
    faiss::SearchParametersIVF params;
    params.nprobe = nprobe;
    params.sel = sel.get();
    std::fill(labels.begin(), labels.end(), -1);
    Status s = CallFaiss("IVF-PQ search", [&] {
      ivf_->search(1, query, k, scores.data(), labels.data(), &params);
    });
    if (!s.ok()) return s;
    CollectHits(scores, labels, /*labels_are_ids=*/true, hits);
    if (static_cast<idx_t>(hits->size()) == k || nprobe >= nlist) return Status::OK();
    nprobe = std::min(nprobe * kWidenFactor, nlist);  // all lists together hold every vector
  }
}

Result<std::vector<VectorHit>> FaissVectorIndex::Search(
    std::span<const float> query, int k, const std::function<bool(int64_t)>* allow) const {
  if (query.size() != static_cast<size_t>(dim_)) {
    return Status::InvalidArgument("vector index: query has " + std::to_string(query.size()) +
                                   " floats, the index dim is " + std::to_string(dim_));
  }
  if (k < 0) return Status::InvalidArgument("vector index: k must be >= 0, got " +
                                            std::to_string(k));
  std::shared_lock lock = ReaderLock();
  // FAISS parallelises searches over queries; for one query an OpenMP team only costs (and
  // with several concurrent searchers, oversubscribes the cores). Run on the calling thread.
  OmpThreadsOnThisThread single_thread(1);
  std::vector<VectorHit> hits;
  const idx_t kk = std::min<idx_t>(k, static_cast<idx_t>(slots_.size()));
  if (kk == 0) return hits;
  Status s;
  if (ivf_) {
    s = SearchIvf(query.data(), kk, allow, &hits);
  } else if (hnsw_) {
    s = SearchHnsw(query.data(), kk, allow, &hits);
  } else {
    std::unique_ptr<SlotSelector> sel;
    if (allow) sel = std::make_unique<SlotSelector>(slot_ids_, nullptr, allow);
    s = SearchFlat(*flat_, query.data(), kk, sel.get(), &hits);
  }
  if (!s.ok()) return s;
  return hits;
}

bool FaissVectorIndex::Contains(int64_t id) const {
  std::shared_lock lock = ReaderLock();
  return slots_.contains(id);
}

int64_t FaissVectorIndex::size() const {
  std::shared_lock lock = ReaderLock();
  return static_cast<int64_t>(slots_.size());
}

IndexKind FaissVectorIndex::kind() const {
  std::shared_lock lock = ReaderLock();
  return kind_;
}

size_t FaissVectorIndex::memory_bytes() const {
  std::shared_lock lock = ReaderLock();
  size_t bytes = slot_ids_.capacity() * sizeof(int64_t) + dead_.capacity();
  // An unordered_map node: key, value, next pointer, cached hash; plus a bucket pointer.
  bytes += slots_.size() * (4 * sizeof(int64_t)) + slots_.bucket_count() * sizeof(void*);
  if (flat_) bytes += flat_->codes.capacity();
  if (hnsw_) {
    if (const auto* storage = dynamic_cast<const faiss::IndexFlatCodes*>(hnsw_->storage)) {
      bytes += storage->codes.capacity();
    }
    const faiss::HNSW& g = hnsw_->hnsw;
    bytes += g.neighbors.capacity() * sizeof(faiss::HNSW::storage_idx_t) +
             g.levels.capacity() * sizeof(int) + g.offsets.capacity() * sizeof(size_t);
  }
  if (ivf_) {
    bytes += static_cast<size_t>(ivf_->ntotal) * (ivf_->code_size + sizeof(idx_t));
    bytes += ivf_->pq.centroids.capacity() * sizeof(float);
    if (ivf_quantizer_) bytes += ivf_quantizer_->codes.capacity();
    bytes += ivf_->nlist * 2 * sizeof(std::vector<uint8_t>);  // the lists' own vectors
  }
  return bytes;
}

// --- persistence ---------------------------------------------------------------------------------

Status FaissVectorIndex::Save(const std::string& path, uint64_t sequence,
                              std::string_view owner) const {
  if (owner.size() > kMaxIndexOwnerBytes) {
    return Status::InvalidArgument("vector index: owner of " + std::to_string(owner.size()) +
                                   " bytes is longer than " +
                                   std::to_string(kMaxIndexOwnerBytes) + " (saving '" + path +
                                   "')");
  }
  std::shared_lock lock = ReaderLock();
  Encoder payload;
  payload.Put<uint64_t>(sequence);
  payload.Put<uint16_t>(static_cast<uint16_t>(owner.size()));
  payload.PutBytes({reinterpret_cast<const uint8_t*>(owner.data()), owner.size()});
  payload.Put<int32_t>(dim_);
  payload.Put<uint8_t>(static_cast<uint8_t>(options_.kind));
  payload.Put<uint8_t>(static_cast<uint8_t>(kind_));
  payload.Put<uint8_t>(ivf_ ? 1 : 0);
  payload.Put<uint8_t>(0);
  payload.Put<int64_t>(options_.hnsw_threshold);
  payload.Put<int32_t>(options_.hnsw_m);
  payload.Put<int32_t>(options_.hnsw_ef_construction);
  payload.Put<int32_t>(options_.hnsw_ef_search);
  payload.Put<int32_t>(options_.ivf_nlist);
  payload.Put<int32_t>(options_.pq_m);
  payload.Put<int32_t>(options_.ivf_nprobe);
  payload.Put<uint64_t>(slot_ids_.size());
  for (int64_t id : slot_ids_) payload.Put<int64_t>(id);
  payload.Put<uint64_t>(static_cast<uint64_t>(dead_count_));
  for (size_t slot = 0; slot < dead_.size(); ++slot) {
    if (dead_[slot]) payload.Put<int64_t>(static_cast<int64_t>(slot));
  }
  faiss::VectorIOWriter writer;
  Status s = CallFaiss("serialising the FAISS index",
                       [&] { faiss::write_index(CurrentIndex(), &writer); });
  if (!s.ok()) return s;
  payload.Put<uint64_t>(writer.data.size());
  payload.PutBytes(writer.data);

  Encoder header;
  for (char c : kMagic) header.Put<uint8_t>(static_cast<uint8_t>(c));
  header.Put<uint32_t>(kVersion);
  header.Put<uint32_t>(kHeaderBytes);
  header.Put<uint64_t>(payload.bytes().size());
  header.Put<uint64_t>(Fnv1a64(payload.bytes(), Fnv1a64(header.bytes())));
  return WriteFileAtomically(path, header.bytes(), payload.bytes());
}

Status FaissVectorIndex::Restore(IndexKind concrete, bool trained,
                                 std::unique_ptr<faiss::Index> index,
                                 std::vector<int64_t> slot_ids,
                                 const std::vector<int64_t>& tombstones) {
  std::unique_lock lock = WriterLock();
  auto bad = [](const std::string& what) { return Status::Corruption("vector index: " + what); };
  if (index->d != dim_) {
    return bad("FAISS index has dim " + std::to_string(index->d) + ", the file says " +
               std::to_string(dim_));
  }
  if (index->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return bad("FAISS index does not use the inner product");
  }
  kind_ = concrete;
  if (trained) {
    auto* ivf = dynamic_cast<faiss::IndexIVFPQ*>(index.get());
    if (ivf == nullptr) return bad("a trained ivfpq file does not hold an IVF-PQ index");
    auto* quantizer = dynamic_cast<faiss::IndexFlat*>(ivf->quantizer);
    if (quantizer == nullptr || !ivf->own_fields) {
      return bad("the IVF-PQ index has no flat quantizer");
    }
    if (!slot_ids.empty() || !tombstones.empty()) return bad("trained IVF-PQ with slot ids");
    // Take the quantizer out of FAISS's flag-based ownership.
    ivf->own_fields = false;
    ivf_quantizer_ = internal::AdoptFlatIP(quantizer);
    delete quantizer;
    ivf->quantizer = ivf_quantizer_.get();
    ivf_.reset(ivf);
    index.release();
    const faiss::InvertedLists* lists = ivf_->invlists;
    if (lists == nullptr) return bad("the IVF-PQ index has no inverted lists");
    int64_t total = 0;
    for (size_t l = 0; l < lists->nlist; ++l) {
      const size_t n = lists->list_size(l);
      const idx_t* ids = n > 0 ? lists->get_ids(l) : nullptr;
      for (size_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || !slots_.emplace(ids[i], -1).second) {
          if (n > 0) lists->release_ids(l, ids);
          return bad("IVF-PQ list " + std::to_string(l) + " holds a bad or repeated id " +
                     std::to_string(ids[i]));
        }
      }
      if (n > 0) lists->release_ids(l, ids);
      total += static_cast<int64_t>(n);
    }
    if (total != ivf_->ntotal) return bad("IVF-PQ lists disagree with its vector count");
    return Status::OK();
  }

  if (static_cast<size_t>(index->ntotal) != slot_ids.size()) {
    return bad("FAISS index holds " + std::to_string(index->ntotal) + " vectors, the file has " +
               std::to_string(slot_ids.size()) + " ids");
  }
  if (concrete == IndexKind::kHnsw) {
    auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(index.get());
    if (hnsw == nullptr || dynamic_cast<const faiss::IndexFlat*>(hnsw->storage) == nullptr) {
      return bad("an hnsw file does not hold a flat HNSW index");
    }
    hnsw->hnsw.efSearch = options_.hnsw_ef_search;
    hnsw->hnsw.efConstruction = options_.hnsw_ef_construction;
    UseSimdStorage(hnsw);
    hnsw_.reset(hnsw);
    index.release();
    dead_.assign(slot_ids.size(), 0);
    for (int64_t slot : tombstones) {
      if (slot < 0 || static_cast<size_t>(slot) >= slot_ids.size() || dead_[slot]) {
        return bad("bad tombstone slot " + std::to_string(slot));
      }
      dead_[slot] = 1;
    }
    dead_count_ = static_cast<int64_t>(tombstones.size());
  } else {
    auto* flat = dynamic_cast<faiss::IndexFlat*>(index.get());
    if (flat == nullptr) return bad("a flat file does not hold a flat index");
    if (!tombstones.empty()) return bad("tombstones in a flat index");
    flat_ = internal::AdoptFlatIP(flat);  // `index`, emptied, is freed on return
  }
  slot_ids_ = std::move(slot_ids);
  for (size_t i = 0; i < slot_ids_.size(); ++i) {
    if (!dead_.empty() && dead_[i]) continue;
    if (slot_ids_[i] < 0 || !slots_.emplace(slot_ids_[i], static_cast<int64_t>(i)).second) {
      return bad("bad or repeated id " + std::to_string(slot_ids_[i]));
    }
  }
  return Status::OK();
}

}  // namespace

std::string_view IndexKindName(IndexKind k) {
  switch (k) {
    case IndexKind::kAuto:
      return "auto";
    case IndexKind::kFlat:
      return "flat";
    case IndexKind::kHnsw:
      return "hnsw";
    case IndexKind::kIvfPq:
      return "ivfpq";
  }
  return "?";
}

Result<IndexKind> ParseIndexKind(std::string_view s) {
  for (IndexKind k : {IndexKind::kAuto, IndexKind::kFlat, IndexKind::kHnsw, IndexKind::kIvfPq}) {
    if (s == IndexKindName(k)) return k;
  }
  return Status::InvalidArgument("vector index: unknown index kind '" + std::string(s) +
                                 "' (expected auto, flat, hnsw or ivfpq)");
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(int dim,
                                                         const VectorIndexOptions& options) {
  Status s = ValidateOptions(dim, options);
  if (!s.ok()) return s;
  auto index = std::make_unique<FaissVectorIndex>(dim, options);
  s = index->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<VectorIndex>(std::move(index));
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const std::string& path,
                                                       uint64_t* sequence,
                                                       std::string_view expected_owner) {
  Result<std::vector<uint8_t>> file = ReadWholeFile(path);
  if (!file.ok()) return file.status();
  const std::span<const uint8_t> bytes = *file;
  auto bad = [&path](const std::string& what) {
    return Status::Corruption("vector index: '" + path + "': " + what);
  };

  Decoder header(bytes);
  uint8_t magic[8];
  for (uint8_t& b : magic) {
    if (!header.Get(&b)) return bad("file of " + std::to_string(bytes.size()) +
                                    " bytes is too short for the header");
  }
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return bad("not a vector index file (bad magic)");
  }
  uint32_t version = 0, header_bytes = 0;
  uint64_t payload_bytes = 0, checksum = 0;
  if (!header.Get(&version) || !header.Get(&header_bytes) || !header.Get(&payload_bytes) ||
      !header.Get(&checksum)) {
    return bad("file of " + std::to_string(bytes.size()) + " bytes is too short for the header");
  }
  if (header_bytes != kHeaderBytes || payload_bytes != bytes.size() - kHeaderBytes) {
    return bad("payload is " + std::to_string(bytes.size() - kHeaderBytes) +
               " bytes, the header says " + std::to_string(payload_bytes) +
               " (torn write or damaged header)");
  }
  const std::span<const uint8_t> payload = bytes.subspan(kHeaderBytes);
  if (Fnv1a64(payload, Fnv1a64(bytes.first(kChecksummedHeaderBytes))) != checksum) {
    return bad("checksum mismatch");
  }
  // Later versions keep this header, so their version is trustworthy once the checksum holds.
  if (version > kVersion) {
    return Status::NotSupported("vector index: '" + path + "' has format version " +
                                std::to_string(version) + ", this build reads up to " +
                                std::to_string(kVersion));
  }
  if (version == 0) return bad("format version 0");

  Decoder d(payload);
  uint64_t seq = 0;
  if (!d.Get(&seq)) return bad("payload too short for the sequence");
  std::string owner;  // version 1: none
  if (version >= 2) {
    uint16_t owner_bytes = 0;
    std::span<const uint8_t> owner_span;
    if (!d.Get(&owner_bytes) || owner_bytes > kMaxIndexOwnerBytes ||
        !d.GetBytes(owner_bytes, &owner_span)) {
      return bad("bad owner field");
    }
    owner.assign(owner_span.begin(), owner_span.end());
  }
  if (!expected_owner.empty() && owner != expected_owner) {
    return Status::FailedPrecondition(
        "vector index: '" + path + "' belongs to " +
        (owner.empty() ? std::string("no owner") : "owner '" + owner + "'") + ", not '" +
        std::string(expected_owner) + "' (copied from elsewhere or older); rebuild it");
  }
  int32_t dim = 0;
  uint8_t option_kind = 0, concrete = 0, trained = 0, reserved = 0;
  VectorIndexOptions options;
  int64_t threshold = 0;
  int32_t m = 0, efc = 0, efs = 0, nlist = 0, pq_m = 0, nprobe = 0;
  if (!d.Get(&dim) || !d.Get(&option_kind) || !d.Get(&concrete) ||
      !d.Get(&trained) || !d.Get(&reserved) || !d.Get(&threshold) || !d.Get(&m) ||
      !d.Get(&efc) || !d.Get(&efs) || !d.Get(&nlist) || !d.Get(&pq_m) || !d.Get(&nprobe)) {
    return bad("payload too short for the options");
  }
  if (option_kind > static_cast<uint8_t>(IndexKind::kIvfPq) ||
      concrete > static_cast<uint8_t>(IndexKind::kIvfPq) || trained > 1) {
    return bad("bad kind");
  }
  options.kind = static_cast<IndexKind>(option_kind);
  options.hnsw_threshold = threshold;
  options.hnsw_m = m;
  options.hnsw_ef_construction = efc;
  options.hnsw_ef_search = efs;
  options.ivf_nlist = nlist;
  options.pq_m = pq_m;
  options.ivf_nprobe = nprobe;
  if (Status s = ValidateOptions(dim, options); !s.ok()) {
    return bad("stored options are invalid: " + std::string(s.message()));
  }
  const IndexKind concrete_kind = static_cast<IndexKind>(concrete);
  const bool consistent =
      (options.kind == IndexKind::kAuto &&
       (concrete_kind == IndexKind::kFlat || concrete_kind == IndexKind::kHnsw)) ||
      (options.kind != IndexKind::kAuto && concrete_kind == options.kind);
  if (!consistent || (trained && concrete_kind != IndexKind::kIvfPq)) {
    return bad("kind " + std::string(IndexKindName(concrete_kind)) + " does not fit options kind " +
               std::string(IndexKindName(options.kind)));
  }

  uint64_t slot_count = 0;
  if (!d.Get(&slot_count) || slot_count > d.remaining() / sizeof(int64_t)) {
    return bad("bad slot count");
  }
  std::vector<int64_t> slot_ids(slot_count);
  for (int64_t& id : slot_ids) d.Get(&id);
  uint64_t tombstone_count = 0;
  if (!d.Get(&tombstone_count) || tombstone_count > d.remaining() / sizeof(int64_t)) {
    return bad("bad tombstone count");
  }
  std::vector<int64_t> tombstones(tombstone_count);
  for (int64_t& slot : tombstones) d.Get(&slot);
  uint64_t faiss_bytes = 0;
  std::span<const uint8_t> faiss_payload;
  if (!d.Get(&faiss_bytes) || faiss_bytes != d.remaining() ||
      !d.GetBytes(faiss_bytes, &faiss_payload)) {
    return bad("bad FAISS section length");
  }

  std::unique_ptr<faiss::Index> faiss_index;
  std::string error;
  try {
    SpanIOReader reader(faiss_payload);
    faiss_index.reset(faiss::read_index(&reader));
    if (reader.pos != faiss_payload.size()) error = "trailing bytes after the FAISS index";
  } catch (const faiss::FaissException& e) {
    error = e.what();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!error.empty()) return bad("cannot read the FAISS index: " + error);
  if (!faiss_index) return bad("cannot read the FAISS index");

  auto index = std::make_unique<FaissVectorIndex>(dim, options);
  Status s = index->Restore(concrete_kind, trained != 0, std::move(faiss_index),
                            std::move(slot_ids), tombstones);
  if (!s.ok()) return Status(s.code(), std::string(s.message()) + " (file '" + path + "')");
  if (sequence != nullptr) *sequence = seq;
  return std::unique_ptr<VectorIndex>(std::move(index));
}

}  // namespace engram::retrieval
