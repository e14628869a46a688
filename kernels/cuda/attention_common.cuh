// Device code shared by the attention kernels (kernels/cuda/attention.cu: StoreKv, prefill;
// kernels/cuda/sparse_attention.cu: decode in pieces, merges, page and key selection): the
// arguments every kernel reads, paged addressing of key rows and f16 helpers.
// Everything sits in an anonymous namespace: each .cu file gets its own copy.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/ops.h"

namespace engram::kernels::cuda {
namespace {

constexpr float kNegInf = -__builtin_huge_valf();

// Everything the attention kernels read, by value.
struct AttendArgs {
  const uint16_t* base;  // the layer's blocks
  int n_kv_head;
  int block_shift;
  int64_t block_elems;
  const float* q;
  int64_t q_stride;
  float* out;
  int64_t out_stride;
  int rows;
  const int32_t* table_of_row;
  const int32_t* tables;
  int64_t table_stride;
  const int32_t* key_begin;
  const int32_t* key_end;
  int group;
  float scale;
};

inline AttendArgs MakeArgs(const PagedLayer& kv, const AttentionRows& rows, int group,
                           float scale) {
  AttendArgs a;
  a.base = kv.base;
  a.n_kv_head = kv.n_kv_head;
  a.block_shift = kv.block_shift;
  a.block_elems = kv.BlockElems();
  a.q = rows.q;
  a.q_stride = rows.q_stride;
  a.out = rows.out;
  a.out_stride = rows.out_stride;
  a.rows = static_cast<int>(rows.rows);
  a.table_of_row = rows.table_of_row;
  a.tables = rows.tables;
  a.table_stride = rows.table_stride;
  a.key_begin = rows.key_begin;
  a.key_end = rows.key_end;
  a.group = group;
  a.scale = scale;
  return a;
}

[[noreturn]] inline void Fail(const char* what, long long value) {
  std::fprintf(stderr, "engram cuda attention: unsupported %s %lld\n", what, value);
  std::abort();
}

// Element offset of the key row of `pos` in KV head h (the value row is a further
// n_kv_head << block_shift rows on), paged through `table`.
__device__ __forceinline__ int64_t KeyRowOffset(const AttendArgs& a, const int32_t* table, int h,
                                                int pos, int head_dim) {
  const int64_t physical = table[pos >> a.block_shift];
  const int in_block = pos & ((1 << a.block_shift) - 1);
  return physical * a.block_elems +
         ((static_cast<int64_t>(h) << a.block_shift) + in_block) * head_dim;
}

__device__ __forceinline__ int64_t ValueShift(const AttendArgs& a, int head_dim) {
  return (static_cast<int64_t>(a.n_kv_head) << a.block_shift) * head_dim;
}

__device__ __forceinline__ float RoundToHalf(float x) { return __half2float(__float2half_rn(x)); }

// Eight f16 (one 16-byte load) to floats.
__device__ __forceinline__ void Unpack8(const uint4& raw, float* f) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 two = __half22float2(h[i]);
    f[2 * i] = two.x;
    f[2 * i + 1] = two.y;
  }
}

// Shapes every attention kernel supports: head_dim 32, 64, 128, 256; group 1..8.
inline void CheckShape(const PagedLayer& kv, const AttentionRows& rows, int group) {
  const int d = kv.head_dim;
  if (d != 32 && d != 64 && d != 128 && d != 256) Fail("head_dim", d);
  if (group < 1 || group > 8) Fail("group (query heads per KV head)", group);
  if (kv.n_kv_head < 1 || kv.n_kv_head > 65535) Fail("n_kv_head", kv.n_kv_head);
  if (rows.rows < 0 || rows.rows > INT_MAX) Fail("rows", static_cast<long long>(rows.rows));
}

}  // namespace
}  // namespace engram::kernels::cuda
