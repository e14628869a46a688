// The key/value cache of a model as a pool of fixed-size blocks shared by sequences.
//
//   Result<std::unique_ptr<PagedKvCache>> cache =
//       PagedKvCache::Create(shape, {.block_size = 16, .max_positions = 16384});
//   Result<SequenceId> a = (*cache)->NewSequence();
//   Status s = (*cache)->Reserve(*a, 100);         // room for positions [0, 100)
//   (*cache)->Store(*a, layer, pos, k, v);          // during a forward pass
//   (*cache)->Commit(*a, 100);                      // positions [0, 100) are the sequence
//   Result<SequenceId> b = (*cache)->Fork(*a, 80);  // shares a's first 80 positions
//   kernels::KvRows keys = (*cache)->Keys(*b, layer, kv_head);   // paged rows 0 .. length-1
//
// Layout. A block holds `block_size` positions of every layer and KV head. In memory each
// layer's part of all blocks sits together, [layer][block][k|v][kv_head][position][head_dim]
// (as vLLM keeps one tensor per layer), so the keys of one (layer, head) inside a block are
// contiguous rows, the blocks a decode step reads for one layer are near each other, and
// kernels::KvRows walks a sequence's block table. Memory for the whole pool is reserved up front
// but pages are touched only as blocks are used.
//
// Sharing. Fork gives the new sequence the parent's blocks (reference counted). A write into a
// block that another sequence also holds copies that block first (copy-on-write), so a fork
// never changes what its parent sees, and a shared document prefix is stored once.
//
// Key bounds. For every block and (layer, KV head) the cache keeps the per-channel minimum and
// maximum of the keys stored in it (f32), updated on Store: Quest's page metadata.
//
// Files. Save writes one sequence (its length, keys, values and key bounds) with the model's
// fingerprint and a checksum; Load refuses a file made for another model or shape, a truncated
// or damaged file, with a Status that names the file.
//
// Thread safety: Store for distinct (layer, position) pairs of one sequence may run
// concurrently after Reserve; everything else is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/sha256.h"
#include "kernels/attention.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

struct KvCacheShape {
  int n_layer = 0;
  int n_kv_head = 0;
  int head_dim = 0;
};

struct PagedKvCacheOptions {
  int block_size = 16;            // positions per block: a power of two in [1, 1024]
  int64_t max_positions = 4096;   // pool size in positions, over all sequences (rounded up to
                                  // whole blocks)
  TensorType type = TensorType::kF16;  // kF16 (llama.cpp's default) or kF32
};

using SequenceId = int32_t;

class PagedKvCache {
 public:
  // kInvalidArgument for a non-positive shape or size, a block size that is not a power of two,
  // or another type; kResourceExhausted when the memory cannot be reserved.
  static Result<std::unique_ptr<PagedKvCache>> Create(const KvCacheShape& shape,
                                                      const PagedKvCacheOptions& options);
  ~PagedKvCache();

  const KvCacheShape& shape() const { return shape_; }
  TensorType type() const { return type_; }
  int block_size() const { return block_size_; }
  int64_t total_blocks() const { return total_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_list_.size()); }
  // Bytes one block takes (keys and values of every layer and head).
  size_t block_bytes() const { return block_bytes_; }
  // Bytes one position takes across all layers and heads.
  size_t bytes_per_position() const;

  // An empty sequence. kResourceExhausted past 65,536 live sequences.
  Result<SequenceId> NewSequence();
  // A new sequence whose positions [0, length) are the parent's, sharing its blocks.
  // kInvalidArgument for an unknown parent or length > the parent's length.
  Result<SequenceId> Fork(SequenceId parent, int64_t length);
  // Releases the sequence's blocks (shared blocks stay with their other holders).
  void Free(SequenceId seq);
  bool Has(SequenceId seq) const;

  // Committed positions of the sequence.
  int64_t length(SequenceId seq) const;
  // Makes positions [0, positions) writable: allocates blocks, and copies the blocks holding
  // positions >= length() that are shared (copy-on-write). kResourceExhausted when the pool has
  // too few free blocks (nothing changes then). `copies` (optional) receives each copy as
  // (from, to) physical blocks, for a mirror of the pool elsewhere (a GPU's).
  struct BlockCopy {
    int32_t from = 0;
    int32_t to = 0;
  };
  Status Reserve(SequenceId seq, int64_t positions, std::vector<BlockCopy>* copies = nullptr);
  // The sequence's block table: logical block i lives in physical block BlockTable(seq)[i].
  std::span<const int32_t> BlockTable(SequenceId seq) const;

  // Raw access for a mirror of the pool (a GPU's, which uses the same physical block numbers):
  // `layer`'s part of physical block `physical`, layer_block_bytes() bytes laid out
  // [k|v][kv_head][position][head_dim]. After writing rows through MutableLayerBlock, call
  // RefreshBounds for the sequences that hold them.
  size_t layer_block_bytes() const;
  const uint8_t* LayerBlockData(int32_t physical, int layer) const {
    return LayerBlock(physical, layer);
  }
  uint8_t* MutableLayerBlock(int32_t physical, int layer) { return LayerBlock(physical, layer); }
  // Recomputes the key bounds of the sequence's blocks from its committed rows.
  void RefreshBounds(SequenceId seq);
  // Writes one position of one layer: n_kv_head * head_dim floats each, head after head, and
  // widens the block's key bounds. pos < reserved positions.
  void Store(SequenceId seq, int layer, int64_t pos, const float* k, const float* v);
  // Positions [0, length) become the sequence (length <= reserved positions).
  void Commit(SequenceId seq, int64_t length);
  // Forgets positions >= length; whole blocks past the end return to the pool. Key bounds of
  // the block holding the new end are recomputed from the rows that remain.
  void Truncate(SequenceId seq, int64_t length);

  // Returns to the OS the memory of `layers`' rows in the sequence's whole blocks inside
  // positions [begin, end) (sliding-window layers that never read them again). Blocks shared
  // with another sequence are skipped. The rows read as garbage (zeros) afterwards; the positions
  // stay in the sequence (other layers keep theirs).
  void DiscardRows(SequenceId seq, std::span<const int> layers, int64_t begin, int64_t end);
  // Whether no row of positions [begin, end) was discarded.
  bool RowsIntact(SequenceId seq, int64_t begin, int64_t end) const;
  // Positions whose rows were discarded (a multiple of the block size).
  int64_t DiscardedPositions(SequenceId seq) const;

  kernels::KvRows Keys(SequenceId seq, int layer, int kv_head) const;
  kernels::KvRows Values(SequenceId seq, int layer, int kv_head) const;
  // Per-channel key bounds (head_dim floats each) of logical block `block` of the sequence.
  // For an empty block min = +inf, max = -inf.
  const float* KeyMin(SequenceId seq, int layer, int kv_head, int64_t block) const;
  const float* KeyMax(SequenceId seq, int layer, int kv_head, int64_t block) const;

  // Writes the sequence to `path` (atomically: a temporary file renamed into place). The
  // fingerprint names the model the cache belongs to; Load checks it. `digest` (optional)
  // receives the file's SHA-256 trailer, which names this exact content (files bound to the
  // cache, such as its key indexes, record it).
  Status Save(SequenceId seq, const std::string& path, std::string_view model_fingerprint,
              Sha256::Digest* digest = nullptr) const;
  // Reads a file written by Save into a new sequence. kInvalidArgument when the file is for
  // another model fingerprint, shape, type or block size; kCorruption when it is truncated or its
  // checksum fails; kNotFound when it does not exist; kResourceExhausted when the pool is full.
  // `digest` (optional) receives the verified SHA-256 trailer of the file read.
  Result<SequenceId> Load(const std::string& path, std::string_view model_fingerprint,
                          Sha256::Digest* digest = nullptr);

 private:
  struct Sequence {
    bool live = false;
    int64_t length = 0;
    int64_t reserved = 0;
    std::vector<int32_t> blocks;  // logical block -> physical block
    std::vector<uint8_t> discarded;  // per logical block: rows discarded (missing: no)
  };
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  PagedKvCache() = default;
  size_t row_bytes() const;
  // The byte offset of the rows of (k|v, head) in a layer's part of a block.
  size_t head_offset(int which, int kv_head) const;
  // The pool keeps each layer's blocks together ([layer][block][k|v][head][position][dim]), so
  // the rows one (layer, head) reads in a decode step lie within one layer's region.
  uint8_t* LayerBlock(int32_t physical, int layer) const;
  kernels::KvRows Rows(SequenceId seq, int layer, int kv_head, int which) const;
  float* Bounds(int32_t physical, int layer, int kv_head);  // min, then max
  const float* Bounds(int32_t physical, int layer, int kv_head) const;
  void ResetBounds(int32_t physical);
  void RecomputeBounds(int32_t physical, int64_t rows);
  Result<int32_t> TakeBlock();
  void Release(int32_t physical);

  KvCacheShape shape_;
  TensorType type_ = TensorType::kF16;
  int block_size_ = 16;
  int block_shift_ = 4;
  int64_t total_blocks_ = 0;
  size_t block_bytes_ = 0;
  // total_blocks_ * block_bytes_, page-aligned so that a layer's part of a block can be discarded
  std::unique_ptr<uint8_t[], FreeDeleter> storage_;
  std::unique_ptr<float[]> bounds_;      // [layer][block][kv_head][min | max][head_dim]
  std::vector<int32_t> ref_counts_;      // per physical block
  std::vector<int32_t> free_list_;
  std::vector<Sequence> sequences_;
};

}  // namespace engram::inference
