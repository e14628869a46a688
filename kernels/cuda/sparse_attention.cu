// Sparse decode attention on the GPU (kernels/cuda/sparse_ops.h): attention in pieces over key
// ranges (also AttendDecode's splits) and gathered positions, their log-sum-exp merge, Quest's
// page bounds and page selection, and exact top-k key selection.
//
// Supported head_dim 32, 64, 128, 256 and group 1..8 (as kernels/cuda/attention.cu); rows
// <= 65535 per call. Roundings of the pieces: as AttendDecode (kernels/cuda/attention.cu's
// header): f16 query and keys, f32 products and softmax weights. Scores for selection use the
// query as given (f32) and f32 sums, like kernels::GroupKeyScores; only the summation order
// differs from the CPU.
//
// Limits (programming errors abort with a message): splits <= 65535 and first_piece + splits
// <= n_pieces; SelectPages needs pages << block_shift <= max_count, SelectTopKeys k <=
// max_selected; bounds 16-byte aligned (cudaMalloc'd). Item counts per (row, KV head) (pages,
// candidates) are read on the device and may be any int; selection is exact and
// deterministic: the chosen items come out in increasing item order and ties at the k-th score
// go to the lowest item indices. Performance: selection runs one block per (row, KV head), so
// for one decode row only n_kv_head SMs work on it, and items past the ~52k (sm_90) scores
// that fit in shared memory are rescored in each of four passes (see "Top-k selection").
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/sparse_ops.h"

namespace engram::kernels::cuda {
namespace {

// ---- Attention in pieces (AttendRangePieces, AttendGatheredPieces; AttendDecode) -----------
//
// Pieces: for row r, query head j (= kv_head · group + g) and piece p, the head_dim + 2 floats
// at pieces + ((r · n_head + j) · n_pieces + p) · (head_dim + 2) hold
//   [0] max score, [1] Σ exp(score - max), [2 ..] the output normalised (a weighted mean),
// i.e. a kernels::AttentionPiece. An empty piece holds (-inf, 0, zeros).

constexpr int kDecodeWarps = 4;

// Lane layout of the split kernel: a key row (head_dim f16) is read by kLanes lanes with one
// 16-byte load each, so a warp reads 32 / kLanes consecutive rows (512 contiguous bytes inside
// a cache block); each such group of lanes (a "sub") keeps its own online-softmax state for the
// queries of the GQA group, merged by shuffles and then across warps in shared memory.
template <int kHeadDim, int kGroup>
struct DecodeShape {
  static constexpr int kLanes = kHeadDim / 8;
  static constexpr int kSubsPerWarp = 32 / kLanes;
  static constexpr int kSubs = kDecodeWarps * kSubsPerWarp;
  static constexpr int kUnroll = kGroup <= 4 ? 4 : 2;  // keys per sub per step (loads in flight)
};

// Running softmax state of one sub for kGroup queries, over the 8 dims this lane holds.
template <int kGroup>
struct DecodeState {
  float m[kGroup];
  float l[kGroup];
  float acc[kGroup][8];
};

// Folds the state of the lane `offset` away (another sub, same dims) into `s`.
template <int kGroup>
__device__ __forceinline__ void MergeWithLane(DecodeState<kGroup>& s, int offset) {
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    const float mo = __shfl_xor_sync(0xffffffffu, s.m[g], offset);
    const float lo = __shfl_xor_sync(0xffffffffu, s.l[g], offset);
    float ao[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) ao[i] = __shfl_xor_sync(0xffffffffu, s.acc[g][i], offset);
    const float mx = fmaxf(s.m[g], mo);
    if (mx == kNegInf) continue;  // both empty
    const float a = __expf(s.m[g] - mx), b = __expf(mo - mx);
    s.l[g] = s.l[g] * a + lo * b;
#pragma unroll
    for (int i = 0; i < 8; ++i) s.acc[g][i] = s.acc[g][i] * a + ao[i] * b;
    s.m[g] = mx;
  }
}

// One step of a sub: kUnroll keys at indices i0, i0 + stride, ... (those >= end are masked).
// Index i is key position i, or with kGathered position list[i].
template <int kHeadDim, int kGroup, bool kGathered>
__device__ __forceinline__ void DecodeStep(const AttendArgs& a, const int32_t* table, int h,
                                           const int32_t* list, int i0, int stride, int end,
                                           int part, const float (&q)[kGroup][8],
                                           DecodeState<kGroup>& s) {
  using Shape = DecodeShape<kHeadDim, kGroup>;
  constexpr int kUnroll = Shape::kUnroll;
  uint4 kraw[kUnroll], vraw[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int i = i0 + u * stride;
    kraw[u] = vraw[u] = make_uint4(0, 0, 0, 0);
    if (i < end) {
      const int pos = kGathered ? list[i] : i;
      const uint16_t* row = a.base + KeyRowOffset(a, table, h, pos, kHeadDim) + part * 8;
      kraw[u] = *reinterpret_cast<const uint4*>(row);
      vraw[u] = *reinterpret_cast<const uint4*>(row + ValueShift(a, kHeadDim));
    }
  }
  float score[kUnroll][kGroup];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    float k[8];
    Unpack8(kraw[u], k);
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i) dot = fmaf(q[g][i], k[i], dot);
#pragma unroll
      for (int off = Shape::kLanes / 2; off > 0; off >>= 1) {
        dot += __shfl_xor_sync(0xffffffffu, dot, off);
      }
      score[u][g] = i0 + u * stride < end ? dot * a.scale : kNegInf;
    }
  }
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    float mx = s.m[g];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) mx = fmaxf(mx, score[u][g]);
    if (mx == kNegInf) continue;  // no key yet
    const float c = __expf(s.m[g] - mx);
    s.l[g] *= c;
#pragma unroll
    for (int i = 0; i < 8; ++i) s.acc[g][i] *= c;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const float p = __expf(score[u][g] - mx);
      float v[8];
      Unpack8(vraw[u], v);
      s.l[g] += p;
#pragma unroll
      for (int i = 0; i < 8; ++i) s.acc[g][i] = fmaf(p, v[i], s.acc[g][i]);
    }
    s.m[g] = mx;
  }
}

// Where a split kernel writes and, for gathered keys, where it reads its position lists.
struct PieceArgs {
  float* pieces;
  int n_pieces;
  int first_piece;
  const int32_t* positions;  // gathered only
  const int32_t* counts;     // gathered only
  int max_count;             // gathered only
};

// The (row, KV head)'s keys as indices [0, len) of a list (gathered) or [begin, begin + len)
// positions (range); `list` is null for a range.
struct KeySpan {
  const int32_t* list;
  int begin;
  int len;
};

template <bool kGathered>
__device__ __forceinline__ KeySpan RowKeys(const AttendArgs& a, const PieceArgs& p, int r, int h) {
  if (kGathered) {
    const int64_t at = static_cast<int64_t>(r) * a.n_kv_head + h;
    return {p.positions + at * p.max_count, 0, max(min(p.counts[at], p.max_count), 0)};
  }
  const int begin = a.key_begin[r];
  return {nullptr, begin, max(a.key_end[r] - begin, 0)};
}

// Merges the block's warps (shared memory) and writes the piece of each query of the group.
template <int kHeadDim, int kGroup>
__device__ __forceinline__ void WritePieces(const AttendArgs& a, const PieceArgs& p,
                                            const DecodeState<kGroup>& s, int r, int h, int piece) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = lane % DecodeShape<kHeadDim, kGroup>::kLanes;
  __shared__ float sm_m[kDecodeWarps][kGroup], sm_l[kDecodeWarps][kGroup];
  __shared__ float sm_acc[kDecodeWarps][kGroup][kHeadDim];
  if (lane < DecodeShape<kHeadDim, kGroup>::kLanes) {
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (lane == 0) {
        sm_m[warp][g] = s.m[g];
        sm_l[warp][g] = s.l[g];
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) sm_acc[warp][g][part * 8 + i] = s.acc[g][i];
    }
  }
  __syncthreads();

  const int n_head = a.n_kv_head * a.group;
  for (int t = threadIdx.x; t < a.group * kHeadDim; t += blockDim.x) {
    const int g = t / kHeadDim, d = t % kHeadDim;
    float mx = kNegInf;
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, sm_m[w][g]);
    float sum = 0.0f, o = 0.0f;
    if (mx != kNegInf) {
      for (int w = 0; w < kDecodeWarps; ++w) {
        const float c = __expf(sm_m[w][g] - mx);
        sum += sm_l[w][g] * c;
        o += sm_acc[w][g][d] * c;
      }
    }
    const int64_t head = static_cast<int64_t>(r) * n_head + h * a.group + g;
    float* out = p.pieces + (head * p.n_pieces + piece) * (kHeadDim + 2);
    out[2 + d] = sum > 0.0f ? o / sum : 0.0f;
    if (d == 0) {
      out[0] = mx;
      out[1] = sum;
    }
  }
}

// Grid (splits, n_kv_head, rows), kDecodeWarps warps: split `blockIdx.x` of the (row, KV head)'s
// keys, one of `splits` equal contiguous ranges of them, into piece first_piece + split.
// Queries beyond `group` (up to kGroup) are zero and their results dropped. The launch bounds
// ask for 4 blocks per SM (2 for kGroup 8, whose state needs ~200 registers); without them
// ptxas spilled <128, 2> on sm_90.
template <int kHeadDim, int kGroup, bool kGathered>
__global__ void __launch_bounds__(kDecodeWarps * 32, kGroup <= 4 ? 4 : 2)
    AttendPiecesKernel(AttendArgs a, PieceArgs p) {
  using Shape = DecodeShape<kHeadDim, kGroup>;
  const int split = blockIdx.x, splits = gridDim.x, h = blockIdx.y, r = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = lane % Shape::kLanes;  // this lane's dims: [part * 8, part * 8 + 8)
  const int sub = warp * Shape::kSubsPerWarp + lane / Shape::kLanes;

  const KeySpan keys = RowKeys<kGathered>(a, p, r, h);
  const int chunk = (keys.len + splits - 1) / splits;
  const int s_begin = keys.begin + min(split * chunk, keys.len);
  const int s_end = keys.begin + min((split + 1) * chunk, keys.len);

  float q[kGroup][8];
  const float* q_row = a.q + r * a.q_stride + static_cast<int64_t>(h) * a.group * kHeadDim;
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      q[g][i] = g < a.group ? RoundToHalf(q_row[g * kHeadDim + part * 8 + i]) : 0.0f;
    }
  }
  DecodeState<kGroup> s;
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    s.m[g] = kNegInf;
    s.l[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) s.acc[g][i] = 0.0f;
  }

  const int32_t* table = a.tables + a.table_of_row[r] * a.table_stride;
  // Every lane runs the same number of steps (the shuffles need the whole warp).
  for (int base = s_begin; base < s_end; base += Shape::kSubs * Shape::kUnroll) {
    DecodeStep<kHeadDim, kGroup, kGathered>(a, table, h, keys.list, base + sub, Shape::kSubs, s_end,
                                            part, q, s);
  }
#pragma unroll
  for (int off = Shape::kLanes; off < 32; off <<= 1) MergeWithLane(s, off);
  WritePieces<kHeadDim, kGroup>(a, p, s, r, h, p.first_piece + split);
}

// Grid (n_head, rows), head_dim threads: merges a (row, query head)'s pieces by log-sum-exp.
__global__ void MergePiecesKernel(const float* __restrict__ pieces, int n_pieces, int head_dim,
                                  float* __restrict__ out, int64_t out_stride) {
  const int head = blockIdx.x, r = blockIdx.y, d = threadIdx.x;
  const int64_t piece_floats = head_dim + 2;
  const float* p = pieces + (static_cast<int64_t>(r) * gridDim.x + head) * n_pieces * piece_floats;
  float mx = kNegInf;
  for (int s = 0; s < n_pieces; ++s) {
    if (p[s * piece_floats + 1] > 0.0f) mx = fmaxf(mx, p[s * piece_floats]);
  }
  float sum = 0.0f, o = 0.0f;
  for (int s = 0; s < n_pieces && mx != kNegInf; ++s) {
    const float* piece = p + s * piece_floats;
    if (piece[1] <= 0.0f) continue;
    const float w = piece[1] * __expf(piece[0] - mx);  // the piece's share of the mass
    sum += w;
    o += w * piece[2 + d];
  }
  out[r * out_stride + static_cast<int64_t>(head) * head_dim + d] = sum > 0.0f ? o / sum : 0.0f;
}

template <int kHeadDim, bool kGathered>
void LaunchPieces(const AttendArgs& a, const PieceArgs& p, int splits, Stream stream) {
  const dim3 grid(splits, a.n_kv_head, a.rows);
  constexpr int kThreads = kDecodeWarps * 32;
  if (a.group <= 1) {
    AttendPiecesKernel<kHeadDim, 1, kGathered><<<grid, kThreads, 0, stream>>>(a, p);
  } else if (a.group <= 2) {
    AttendPiecesKernel<kHeadDim, 2, kGathered><<<grid, kThreads, 0, stream>>>(a, p);
  } else if (a.group <= 4) {
    AttendPiecesKernel<kHeadDim, 4, kGathered><<<grid, kThreads, 0, stream>>>(a, p);
  } else {
    AttendPiecesKernel<kHeadDim, 8, kGathered><<<grid, kThreads, 0, stream>>>(a, p);
  }
}

// Checks, then launches the split kernel for the head_dim.
template <bool kGathered>
void AttendPieces(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                  const PieceArgs& p, int splits, Stream stream) {
  CheckShape(kv, rows, group);
  if (splits < 1 || splits > 65535) Fail("splits", splits);
  if (p.first_piece < 0 || p.first_piece + splits > p.n_pieces)
    Fail("last piece", p.first_piece + splits);
  if (rows.rows > 65535) Fail("decode rows", static_cast<long long>(rows.rows));
  if (rows.rows == 0) return;
  const AttendArgs a = MakeArgs(kv, rows, group, scale);
  switch (kv.head_dim) {
    case 32:
      return LaunchPieces<32, kGathered>(a, p, splits, stream);
    case 64:
      return LaunchPieces<64, kGathered>(a, p, splits, stream);
    case 128:
      return LaunchPieces<128, kGathered>(a, p, splits, stream);
    default:
      return LaunchPieces<256, kGathered>(a, p, splits, stream);
  }
}

// ---- Page bounds (RefreshPageBounds) ------------------------------------------------------

// One block per listed block: per KV head and dim, min and max over its first rows (f16 -> f32
// is exact, so this equals the CPU's PagedKvCache::RecomputeBounds bit for bit).
__global__ void RefreshPageBoundsKernel(const uint16_t* __restrict__ base, int n_kv_head,
                                        int head_dim, int block_shift, int64_t block_elems,
                                        const int32_t* __restrict__ blocks,
                                        const int32_t* __restrict__ rows_in_block,
                                        float* __restrict__ bounds) {
  const int64_t b = blocks[blockIdx.x];
  const int rows = min(max(rows_in_block[blockIdx.x], 0), 1 << block_shift);
  const __half* keys = reinterpret_cast<const __half*>(base + b * block_elems);
  for (int t = threadIdx.x; t < n_kv_head * head_dim; t += blockDim.x) {
    const int h = t / head_dim, d = t - h * head_dim;
    const __half* col = keys + (static_cast<int64_t>(h) << block_shift) * head_dim + d;
    float lo = __builtin_huge_valf(), hi = kNegInf;
    for (int row = 0; row < rows; ++row) {
      const float x = __half2float(col[row * head_dim]);
      lo = fminf(lo, x);
      hi = fmaxf(hi, x);
    }
    float* out = bounds + (b * n_kv_head + h) * 2 * head_dim;
    out[d] = lo;
    out[head_dim + d] = hi;
  }
}

// ---- Top-k selection (SelectPages, SelectTopKeys) ------------------------------------------
//
// One block of kSelectThreads per (row, KV head) selects the k best of n scored items (pages or
// candidate keys) exactly: a radix select on the scores' order-preserving bits, 11 + 11 + 10
// bits in three histogram passes, yields the k-th largest score T and how many items equal to
// T to take; a last pass in item order takes every item above T and the first such ties, and
// writes them in item order (so ties go to the lowest item index, and the output order is
// deterministic). Scores of the first `cached` items (as many as the device's shared memory
// per block holds beside SelectShared: ~52k on sm_90, ~36k on sm_80) are computed once into
// dynamic shared memory; those of later items are recomputed in each of the four passes
// (slower, correct).

constexpr int kSelectThreads = 1024;
constexpr int kSelectWarps = kSelectThreads / 32;

struct alignas(16) SelectShared {  // 16: q is read as float4
  float q[8 * 256];                // the group's queries (f32, as given)
  float chunk[kSelectThreads];     // scores of uncached items, one chunk at a time
  unsigned hist[2048];
  int warp_counts[kSelectWarps];
  int bin;
  int need;
  int count;
};

// Float bits mapped so that unsigned order is float order.
__device__ __forceinline__ unsigned OrderedBits(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Quest's page score: Σ_d max(q_d · min_d, q_d · max_d), maxed over the group. A page's bounds
// are read by a "sub" of head_dim / (4 · kVec) lanes with kVec float4 loads of each of min and
// max (kVec = 2 for head_dim 256, else 1), 2 / kVec pages per sub in flight (registers: 1024
// threads leave 64 each). `bounds` must be 16-byte aligned.
struct PageScorer {
  const float* bounds;
  int n_kv_head;
  int head_dim;
  int group;
  int h;
  const int32_t* table;
  int page_begin;

  // Scores of pages [begin, end) of the range to dst[i - begin].
  __device__ void Range(int begin, int end, const float* q, float* dst) const {
    if (head_dim > 128) return RangeVec<2>(begin, end, q, dst);
    RangeVec<1>(begin, end, q, dst);
  }

  template <int kVec>
  __device__ void RangeVec(int begin, int end, const float* q, float* dst) const {
    constexpr int kUnroll = 2 / kVec;
    const int lanes = head_dim / (4 * kVec), per_warp = 32 / lanes;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int part = lane % lanes, sub = lane / lanes;
    const int step = kSelectWarps * per_warp * kUnroll;
    // w0 is the same for the whole warp, so every lane joins every shuffle.
    for (int w0 = begin + warp * per_warp * kUnroll; w0 < end; w0 += step) {
      float4 lo[kUnroll][kVec], hi[kUnroll][kVec];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = w0 + u * per_warp + sub;
        const float4* row = nullptr;
        if (i < end) {
          const int64_t physical = table[page_begin + i];
          row = reinterpret_cast<const float4*>(bounds + (physical * n_kv_head + h) * 2 * head_dim);
        }
#pragma unroll
        for (int v = 0; v < kVec; ++v) {
          lo[u][v] = row != nullptr ? row[part * kVec + v] : make_float4(0, 0, 0, 0);
          hi[u][v] = row != nullptr ? row[head_dim / 4 + part * kVec + v] : make_float4(0, 0, 0, 0);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        float best = kNegInf;
#pragma unroll 1
        for (int g = 0; g < group; ++g) {
          const float4* qg = reinterpret_cast<const float4*>(q + g * head_dim) + part * kVec;
          float sum = 0.0f;
#pragma unroll
          for (int v = 0; v < kVec; ++v) {
            const float4 x = qg[v], a = lo[u][v], b = hi[u][v];
            sum += fmaxf(x.x * a.x, x.x * b.x) + fmaxf(x.y * a.y, x.y * b.y) +
                   fmaxf(x.z * a.z, x.z * b.z) + fmaxf(x.w * a.w, x.w * b.w);
          }
          for (int off = lanes / 2; off > 0; off >>= 1) {
            sum += __shfl_xor_sync(0xffffffffu, sum, off);
          }
          best = fmaxf(best, sum);
        }
        const int i = w0 + u * per_warp + sub;
        if (part == 0 && i < end) dst[i - begin] = best;
      }
    }
  }
};

// Candidate keys: max over the group of q·k (kernels::GroupKeyScores). head_dim / 8 lanes (a
// "sub") per key with one 16-byte load each, kUnroll keys per sub in flight.
struct KeyScorer {
  const uint16_t* head_base;  // the layer's base plus the KV head's offset inside a block
  int64_t block_elems;
  int block_shift;
  int head_dim;
  int group;
  const int32_t* table;
  const int32_t* list;

  __device__ uint4 LoadPart(int i, int part) const {
    const int pos = list[i];
    const int64_t physical = table[pos >> block_shift];
    const int in_block = pos & ((1 << block_shift) - 1);
    const uint16_t* row = head_base + physical * block_elems + in_block * head_dim + part * 8;
    return *reinterpret_cast<const uint4*>(row);
  }

  // Scores of candidates [begin, end) of the list to dst[i - begin].
  __device__ void Range(int begin, int end, const float* q, float* dst) const {
    constexpr int kUnroll = 4;
    const int lanes = head_dim / 8, per_warp = 32 / lanes;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int part = lane % lanes, sub = lane / lanes;
    const int step = kSelectWarps * per_warp * kUnroll;
    // w0 is the same for the whole warp, so every lane joins every shuffle.
    for (int w0 = begin + warp * per_warp * kUnroll; w0 < end; w0 += step) {
      uint4 raw[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = w0 + u * per_warp + sub;
        raw[u] = i < end ? LoadPart(i, part) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        float k[8];
        Unpack8(raw[u], k);
        float best = kNegInf;
#pragma unroll 1
        for (int g = 0; g < group; ++g) {
          const float* qg = q + g * head_dim + part * 8;
          float dot = 0.0f;
#pragma unroll
          for (int j = 0; j < 8; ++j) dot = fmaf(qg[j], k[j], dot);
          for (int off = lanes / 2; off > 0; off >>= 1) {
            dot += __shfl_xor_sync(0xffffffffu, dot, off);
          }
          best = fmaxf(best, dot);
        }
        const int i = w0 + u * per_warp + sub;
        if (part == 0 && i < end) dst[i - begin] = best;
      }
    }
  }
};

// The scores of the chunk of items [base, base + len): from the cache, or computed into
// sh.chunk. Block-wide (contains a barrier when it computes).
// `cached` is a multiple of kSelectThreads, so a chunk is wholly cached or not.
template <class Scorer>
__device__ const float* ChunkScores(const Scorer& score, int base, int len, const float* cache,
                                    int cached, SelectShared& sh) {
  if (base < cached) return cache + base;
  score.Range(base, base + len, sh.q, sh.chunk);
  __syncthreads();
  return sh.chunk;
}

// Exclusive prefix count of `flag` over the block's threads; *total gets the block's count.
__device__ int BlockExclusiveCount(bool flag, int* total, SelectShared& sh) {
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sh.warp_counts[warp] = __popc(ballot);
  __syncthreads();
  int before = 0, all = 0;
  for (int w = 0; w < kSelectWarps; ++w) {
    const int c = sh.warp_counts[w];
    before += w < warp ? c : 0;
    all += c;
  }
  __syncthreads();  // warp_counts is rewritten by the next call
  *total = all;
  return before + __popc(ballot & ((1u << lane) - 1u));
}

// Warp 0: the bin (of `bins`, from the top) holding the need-th largest counted item; sets
// sh.bin and sh.need (need less the items in higher bins).
__device__ void FindBin(int bins, int need, SelectShared& sh) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x, per = bins / 32;
  const int top = bins - lane * per;  // this lane's bins: [top - per, top)
  int sum = 0;
  for (int b = top - per; b < top; ++b) sum += sh.hist[b];
  int above = sum;  // inclusive prefix from lane 0 (the highest bins)
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int x = __shfl_up_sync(0xffffffffu, above, off);
    if (lane >= off) above += x;
  }
  above -= sum;
  if (above < need && need <= above + sum) {
    for (int b = top - 1; b >= top - per; --b) {
      if (above + static_cast<int>(sh.hist[b]) >= need) {
        sh.bin = b;
        sh.need = need - above;
        break;
      }
      above += sh.hist[b];
    }
  }
}

// Selects the k best of n items; emit(i, rank) is called for each, rank 0 .. min(k, n) - 1 in
// increasing item order. `cache` holds `cached` floats; sh.q must be loaded.
template <class Scorer, class Emit>
__device__ void SelectTop(const Scorer& score, const Emit& emit, int n, int k, float* cache,
                          int cached, SelectShared& sh) {
  if (k >= n) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) emit(i, i);
    return;
  }
  if (k <= 0) return;
  score.Range(0, min(n, cached), sh.q, cache);
  __syncthreads();
  unsigned prefix = 0, mask = 0;
  int need = k;
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = pass == 0 ? 21 : pass == 1 ? 10 : 0, bins = pass < 2 ? 2048 : 1024;
    for (int b = threadIdx.x; b < 2048; b += blockDim.x) sh.hist[b] = 0;
    __syncthreads();
    for (int base = 0; base < n; base += kSelectThreads) {
      const int len = min(kSelectThreads, n - base);
      const float* s = ChunkScores(score, base, len, cache, cached, sh);
      if (threadIdx.x < len) {
        const unsigned u = OrderedBits(s[threadIdx.x]);
        if ((u & mask) == prefix) atomicAdd(&sh.hist[(u >> shift) & (bins - 1)], 1u);
      }
      __syncthreads();  // sh.chunk is rewritten next
    }
    FindBin(bins, need, sh);
    __syncthreads();
    prefix |= static_cast<unsigned>(sh.bin) << shift;
    mask |= static_cast<unsigned>(bins - 1) << shift;
    need = sh.need;
    __syncthreads();  // everyone has read sh.bin and sh.need
  }
  // prefix is now the k-th largest score's bits; take `need` of the items equal to it.
  int ties_seen = 0, written = 0;
  for (int base = 0; base < n; base += kSelectThreads) {
    const int len = min(kSelectThreads, n - base);
    const float* s = ChunkScores(score, base, len, cache, cached, sh);
    const bool live = threadIdx.x < len;
    const unsigned u = live ? OrderedBits(s[threadIdx.x]) : 0u;
    int ties = 0, taken = 0;
    const int tie_rank = BlockExclusiveCount(live && u == prefix, &ties, sh);
    const bool take = live && (u > prefix || (u == prefix && ties_seen + tie_rank < need));
    const int rank = BlockExclusiveCount(take, &taken, sh);
    if (take) emit(base + threadIdx.x, written + rank);
    ties_seen += ties;
    written += taken;
  }
}

// The query heads of (row r, KV head h) into sh.q.
__device__ void LoadGroupQueries(const float* q, int64_t q_stride, int r, int h, int group,
                                 int head_dim, SelectShared& sh) {
  const float* row = q + r * q_stride + static_cast<int64_t>(h) * group * head_dim;
  for (int t = threadIdx.x; t < group * head_dim; t += blockDim.x) sh.q[t] = row[t];
}

struct SelectPagesArgs {
  const float* bounds;
  const int32_t* page_begin;
  const int32_t* page_end;
  int pages;
  int32_t* positions;
  int32_t* counts;
  int max_count;
  int cached;  // scores the dynamic shared memory holds
};

// Grid (n_kv_head, rows), kSelectThreads threads, p.cached floats of dynamic shared memory.
__global__ void __launch_bounds__(kSelectThreads, 1)
    SelectPagesKernel(AttendArgs a, int head_dim, SelectPagesArgs p) {
  extern __shared__ float select_cache[];
  __shared__ SelectShared sh;
  const int h = blockIdx.x, r = blockIdx.y;
  LoadGroupQueries(a.q, a.q_stride, r, h, a.group, head_dim, sh);
  if (threadIdx.x == 0) sh.count = 0;
  __syncthreads();
  const int begin = p.page_begin[r], key_end = a.key_end[r], shift = a.block_shift;
  const int32_t* table = a.tables + a.table_of_row[r] * a.table_stride;
  const PageScorer score{p.bounds, a.n_kv_head, head_dim, a.group, h, table, begin};
  int32_t* out = p.positions + (static_cast<int64_t>(r) * a.n_kv_head + h) * p.max_count;
  // Pages come in increasing order, so only the last can be partly below key_end: the
  // positions stay contiguous at rank · block size.
  const auto emit = [=](int i, int rank) {
    const int first = (begin + i) << shift;
    const int n = min(max(key_end - first, 0), 1 << shift);
    for (int j = 0; j < n; ++j) out[(rank << shift) + j] = first + j;
    atomicAdd(&sh.count, n);
  };
  SelectTop(score, emit, max(p.page_end[r] - begin, 0), p.pages, select_cache, p.cached, sh);
  __syncthreads();
  if (threadIdx.x == 0) p.counts[static_cast<int64_t>(r) * a.n_kv_head + h] = sh.count;
}

struct SelectKeysArgs {
  const int32_t* candidates;
  const int32_t* candidate_counts;
  int max_candidates;
  int k;
  int32_t* selected;
  int32_t* selected_counts;
  int max_selected;
  int cached;  // scores the dynamic shared memory holds
};

// Grid (n_kv_head, rows), kSelectThreads threads, p.cached floats of dynamic shared memory.
__global__ void __launch_bounds__(kSelectThreads, 1)
    SelectTopKeysKernel(AttendArgs a, int head_dim, SelectKeysArgs p) {
  extern __shared__ float select_cache[];
  __shared__ SelectShared sh;
  const int h = blockIdx.x, r = blockIdx.y;
  LoadGroupQueries(a.q, a.q_stride, r, h, a.group, head_dim, sh);
  __syncthreads();
  const int64_t at = static_cast<int64_t>(r) * a.n_kv_head + h;
  const int32_t* list = p.candidates + at * p.max_candidates;
  const int n = min(max(p.candidate_counts[at], 0), p.max_candidates);
  const int32_t* table = a.tables + a.table_of_row[r] * a.table_stride;
  const uint16_t* head_base = a.base + (static_cast<int64_t>(h) << a.block_shift) * head_dim;
  const KeyScorer score{head_base, a.block_elems, a.block_shift, head_dim, a.group, table, list};
  int32_t* out = p.selected + at * p.max_selected;
  const auto emit = [=](int i, int rank) { out[rank] = list[i]; };
  SelectTop(score, emit, n, p.k, select_cache, p.cached, sh);
  if (threadIdx.x == 0) p.selected_counts[at] = min(n, p.k);
}

// Checks shared by the selection launchers; false when there is nothing to do.
bool CheckSelect(const PagedLayer& kv, const AttentionRows& rows, int group) {
  CheckShape(kv, rows, group);
  if (rows.rows > 65535) Fail("selection rows", static_cast<long long>(rows.rows));
  return rows.rows > 0;
}

// The scores a select kernel can keep in dynamic shared memory on the current device: what the
// device allows per block beside the kernel's static shared memory, in whole chunks.
template <class Kernel>
int CachedScores(Kernel kernel) {
  int device = 0, optin = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  cudaFuncAttributes attributes{};
  cudaFuncGetAttributes(&attributes, kernel);
  const long long bytes = optin - static_cast<long long>(attributes.sharedSizeBytes);
  const long long floats = bytes / static_cast<long long>(sizeof(float));
  return static_cast<int>(floats > 0 ? floats / kSelectThreads * kSelectThreads : 0);
}

// Sets args.cached and launches grid (n_kv_head, rows).
template <class Kernel, class Args>
void LaunchSelect(Kernel kernel, const PagedLayer& kv, const AttentionRows& rows, int group,
                  Args args, Stream stream) {
  args.cached = CachedScores(kernel);
  const size_t bytes = static_cast<size_t>(args.cached) * sizeof(float);
  // Above the default 48 KiB of dynamic shared memory; the calls are cheap, not stream ops.
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(bytes));
  const AttendArgs a = MakeArgs(kv, rows, group, 1.0f);
  const dim3 grid(kv.n_kv_head, static_cast<unsigned>(rows.rows));
  kernel<<<grid, kSelectThreads, bytes, stream>>>(a, kv.head_dim, args);
}

}  // namespace

size_t PieceFloats(int64_t rows, int n_head, int head_dim, int n_pieces) {
  return static_cast<size_t>(rows) * n_head * n_pieces * (head_dim + 2);
}

void AttendRangePieces(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                       float* pieces, int n_pieces, int first_piece, int splits, Stream stream) {
  const PieceArgs p{pieces, n_pieces, first_piece, nullptr, nullptr, 0};
  AttendPieces<false>(kv, rows, group, scale, p, splits, stream);
}

void AttendGatheredPieces(const PagedLayer& kv, const AttentionRows& rows, const int32_t* positions,
                          const int32_t* counts, int max_count, int group, float scale,
                          float* pieces, int n_pieces, int first_piece, int splits, Stream stream) {
  if (max_count < 0) Fail("max_count", max_count);
  const PieceArgs p{pieces, n_pieces, first_piece, positions, counts, max_count};
  AttendPieces<true>(kv, rows, group, scale, p, splits, stream);
}

void MergePieces(const float* pieces, int64_t rows, int n_head, int head_dim, int n_pieces,
                 float* out, int64_t out_stride, Stream stream) {
  if (head_dim < 1 || head_dim > 1024) Fail("merge head_dim", head_dim);
  if (n_head < 1 || rows > 65535) Fail("merge rows", static_cast<long long>(rows));
  if (rows <= 0) return;
  const dim3 grid(n_head, static_cast<unsigned>(rows));
  MergePiecesKernel<<<grid, head_dim, 0, stream>>>(pieces, n_pieces, head_dim, out, out_stride);
}

size_t PageBoundsFloats(int64_t blocks, int n_kv_head, int head_dim) {
  return static_cast<size_t>(blocks) * n_kv_head * 2 * head_dim;
}

void RefreshPageBounds(const PagedLayer& kv, const int32_t* blocks, const int32_t* rows_in_block,
                       int64_t count, float* bounds, Stream stream) {
  if (count <= 0) return;
  if (count > INT_MAX) Fail("RefreshPageBounds count", static_cast<long long>(count));
  RefreshPageBoundsKernel<<<static_cast<unsigned>(count), 256, 0, stream>>>(
      kv.base, kv.n_kv_head, kv.head_dim, kv.block_shift, kv.BlockElems(), blocks, rows_in_block,
      bounds);
}

void SelectPages(const PagedLayer& kv, const float* bounds, const AttentionRows& rows,
                 const int32_t* page_begin, const int32_t* page_end, int group, int pages,
                 int32_t* positions, int32_t* counts, int max_count, Stream stream) {
  if (pages < 0 || (static_cast<int64_t>(pages) << kv.block_shift) > max_count) {
    Fail("SelectPages pages (max_count must hold pages << block_shift)", pages);
  }
  if (!CheckSelect(kv, rows, group)) return;
  const SelectPagesArgs args{bounds, page_begin, page_end, pages, positions, counts, max_count, 0};
  LaunchSelect(SelectPagesKernel, kv, rows, group, args, stream);
}

void SelectTopKeys(const PagedLayer& kv, const AttentionRows& rows, const int32_t* candidates,
                   const int32_t* candidate_counts, int max_candidates, int group, int k,
                   int32_t* selected, int32_t* selected_counts, int max_selected, Stream stream) {
  if (k < 0 || k > max_selected) Fail("SelectTopKeys k (at most max_selected)", k);
  if (max_candidates < 0) Fail("max_candidates", max_candidates);
  if (!CheckSelect(kv, rows, group)) return;
  const SelectKeysArgs args{candidates, candidate_counts, max_candidates, k,
                            selected,   selected_counts,  max_selected,   0};
  LaunchSelect(SelectTopKeysKernel, kv, rows, group, args, stream);
}

}  // namespace engram::kernels::cuda
