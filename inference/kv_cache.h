// The key/value cache of one sequence: for every layer and KV head, the keys and values of the
// positions evaluated so far, in f16 (the default, as llama.cpp) or f32.
//
//   Result<std::unique_ptr<KvCache>> cache = KvCache::Create(shape, {.capacity = 4096});
//   (*cache)->Store(layer, pos, k, v);       // during a forward pass, positions >= length()
//   (*cache)->Commit(pos + 1);               // the new positions become part of the sequence
//   kernels::KvRows keys = (*cache)->Keys(layer, kv_head);   // rows 0 .. length()-1 valid
//
// Layout: [layer][kv_head][position][head_dim], so the keys of one head are contiguous rows
// (what attention scans). Readers see only rows, never the layout: a paged cache (later) hands
// out KvRows per block, and attention policies work on row ranges and gathered positions.
// Memory is reserved for `capacity` positions up front but pages are touched only as rows are
// written, so a large capacity costs nothing until it is used.
//
// Thread safety: Store to distinct (layer, position) pairs may run concurrently; everything
// else is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "kernels/attention.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

struct KvCacheShape {
  int n_layer = 0;
  int n_kv_head = 0;
  int head_dim = 0;
};

struct KvCacheOptions {
  int64_t capacity = 4096;             // positions
  TensorType type = TensorType::kF16;  // kF16 or kF32
};

class KvCache {
 public:
  // kInvalidArgument for a non-positive shape or capacity or another type; kResourceExhausted
  // when the memory cannot be reserved.
  static Result<std::unique_ptr<KvCache>> Create(const KvCacheShape& shape,
                                                 const KvCacheOptions& options);

  const KvCacheShape& shape() const { return shape_; }
  TensorType type() const { return type_; }
  int64_t capacity() const { return capacity_; }
  // Positions [0, length()) hold committed keys and values.
  int64_t length() const { return length_; }
  // Bytes reserved for keys and values at full capacity.
  size_t bytes() const { return total_bytes_; }
  // Bytes one position takes across all layers and heads.
  size_t bytes_per_position() const;

  // Writes the keys and values of one position of one layer: n_kv_head * head_dim floats each,
  // head after head. pos < capacity().
  void Store(int layer, int64_t pos, const float* k, const float* v);

  // Makes positions [0, length) the sequence: after a forward pass, length grows; Truncate to a
  // shorter length forgets the tail (to reuse a shared prefix or roll back).
  void Commit(int64_t length) { length_ = length; }
  void Truncate(int64_t length) { length_ = length < length_ ? length : length_; }
  void Clear() { length_ = 0; }

  kernels::KvRows Keys(int layer, int kv_head) const { return Rows(layer, kv_head, 0); }
  kernels::KvRows Values(int layer, int kv_head) const { return Rows(layer, kv_head, 1); }

 private:
  KvCache() = default;
  kernels::KvRows Rows(int layer, int kv_head, int which) const;
  size_t row_bytes() const;

  KvCacheShape shape_;
  TensorType type_ = TensorType::kF16;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  size_t total_bytes_ = 0;
  std::unique_ptr<uint8_t[]> storage_;
};

}  // namespace engram::inference
