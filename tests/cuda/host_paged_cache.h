// One layer of a paged f16 KV cache on the host, for the CUDA attention tests: the layout of
// PagedKvCache (physical block b at pool + b · BlockElems(), inside it keys then values, each
// [kv_head][position][head_dim]), sequence s's logical block i at physical block
// tables[s · table_stride + i], blocks scattered by a random permutation. Rows() walks it as
// PagedKvCache::Rows does, for the CPU references.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/half.h"

namespace engram::kernels::cuda::testing {

struct Shape {
  int head_dim;
  int group;
  int n_kv_head;
  int n_head() const { return group * n_kv_head; }
};

inline std::string Name(const Shape& s) {
  return "head_dim " + std::to_string(s.head_dim) + " group " + std::to_string(s.group) +
         " kv heads " + std::to_string(s.n_kv_head);
}

struct HostCache {
  Shape shape;
  int block_shift = 4;
  std::vector<uint16_t> pool;
  std::vector<int32_t> tables;
  int64_t table_stride = 1;
  int64_t blocks = 0;
  float max_abs_value = 0.0f;

  int64_t BlockElems() const {
    return int64_t{2} * shape.n_kv_head * (int64_t{1} << block_shift) * shape.head_dim;
  }
  // which: 0 keys, 1 values.
  KvRows Rows(int seq, int kv_head, int which) const {
    const size_t row_bytes = static_cast<size_t>(shape.head_dim) * 2;
    KvRows rows;
    rows.data = reinterpret_cast<const uint8_t*>(pool.data()) +
                static_cast<size_t>(which * shape.n_kv_head + kv_head) *
                    (size_t{1} << block_shift) * row_bytes;
    rows.row_stride = row_bytes;
    rows.type = TensorType::kF16;
    rows.blocks = tables.data() + seq * table_stride;
    rows.block_stride = static_cast<size_t>(BlockElems()) * 2;
    rows.block_shift = block_shift;
    return rows;
  }
  // Key d of (physical block b, KV head h, row) as f32.
  float Key(int64_t b, int h, int row, int d) const {
    return Fp16ToFp32(pool[b * BlockElems() +
                           ((int64_t{h} << block_shift) + row) * shape.head_dim + d]);
  }
};

// Sequences of the given lengths (plus two spare blocks nobody owns), values uniform in [-1, 1].
inline HostCache MakeCache(const Shape& shape, int block_shift, const std::vector<int>& lengths,
                           std::mt19937& rng) {
  HostCache c;
  c.shape = shape;
  c.block_shift = block_shift;
  const int block_size = 1 << block_shift;
  std::vector<int> blocks_of(lengths.size());
  int total = 2;
  for (size_t s = 0; s < lengths.size(); ++s) {
    blocks_of[s] = (lengths[s] + block_size - 1) / block_size;
    total += blocks_of[s];
    c.table_stride = std::max<int64_t>(c.table_stride, blocks_of[s]);
  }
  c.blocks = total;
  std::vector<int32_t> physical(total);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  c.tables.assign(lengths.size() * c.table_stride, 0);
  int next = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    for (int i = 0; i < blocks_of[s]; ++i) c.tables[s * c.table_stride + i] = physical[next++];
  }
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  c.pool.resize(static_cast<size_t>(total) * c.BlockElems());
  for (uint16_t& h : c.pool) {
    h = Fp32ToFp16(value(rng));
    c.max_abs_value = std::max(c.max_abs_value, std::fabs(Fp16ToFp32(h)));
  }
  return c;
}

}  // namespace engram::kernels::cuda::testing
