#include "inference/paged_kv_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cstring>

#include <sys/mman.h>
#include <filesystem>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <utility>

#include "common/byte_io.h"
#include "common/mmap_file.h"
#include "common/sha256.h"
#include "kernels/half.h"

namespace engram::inference {

// The file format is written and read in the machine's byte order (as the GGUF reader does).
static_assert(std::endian::native == std::endian::little, "kv cache files assume little-endian");

namespace {

// Asks the kernel for 2 MiB pages over the aligned interior of [p, p + bytes). A decode step
// reads one (layer, head)'s rows from every block, 100s of KiB apart: with 4 KiB pages nearly
// every gathered row costs a TLB miss. Advice only: without transparent huge pages it is a no-op.
void AdviseHugePages(const void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (p == nullptr || bytes < 2 * kHuge) return;
  const auto begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}


constexpr int kMaxSequences = 65536;
constexpr int kMaxBlockSize = 1024;
constexpr uint64_t kMaxCacheBytes = uint64_t{1} << 40;  // 1 TiB
constexpr char kMagic[8] = {'E', 'N', 'G', 'R', 'A', 'M', 'K', 'V'};
constexpr uint32_t kFileVersion = 1;
constexpr size_t kDigestBytes = 32;

constexpr float kInf = std::numeric_limits<float>::infinity();

// ceil(a / b) for a >= 0, b > 0, without the overflow of (a + b - 1) / b.
int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// a * b, or false when it does not fit in uint64_t.
bool MulFits(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// The bounds of one (block, layer, head) may be widened by Stores of several positions of the
// same block running on different threads (the header allows concurrent Store for distinct
// positions), so they are updated with compare-and-swap. The common case, a value inside the
// bounds, costs one plain load; a NaN never widens them.
void AtomicMin(float* target, float value) {
  std::atomic_ref<float> ref(*target);
  float current = ref.load(std::memory_order_relaxed);
  while (value < current && !ref.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

void AtomicMax(float* target, float value) {
  std::atomic_ref<float> ref(*target);
  float current = ref.load(std::memory_order_relaxed);
  while (value > current && !ref.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

float ReadElement(const uint8_t* row, TensorType type, int i) {
  if (type == TensorType::kF16) {
    uint16_t h;
    std::memcpy(&h, row + static_cast<size_t>(i) * 2, 2);
    return kernels::Fp16ToFp32(h);
  }
  float f;
  std::memcpy(&f, row + static_cast<size_t>(i) * 4, 4);
  return f;
}

std::string ShapeText(int n_layer, int n_kv_head, int head_dim, TensorType type, int block_size) {
  return std::to_string(n_layer) + " layers x " + std::to_string(n_kv_head) + " KV heads x " +
         std::to_string(head_dim) + " dims, " + std::string(TensorTypeName(type)) + ", blocks of " +
         std::to_string(block_size) + " positions";
}

// ---- file helpers ------------------------------------------------------------------------------


Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("kv cache: cannot write '" + path + "'", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

// Makes the rename of a file into `path` durable.
Status FsyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("kv cache: cannot open directory '" + dir + "'", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("kv cache: cannot fsync directory '" + dir + "'", err);
  return Status::OK();
}

// Reads fixed-size fields from the front of a byte span; `ok` turns false past the end.

}  // namespace

// ---- creation ----------------------------------------------------------------------------------

Result<std::unique_ptr<PagedKvCache>> PagedKvCache::Create(const KvCacheShape& shape,
                                                           const PagedKvCacheOptions& options) {
  if (shape.n_layer <= 0 || shape.n_kv_head <= 0 || shape.head_dim <= 0) {
    return Status::InvalidArgument("kv cache: layers (" + std::to_string(shape.n_layer) +
                                   "), KV heads (" + std::to_string(shape.n_kv_head) +
                                   ") and head size (" + std::to_string(shape.head_dim) +
                                   ") must be positive");
  }
  if (options.block_size < 1 || options.block_size > kMaxBlockSize ||
      !std::has_single_bit(static_cast<unsigned>(options.block_size))) {
    return Status::InvalidArgument("kv cache: block size " + std::to_string(options.block_size) +
                                   " must be a power of two from 1 to " +
                                   std::to_string(kMaxBlockSize) + ", e.g. 16");
  }
  if (options.max_positions <= 0) {
    return Status::InvalidArgument("kv cache: max positions " +
                                   std::to_string(options.max_positions) + " must be positive");
  }
  if (options.type != TensorType::kF16 && options.type != TensorType::kF32) {
    return Status::InvalidArgument(std::string("kv cache: entry type '") +
                                   std::string(TensorTypeName(options.type)) +
                                   "' is not supported; use f16 or f32");
  }

  // Bytes per block, key bounds included, computed so that no product can overflow.
  const uint64_t elem_bytes = options.type == TensorType::kF16 ? 2 : 4;
  const int64_t total_blocks = CeilDiv(options.max_positions, options.block_size);
  uint64_t heads = 0, block_data = 0, block_bounds = 0, per_block = 0, total = 0;
  const bool fits =
      MulFits(static_cast<uint64_t>(shape.n_layer), static_cast<uint64_t>(shape.n_kv_head),
              &heads) &&
      MulFits(heads, 2 * static_cast<uint64_t>(shape.head_dim), &block_bounds) &&
      MulFits(block_bounds, sizeof(float), &block_bounds) &&
      MulFits(heads, 2 * static_cast<uint64_t>(shape.head_dim) * elem_bytes, &block_data) &&
      MulFits(block_data, static_cast<uint64_t>(options.block_size), &block_data) &&
      !__builtin_add_overflow(block_data, block_bounds, &per_block) &&
      MulFits(per_block, static_cast<uint64_t>(total_blocks), &total);
  if (!fits || total > kMaxCacheBytes || total_blocks > std::numeric_limits<int32_t>::max()) {
    return Status::InvalidArgument("kv cache: " + std::to_string(options.max_positions) +
                                   " positions would need more than 1 TiB; use a smaller context");
  }

  std::unique_ptr<PagedKvCache> cache(new PagedKvCache());
  cache->shape_ = shape;
  cache->type_ = options.type;
  cache->block_size_ = options.block_size;
  cache->block_shift_ = std::countr_zero(static_cast<unsigned>(options.block_size));
  cache->total_blocks_ = total_blocks;
  cache->block_bytes_ = static_cast<size_t>(block_data);
  // Deliberately uninitialised: untouched pages cost no memory. A block's bounds are reset when
  // the block is taken from the free list, its rows are written before they are read.
  const size_t bounds_floats =
      static_cast<size_t>(block_bounds / sizeof(float)) * static_cast<size_t>(total_blocks);
  constexpr size_t kPage = 4096;
  const size_t storage_bytes =
      (static_cast<size_t>(block_data * total_blocks) + kPage - 1) / kPage * kPage;
  cache->storage_.reset(static_cast<uint8_t*>(std::aligned_alloc(kPage, storage_bytes)));
  cache->bounds_.reset(new (std::nothrow) float[bounds_floats]);
  AdviseHugePages(cache->storage_.get(), static_cast<size_t>(block_data * total_blocks));
  AdviseHugePages(cache->bounds_.get(), bounds_floats * sizeof(float));
  if (!cache->storage_ || !cache->bounds_) {
    return Status::ResourceExhausted("kv cache: cannot reserve " + std::to_string(total >> 20) +
                                     " MiB for " + std::to_string(options.max_positions) +
                                     " positions; use a smaller context");
  }
  cache->ref_counts_.assign(static_cast<size_t>(total_blocks), 0);
  // Blocks are popped from the back: block 0 is handed out first.
  cache->free_list_.reserve(static_cast<size_t>(total_blocks));
  for (int64_t b = total_blocks - 1; b >= 0; --b) {
    cache->free_list_.push_back(static_cast<int32_t>(b));
  }
  return cache;
}

PagedKvCache::~PagedKvCache() = default;

size_t PagedKvCache::row_bytes() const {
  return static_cast<size_t>(shape_.head_dim) * (type_ == TensorType::kF16 ? 2 : 4);
}

size_t PagedKvCache::bytes_per_position() const {
  return 2 * static_cast<size_t>(shape_.n_layer) * shape_.n_kv_head * row_bytes();
}

size_t PagedKvCache::layer_block_bytes() const { return block_bytes_ / shape_.n_layer; }

size_t PagedKvCache::head_offset(int which, int kv_head) const {
  const size_t index = static_cast<size_t>(which) * shape_.n_kv_head + kv_head;
  return index * static_cast<size_t>(block_size_) * row_bytes();
}

uint8_t* PagedKvCache::LayerBlock(int32_t physical, int layer) const {
  const size_t layer_region = static_cast<size_t>(total_blocks_) * layer_block_bytes();
  return storage_.get() + static_cast<size_t>(layer) * layer_region +
         static_cast<size_t>(physical) * layer_block_bytes();
}

// ---- blocks and bounds -------------------------------------------------------------------------

float* PagedKvCache::Bounds(int32_t physical, int layer, int kv_head) {
  const size_t index =
      (static_cast<size_t>(layer) * total_blocks_ + physical) * shape_.n_kv_head + kv_head;
  return bounds_.get() + index * 2 * shape_.head_dim;
}

const float* PagedKvCache::Bounds(int32_t physical, int layer, int kv_head) const {
  return const_cast<PagedKvCache*>(this)->Bounds(physical, layer, kv_head);
}

void PagedKvCache::ResetBounds(int32_t physical) {
  const int d = shape_.head_dim;
  for (int layer = 0; layer < shape_.n_layer; ++layer) {
    for (int h = 0; h < shape_.n_kv_head; ++h) {
      float* bounds = Bounds(physical, layer, h);
      std::fill(bounds, bounds + d, kInf);
      std::fill(bounds + d, bounds + 2 * d, -kInf);
    }
  }
}

void PagedKvCache::RecomputeBounds(int32_t physical, int64_t rows) {
  ResetBounds(physical);
  const int d = shape_.head_dim;
  for (int layer = 0; layer < shape_.n_layer; ++layer) {
    for (int h = 0; h < shape_.n_kv_head; ++h) {
      float* lo = Bounds(physical, layer, h);
      float* hi = lo + d;
      const uint8_t* keys = LayerBlock(physical, layer) + head_offset(0, h);
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = keys + static_cast<size_t>(r) * row_bytes();
        for (int i = 0; i < d; ++i) {
          const float x = ReadElement(row, type_, i);
          lo[i] = std::min(lo[i], x);
          hi[i] = std::max(hi[i], x);
        }
      }
    }
  }
}

Result<int32_t> PagedKvCache::TakeBlock() {
  if (free_list_.empty()) {
    return Status::ResourceExhausted(
        "kv cache: no free block left; free other sequences or "
        "use a larger max_positions");
  }
  const int32_t physical = free_list_.back();
  free_list_.pop_back();
  ref_counts_[physical] = 1;
  ResetBounds(physical);
  return physical;
}

void PagedKvCache::Release(int32_t physical) {
  assert(ref_counts_[physical] > 0);
  if (--ref_counts_[physical] == 0) free_list_.push_back(physical);
}

// ---- sequences ---------------------------------------------------------------------------------

Result<SequenceId> PagedKvCache::NewSequence() {
  Sequence fresh;
  fresh.live = true;
  for (size_t i = 0; i < sequences_.size(); ++i) {
    if (!sequences_[i].live) {
      sequences_[i] = std::move(fresh);
      return static_cast<SequenceId>(i);
    }
  }
  if (sequences_.size() >= kMaxSequences) {
    return Status::ResourceExhausted("kv cache: " + std::to_string(kMaxSequences) +
                                     " sequences are live; free some before starting another");
  }
  sequences_.push_back(std::move(fresh));
  return static_cast<SequenceId>(sequences_.size() - 1);
}

bool PagedKvCache::Has(SequenceId seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < sequences_.size() && sequences_[seq].live;
}

int64_t PagedKvCache::length(SequenceId seq) const { return Has(seq) ? sequences_[seq].length : 0; }

Result<SequenceId> PagedKvCache::Fork(SequenceId parent, int64_t length) {
  if (!Has(parent)) {
    return Status::InvalidArgument("kv cache: cannot fork unknown sequence " +
                                   std::to_string(parent));
  }
  if (length < 0 || length > sequences_[parent].length) {
    return Status::InvalidArgument("kv cache: cannot fork " + std::to_string(length) +
                                   " positions of sequence " + std::to_string(parent) +
                                   ", which has " + std::to_string(sequences_[parent].length));
  }
  Result<SequenceId> child = NewSequence();  // may grow sequences_: index it only after this
  if (!child.ok()) return child.status();
  Sequence& p = sequences_[parent];
  Sequence& c = sequences_[*child];
  const int64_t shared = CeilDiv(length, block_size_);
  c.blocks.assign(p.blocks.begin(), p.blocks.begin() + shared);
  for (int32_t physical : c.blocks) ++ref_counts_[physical];
  c.length = length;
  c.reserved = length;  // its first Reserve copies the shared block it writes into
  c.discarded.assign(p.discarded.begin(),
                     p.discarded.begin() + std::min<int64_t>(shared, p.discarded.size()));
  // The parent may have reserved positions in its last, partly committed block, which is now
  // shared: storing there would change what the child sees (its key bounds). Withdraw them, so
  // that the parent's next Reserve copies that block first.
  const int64_t tail = p.length >> block_shift_;
  if (p.reserved > p.length && tail < static_cast<int64_t>(p.blocks.size()) &&
      ref_counts_[p.blocks[tail]] > 1) {
    p.reserved = p.length;
  }
  return child;
}

void PagedKvCache::Free(SequenceId seq) {
  if (!Has(seq)) return;
  for (int32_t physical : sequences_[seq].blocks) Release(physical);
  sequences_[seq] = Sequence{};
}

Status PagedKvCache::Reserve(SequenceId seq, int64_t positions, std::vector<BlockCopy>* copies) {
  if (!Has(seq)) {
    return Status::InvalidArgument("kv cache: cannot reserve positions for unknown sequence " +
                                   std::to_string(seq));
  }
  Sequence& s = sequences_[seq];
  if (positions <= s.reserved) return Status::OK();
  // Invariant: every block holding positions in [length, reserved) belongs to this sequence
  // alone. Blocks holding positions in [length, positions) that are shared get copied; blocks
  // past the end are new.
  const int64_t needed = CeilDiv(positions, block_size_);
  const int64_t held = static_cast<int64_t>(s.blocks.size());
  const int64_t first_written = s.length >> block_shift_;
  int64_t shared = 0;
  for (int64_t b = first_written; b < std::min(needed, held); ++b) {
    if (ref_counts_[s.blocks[b]] > 1) ++shared;
  }
  const int64_t more = std::max<int64_t>(needed - held, 0) + shared;
  if (more > free_blocks()) {
    return Status::ResourceExhausted("kv cache: " + std::to_string(more) + " more blocks of " +
                                     std::to_string(block_size_) + " positions needed for " +
                                     std::to_string(positions) + " positions of sequence " +
                                     std::to_string(seq) + ", " + std::to_string(free_blocks()) +
                                     " free; free other sequences or use a larger max_positions");
  }
  for (int64_t b = first_written; b < std::min(needed, held); ++b) {
    const int32_t old = s.blocks[b];
    if (ref_counts_[old] <= 1) continue;
    const int32_t copy = *TakeBlock();  // cannot fail: counted above
    for (int layer = 0; layer < shape_.n_layer; ++layer) {
      std::memcpy(LayerBlock(copy, layer), LayerBlock(old, layer), layer_block_bytes());
    }
    // The other holders may have written rows past this sequence's end: bounds come from this
    // sequence's own rows, not from the shared block's.
    RecomputeBounds(copy, std::clamp<int64_t>(s.length - (b << block_shift_), 0, block_size_));
    Release(old);
    s.blocks[b] = copy;
    if (copies != nullptr) copies->push_back({old, copy});
  }
  while (static_cast<int64_t>(s.blocks.size()) < needed) s.blocks.push_back(*TakeBlock());
  s.reserved = positions;
  return Status::OK();
}

std::span<const int32_t> PagedKvCache::BlockTable(SequenceId seq) const {
  assert(Has(seq));
  return sequences_[seq].blocks;
}

void PagedKvCache::RefreshBounds(SequenceId seq) {
  assert(Has(seq));
  const Sequence& s = sequences_[seq];
  for (size_t b = 0; b < s.blocks.size(); ++b) {
    const int64_t rows = s.length - (static_cast<int64_t>(b) << block_shift_);
    RecomputeBounds(s.blocks[b], std::clamp<int64_t>(rows, 0, block_size_));
  }
}

void PagedKvCache::Store(SequenceId seq, int layer, int64_t pos, const float* k, const float* v) {
  assert(Has(seq));
  const Sequence& s = sequences_[seq];
  assert(pos >= 0 && pos < s.reserved);
  const int32_t physical = s.blocks[pos >> block_shift_];
  assert(ref_counts_[physical] == 1);  // Reserve made it private
  const int d = shape_.head_dim;
  const size_t in_block = static_cast<size_t>(pos & (block_size_ - 1));
  uint8_t* block = LayerBlock(physical, layer);
  for (int h = 0; h < shape_.n_kv_head; ++h) {
    const float* key = k + static_cast<size_t>(h) * d;
    const float* value = v + static_cast<size_t>(h) * d;
    uint8_t* key_row = block + head_offset(0, h) + in_block * row_bytes();
    uint8_t* value_row = block + head_offset(1, h) + in_block * row_bytes();
    float* lo = Bounds(physical, layer, h);
    float* hi = lo + d;
    if (type_ == TensorType::kF16) {
      auto* key_out = reinterpret_cast<uint16_t*>(key_row);
      auto* value_out = reinterpret_cast<uint16_t*>(value_row);
      for (int i = 0; i < d; ++i) {
        key_out[i] = kernels::Fp32ToFp16(key[i]);
        value_out[i] = kernels::Fp32ToFp16(value[i]);
        // Bounds of the key as attention will read it, i.e. after rounding.
        const float stored = kernels::Fp16ToFp32(key_out[i]);
        AtomicMin(&lo[i], stored);
        AtomicMax(&hi[i], stored);
      }
    } else {
      std::memcpy(key_row, key, d * sizeof(float));
      std::memcpy(value_row, value, d * sizeof(float));
      for (int i = 0; i < d; ++i) {
        AtomicMin(&lo[i], key[i]);
        AtomicMax(&hi[i], key[i]);
      }
    }
  }
}

void PagedKvCache::Commit(SequenceId seq, int64_t length) {
  assert(Has(seq));
  Sequence& s = sequences_[seq];
  if (length < s.length) {
    Truncate(seq, length);
    return;
  }
  assert(length <= s.reserved);
  s.length = std::min(length, s.reserved);
}

void PagedKvCache::Truncate(SequenceId seq, int64_t length) {
  if (!Has(seq)) return;
  Sequence& s = sequences_[seq];
  if (length >= s.length) return;  // never grows
  length = std::max<int64_t>(length, 0);
  s.length = length;
  const int64_t keep = CeilDiv(length, block_size_);
  while (static_cast<int64_t>(s.blocks.size()) > keep) {
    Release(s.blocks.back());
    s.blocks.pop_back();
  }
  s.reserved = std::min<int64_t>(s.reserved, keep << block_shift_);
  if (static_cast<int64_t>(s.discarded.size()) > keep) s.discarded.resize(keep);
  if (keep == 0) return;
  const int64_t rows = length - ((keep - 1) << block_shift_);  // rows left in the last block
  if (rows == block_size_) return;
  const int32_t last = s.blocks.back();
  if (ref_counts_[last] == 1) {
    RecomputeBounds(last, rows);
  } else {
    // Shared with another sequence that may still use the dropped rows: the block's bounds stay
    // a superset of this sequence's rows, which is still a valid upper bound for Quest. Its
    // positions past the new end are not writable until Reserve copies the block (and then
    // recomputes exact bounds).
    s.reserved = length;
  }
}

void PagedKvCache::DiscardRows(SequenceId seq, std::span<const int> layers, int64_t begin,
                               int64_t end) {
  if (!Has(seq)) return;
  Sequence& s = sequences_[seq];
  const int64_t first = CeilDiv(std::max<int64_t>(begin, 0), block_size_);  // whole blocks only
  const int64_t last = std::min<int64_t>(end >> block_shift_,
                                         static_cast<int64_t>(s.blocks.size()));
  if (first >= last) return;
  if (static_cast<int64_t>(s.discarded.size()) < last) s.discarded.resize(last, 0);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (int64_t b = first; b < last; ++b) {
    const int32_t physical = s.blocks[b];
    if (s.discarded[b] || ref_counts_[physical] != 1) continue;  // shared: others read it
    for (int layer : layers) {
      // The page-aligned interior of the layer's part of the block.
      const auto start = reinterpret_cast<uintptr_t>(LayerBlock(physical, layer));
      const uintptr_t lo = (start + page - 1) & ~(page - 1);
      const uintptr_t hi = (start + layer_block_bytes()) & ~(page - 1);
      if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }
    s.discarded[b] = 1;
  }
}

bool PagedKvCache::RowsIntact(SequenceId seq, int64_t begin, int64_t end) const {
  if (!Has(seq) || end <= begin) return true;
  const Sequence& s = sequences_[seq];
  const int64_t first = std::max<int64_t>(begin, 0) >> block_shift_;
  const int64_t last = std::min<int64_t>(CeilDiv(end, block_size_),
                                         static_cast<int64_t>(s.discarded.size()));
  for (int64_t b = first; b < last; ++b) {
    if (s.discarded[b]) return false;
  }
  return true;
}

int64_t PagedKvCache::DiscardedPositions(SequenceId seq) const {
  if (!Has(seq)) return 0;
  const std::vector<uint8_t>& d = sequences_[seq].discarded;
  return static_cast<int64_t>(std::count(d.begin(), d.end(), uint8_t{1})) << block_shift_;
}

kernels::KvRows PagedKvCache::Rows(SequenceId seq, int layer, int kv_head, int which) const {
  assert(Has(seq));
  kernels::KvRows rows;
  rows.data = LayerBlock(0, layer) + head_offset(which, kv_head);
  rows.row_stride = row_bytes();
  rows.type = type_;
  rows.blocks = sequences_[seq].blocks.data();
  rows.block_stride = layer_block_bytes();
  rows.block_shift = block_shift_;
  return rows;
}

kernels::KvRows PagedKvCache::Keys(SequenceId seq, int layer, int kv_head) const {
  return Rows(seq, layer, kv_head, 0);
}

kernels::KvRows PagedKvCache::Values(SequenceId seq, int layer, int kv_head) const {
  return Rows(seq, layer, kv_head, 1);
}

const float* PagedKvCache::KeyMin(SequenceId seq, int layer, int kv_head, int64_t block) const {
  assert(Has(seq) && block >= 0 && block < static_cast<int64_t>(sequences_[seq].blocks.size()));
  return Bounds(sequences_[seq].blocks[block], layer, kv_head);
}

const float* PagedKvCache::KeyMax(SequenceId seq, int layer, int kv_head, int64_t block) const {
  return KeyMin(seq, layer, kv_head, block) + shape_.head_dim;
}

// ---- files -------------------------------------------------------------------------------------
//
// "ENGRAMKV", u32 version, u32 fingerprint size, fingerprint, i32 n_layer, n_kv_head, head_dim,
// u32 type, i32 block_size, i64 length; then for each of the ceil(length / block_size) blocks
// its bytes (block_bytes(); rows past the length zeroed) and its key bounds (floats); then the
// SHA-256 of everything before it.

Status PagedKvCache::Save(SequenceId seq, const std::string& path,
                          std::string_view model_fingerprint, Sha256::Digest* file_digest) const {
  if (!Has(seq)) {
    return Status::InvalidArgument("kv cache: cannot save unknown sequence " + std::to_string(seq) +
                                   " to '" + path + "'");
  }
  const Sequence& s = sequences_[seq];
  std::string header(kMagic, sizeof(kMagic));
  AppendPod<uint32_t>(&header, kFileVersion);
  AppendPod<uint32_t>(&header, static_cast<uint32_t>(model_fingerprint.size()));
  header.append(model_fingerprint);
  AppendPod<int32_t>(&header, shape_.n_layer);
  AppendPod<int32_t>(&header, shape_.n_kv_head);
  AppendPod<int32_t>(&header, shape_.head_dim);
  AppendPod<uint32_t>(&header, static_cast<uint32_t>(type_));
  AppendPod<int32_t>(&header, block_size_);
  AppendPod<int64_t>(&header, s.length);

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("kv cache: cannot create '" + tmp + "'", errno);
  Sha256 hash;
  hash.Update(header);
  Status status = WriteAll(fd, header.data(), header.size(), tmp);

  const size_t bounds_bytes =
      static_cast<size_t>(shape_.n_layer) * shape_.n_kv_head * 2 * shape_.head_dim * sizeof(float);
  std::vector<uint8_t> block(block_bytes_);
  const size_t layer_bounds_bytes = bounds_bytes / shape_.n_layer;
  std::vector<uint8_t> bounds(bounds_bytes);
  const int64_t n_blocks = CeilDiv(s.length, block_size_);
  for (int64_t b = 0; b < n_blocks && status.ok(); ++b) {
    const int32_t physical = s.blocks[b];
    // The file holds a block whole, layer after layer (the pool keeps each layer's blocks
    // together instead).
    for (int layer = 0; layer < shape_.n_layer; ++layer) {
      std::memcpy(block.data() + layer * layer_block_bytes(), LayerBlock(physical, layer),
                  layer_block_bytes());
    }
    // Rows past the end were never written (or belong to another sequence): zero them, so the
    // file holds no stale memory and the same sequence always saves the same bytes.
    const int64_t rows = std::min<int64_t>(s.length - (b << block_shift_), block_size_);
    if (rows < block_size_) {
      const size_t used = static_cast<size_t>(rows) * row_bytes();
      const size_t run = static_cast<size_t>(block_size_) * row_bytes();
      for (size_t offset = 0; offset < block_bytes_; offset += run) {
        std::memset(block.data() + offset + used, 0, run - used);
      }
    }
    for (int layer = 0; layer < shape_.n_layer; ++layer) {
      std::memcpy(bounds.data() + layer * layer_bounds_bytes, Bounds(physical, layer, 0),
                  layer_bounds_bytes);
    }
    hash.Update(block);
    hash.Update(bounds);
    status = WriteAll(fd, block.data(), block.size(), tmp);
    if (status.ok()) status = WriteAll(fd, bounds.data(), bounds_bytes, tmp);
  }
  if (status.ok()) {
    const Sha256::Digest digest = hash.Finish();
    status = WriteAll(fd, digest.data(), digest.size(), tmp);
    if (file_digest != nullptr) *file_digest = digest;
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoStatus("kv cache: cannot fsync '" + tmp + "'", errno);
  }
  if (::close(fd) != 0 && status.ok()) {
    status = ErrnoStatus("kv cache: cannot close '" + tmp + "'", errno);
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus("kv cache: cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return FsyncDirectoryOf(path);
}

Result<SequenceId> PagedKvCache::Load(const std::string& path, std::string_view model_fingerprint,
                                      Sha256::Digest* file_digest) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(st)) {
    return Status::NotFound("kv cache: file '" + path + "' does not exist");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return Status::InvalidArgument("kv cache: '" + path + "' is not a regular file");
  }
  if (std::filesystem::file_size(path, ec) == 0) {
    return Status::Corruption("kv cache: file '" + path +
                              "' is empty; it is not an engram kv "
                              "cache file or its writing was cut short");
  }
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  if (!file.ok()) return file.status().WithContext("kv cache: cannot read '" + path + "'");
  const std::span<const uint8_t> bytes = (*file)->bytes();

  ByteReader in(bytes);
  const std::string_view magic = in.Text(sizeof(kMagic));
  if (!in.ok() || magic != std::string_view(kMagic, sizeof(kMagic))) {
    return Status::Corruption("kv cache: '" + path + "' is not an engram kv cache file");
  }
  const uint32_t version = in.Get<uint32_t>();
  if (in.ok() && version != kFileVersion) {
    return Status::NotSupported("kv cache: file '" + path + "' has format version " +
                                std::to_string(version) + "; this engram reads version " +
                                std::to_string(kFileVersion) + "; save the cache again");
  }
  const std::string_view fingerprint = in.Text(in.Get<uint32_t>());
  const int32_t n_layer = in.Get<int32_t>();
  const int32_t n_kv_head = in.Get<int32_t>();
  const int32_t head_dim = in.Get<int32_t>();
  const auto type = static_cast<TensorType>(in.Get<uint32_t>());
  const int32_t block_size = in.Get<int32_t>();
  const int64_t length = in.Get<int64_t>();
  if (!in.ok()) {
    return Status::Corruption("kv cache: file '" + path + "' is truncated: its header ends after " +
                              std::to_string(bytes.size()) + " bytes");
  }
  if (fingerprint != model_fingerprint) {
    return Status::InvalidArgument("kv cache: file '" + path + "' was made for model '" +
                                   std::string(fingerprint) + "', this is model '" +
                                   std::string(model_fingerprint) + "'");
  }
  if (n_layer != shape_.n_layer || n_kv_head != shape_.n_kv_head || head_dim != shape_.head_dim ||
      type != type_ || block_size != block_size_) {
    return Status::InvalidArgument(
        "kv cache: file '" + path + "' was made for " +
        ShapeText(n_layer, n_kv_head, head_dim, type, block_size) + "; this cache has " +
        ShapeText(shape_.n_layer, shape_.n_kv_head, shape_.head_dim, type_, block_size_));
  }
  if (length < 0) {
    return Status::Corruption("kv cache: file '" + path + "' has a negative length " +
                              std::to_string(length));
  }

  // The shape matches ours, so a block's size is ours; only the length can make the size
  // overflow.
  const size_t bounds_bytes =
      static_cast<size_t>(shape_.n_layer) * shape_.n_kv_head * 2 * shape_.head_dim * sizeof(float);
  const uint64_t per_block = block_bytes_ + bounds_bytes;
  const int64_t n_blocks = CeilDiv(length, block_size_);
  uint64_t expected = 0;
  const bool representable = MulFits(static_cast<uint64_t>(n_blocks), per_block, &expected) &&
                             !__builtin_add_overflow(expected, in.pos() + kDigestBytes, &expected);
  if (!representable || expected != bytes.size()) {
    const bool short_file = !representable || expected > bytes.size();
    return Status::Corruption("kv cache: file '" + path + "' " +
                              (short_file ? "is truncated" : "has trailing bytes") + ": expected " +
                              (representable ? std::to_string(expected) : std::string("more")) +
                              " bytes for " + std::to_string(length) + " positions, found " +
                              std::to_string(bytes.size()));
  }
  const size_t body = bytes.size() - kDigestBytes;
  Sha256 hash;
  hash.Update(bytes.first(body));
  const Sha256::Digest digest = hash.Finish();
  if (std::memcmp(digest.data(), bytes.data() + body, kDigestBytes) != 0) {
    return Status::Corruption("kv cache: file '" + path +
                              "' fails its checksum (checksum mismatch): it is damaged");
  }

  if (n_blocks > free_blocks()) {
    return Status::ResourceExhausted(
        "kv cache: loading '" + path + "' needs " + std::to_string(n_blocks) + " blocks of " +
        std::to_string(block_size_) + " positions, " + std::to_string(free_blocks()) +
        " free; free other sequences or use a larger max_positions");
  }
  Result<SequenceId> seq = NewSequence();
  if (!seq.ok()) return seq.status();
  Sequence& s = sequences_[*seq];
  const uint8_t* src = bytes.data() + in.pos();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int32_t physical = *TakeBlock();  // cannot fail: counted above
    const size_t layer_bounds_bytes = bounds_bytes / shape_.n_layer;
    for (int layer = 0; layer < shape_.n_layer; ++layer) {
      std::memcpy(LayerBlock(physical, layer), src + layer * layer_block_bytes(),
                  layer_block_bytes());
      std::memcpy(Bounds(physical, layer, 0), src + block_bytes_ + layer * layer_bounds_bytes,
                  layer_bounds_bytes);
    }
    src += per_block;
    s.blocks.push_back(physical);
  }
  s.length = length;
  s.reserved = length;
  if (file_digest != nullptr) *file_digest = digest;
  return seq;
}

}  // namespace engram::inference
