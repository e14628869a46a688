// The paged f16 KV cache on the GPU: StoreKv, tiled prefill attention (AttendPrefill) and
// flash-decoding (AttendDecode: AttendRangePieces then MergePieces, whose kernels live in
// kernels/cuda/sparse_attention.cu). Declared in kernels/cuda/ops.h; CPU reference
// kernels/attention.h.
//
// Supported head_dim: 32, 64, 128, 256 (every kernel is compiled for each); group 1..8. Other
// shapes are programming errors: the launchers print a message and abort.
//
// Roundings. Queries are rounded to f16 before the dot products and keys are f16, products are
// summed in f32 (as the CPU). The softmax differs from the CPU's, which rounds each piece's
// normalised weights to f16 before weighting the values:
//   decode  keeps the weights in f32 (online softmax cannot round normalised weights);
//   prefill rounds the unnormalised weights exp(s - running max) to f16 (they feed tensor cores)
//           and normalises by the sum of the rounded weights at the end.
// Either way a weight differs from the CPU's by at most about 2^-11 of itself, so an output differs
// by at most about 2^-11 · max|v| plus f32 noise.
#include <mma.h>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/sparse_ops.h"

namespace engram::kernels::cuda {
namespace {

// ---- StoreKv -------------------------------------------------------------------------------

// One block per row; a negative slot is skipped (padding rows).
__global__ void StoreKvKernel(uint16_t* __restrict__ base, int n_kv_head, int head_dim,
                              int block_shift, int64_t block_elems, const float* __restrict__ k,
                              const float* __restrict__ v, int64_t kv_stride,
                              const int32_t* __restrict__ slots) {
  const int r = blockIdx.x;
  const int slot = slots[r];
  if (slot < 0) return;
  const int64_t block = slot >> block_shift;
  const int in_block = slot & ((1 << block_shift) - 1);
  uint16_t* keys = base + block * block_elems;
  uint16_t* values = keys + (static_cast<int64_t>(n_kv_head) << block_shift) * head_dim;
  const int width = n_kv_head * head_dim;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    const int h = i / head_dim, d = i - h * head_dim;
    const int64_t dst = ((static_cast<int64_t>(h) << block_shift) + in_block) * head_dim + d;
    keys[dst] = __half_as_ushort(__float2half_rn(k[r * kv_stride + i]));
    values[dst] = __half_as_ushort(__float2half_rn(v[r * kv_stride + i]));
  }
}

// ---- AttendPrefill -------------------------------------------------------------------------
//
// Grid (ceil(rows / tile_rows), n_kv_head), kPrefillWarps warps. A block takes tile_rows =
// kM / group consecutive rows; their group query heads make kM query vectors (vector
// i = local row · group + g; the rest zero). Key tiles of kN rows are staged in shared memory
// as f16; S = Q·Kᵀ and O += P·V run on tensor cores (WMMA 16×16×16, f16 in, f32 accumulate);
// the online softmax between them runs on f32 scores, one warp per 8 query vectors.
//
// Rows of different sequences: the block runs one pass per distinct table_of_row among its
// rows (in order of first appearance); a pass loads the keys [min key_begin, max key_end) of
// its rows through their table and masks every other row. Rows of one sequence need one pass.

constexpr int kPrefillWarps = 8;
constexpr int kPrefillVectors = 64;  // query vectors per block

template <int kHeadDim>
struct PrefillShape {
  static constexpr int kM = kPrefillVectors;
  static constexpr int kN = kHeadDim >= 256 ? 32 : 64;  // keys per tile
  // Shared-memory row strides, padded against bank conflicts (WMMA: multiples of 16 bytes).
  static constexpr int kLdH = kHeadDim + 8;  // Q, K, V (f16)
  static constexpr int kLdS = kN + 4;        // scores (f32)
  static constexpr int kLdP = kN + 8;        // weights (f16)
  static constexpr int kLdO = kHeadDim + 4;  // output (f32)
  static constexpr size_t kQBytes = size_t{kM} * kLdH * 2;
  static constexpr size_t kKBytes = size_t{kN} * kLdH * 2;
  static constexpr size_t kSBytes = size_t{kM} * kLdS * 4;
  static constexpr size_t kPBytes = size_t{kM} * kLdP * 2;
  static constexpr size_t kOBytes = size_t{kM} * kLdO * 4;
  static constexpr size_t kBytes = kQBytes + 2 * kKBytes + kSBytes + kPBytes + kOBytes;
  static_assert(kQBytes % 128 == 0 && kKBytes % 128 == 0 && kSBytes % 128 == 0 &&
                    kPBytes % 128 == 0,
                "shared regions must keep 32-byte alignment for WMMA");
  static_assert(kBytes + 2048 <= 163 * 1024, "over the sm_80 shared-memory limit");
};

// Pointers into the dynamic shared memory.
template <int kHeadDim>
struct PrefillSmem {
  __half* q;
  __half* k;
  __half* v;
  float* s;
  __half* p;
  float* o;
};

template <int kHeadDim>
__device__ PrefillSmem<kHeadDim> CarvePrefillSmem(unsigned char* raw) {
  using Shape = PrefillShape<kHeadDim>;
  PrefillSmem<kHeadDim> m;
  m.q = reinterpret_cast<__half*>(raw);
  m.k = reinterpret_cast<__half*>(raw + Shape::kQBytes);
  m.v = reinterpret_cast<__half*>(raw + Shape::kQBytes + Shape::kKBytes);
  m.s = reinterpret_cast<float*>(raw + Shape::kQBytes + 2 * Shape::kKBytes);
  m.p = reinterpret_cast<__half*>(raw + Shape::kQBytes + 2 * Shape::kKBytes + Shape::kSBytes);
  m.o = reinterpret_cast<float*>(raw + Shape::kQBytes + 2 * Shape::kKBytes + Shape::kSBytes +
                                 Shape::kPBytes);
  return m;
}

// Per-block bookkeeping in static shared memory. Rows are local rows (< tile_rows), vectors
// are query vectors (< kM).
struct PrefillRows {
  int table[kPrefillVectors];  // table_of_row, -1 for rows past the end
  int begin[kPrefillVectors];
  int end[kPrefillVectors];
  int state[kPrefillVectors];  // 0 waiting, 1 in the current pass, 2 done
  float m[kPrefillVectors];    // per vector: running max of scaled scores
  float l[kPrefillVectors];    // per vector: running sum of the f16-rounded weights
  int pass_table, lo, hi;
};

// Keys and values of positions [base, base + kN) into shared memory; those >= hi are zero.
template <int kHeadDim>
__device__ void LoadKvTile(const AttendArgs& a, const int32_t* table, int h, int base, int hi,
                           const PrefillSmem<kHeadDim>& sm) {
  using Shape = PrefillShape<kHeadDim>;
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
  for (int i = threadIdx.x; i < Shape::kN * kChunks; i += blockDim.x) {
    const int j = i / kChunks, c = i % kChunks;
    const int pos = base + j;
    uint4 kraw = make_uint4(0, 0, 0, 0), vraw = kraw;
    if (pos < hi) {
      const uint16_t* row = a.base + KeyRowOffset(a, table, h, pos, kHeadDim) + c * 8;
      kraw = *reinterpret_cast<const uint4*>(row);
      vraw = *reinterpret_cast<const uint4*>(row + ValueShift(a, kHeadDim));
    }
    *reinterpret_cast<uint4*>(sm.k + j * Shape::kLdH + c * 8) = kraw;
    *reinterpret_cast<uint4*>(sm.v + j * Shape::kLdH + c * 8) = vraw;
  }
}

// S = Q · Kᵀ (unscaled) for the kM × kN tile.
template <int kHeadDim>
__device__ void ScoreTile(const PrefillSmem<kHeadDim>& sm) {
  using namespace nvcuda;
  using Shape = PrefillShape<kHeadDim>;
  constexpr int kTilesN = Shape::kN / 16;
  const int warp = threadIdx.x >> 5;
  for (int f = warp; f < (Shape::kM / 16) * kTilesN; f += kPrefillWarps) {
    const int mi = f / kTilesN, ni = f % kTilesN;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll 4
    for (int kk = 0; kk < kHeadDim / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qa;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kb;  // Kᵀ
      wmma::load_matrix_sync(qa, sm.q + mi * 16 * Shape::kLdH + kk * 16, Shape::kLdH);
      wmma::load_matrix_sync(kb, sm.k + ni * 16 * Shape::kLdH + kk * 16, Shape::kLdH);
      wmma::mma_sync(acc, qa, kb, acc);
    }
    wmma::store_matrix_sync(sm.s + mi * 16 * Shape::kLdS + ni * 16, acc, Shape::kLdS,
                            wmma::mem_row_major);
  }
}

// Online softmax over the tile of keys [base, base + kN): masks each vector's row to its own
// range (and to the current pass), writes the f16 weights P, updates m and l and rescales the
// vector's output row. One warp per kM / kPrefillWarps vectors.
template <int kHeadDim>
__device__ void SoftmaxTile(const AttendArgs& a, int base, PrefillRows& rows,
                            const PrefillSmem<kHeadDim>& sm) {
  using Shape = PrefillShape<kHeadDim>;
  constexpr int kPerLane = Shape::kN / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int v = warp; v < Shape::kM; v += kPrefillWarps) {
    const int r = v / a.group;  // < kM since group >= 1
    const bool active = rows.state[r] == 1;
    float score[kPerLane];
    float mx = rows.m[v];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int j = lane + 32 * i, pos = base + j;
      const bool in = active && pos >= rows.begin[r] && pos < rows.end[r];
      score[i] = in ? sm.s[v * Shape::kLdS + j] * a.scale : kNegInf;
      mx = fmaxf(mx, score[i]);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const float c = mx == kNegInf ? 1.0f : __expf(rows.m[v] - mx);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const __half p = __float2half_rn(mx == kNegInf ? 0.0f : __expf(score[i] - mx));
      sm.p[v * Shape::kLdP + lane + 32 * i] = p;
      sum += __half2float(p);  // normalise by the weights actually used
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (c != 1.0f) {
      for (int d = lane; d < kHeadDim; d += 32) sm.o[v * Shape::kLdO + d] *= c;
    }
    __syncwarp();  // every lane has read rows.m[v]
    if (lane == 0) {
      rows.l[v] = rows.l[v] * c + sum;
      rows.m[v] = mx;
    }
  }
}

// O += P · V for the kM × kHeadDim output.
template <int kHeadDim>
__device__ void AccumulateTile(const PrefillSmem<kHeadDim>& sm) {
  using namespace nvcuda;
  using Shape = PrefillShape<kHeadDim>;
  constexpr int kTilesD = kHeadDim / 16;
  const int warp = threadIdx.x >> 5;
  for (int f = warp; f < (Shape::kM / 16) * kTilesD; f += kPrefillWarps) {
    const int mi = f / kTilesD, ni = f % kTilesD;
    float* o = sm.o + mi * 16 * Shape::kLdO + ni * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::load_matrix_sync(acc, o, Shape::kLdO, wmma::mem_row_major);
#pragma unroll
    for (int kk = 0; kk < Shape::kN / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pa;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vb;
      wmma::load_matrix_sync(pa, sm.p + mi * 16 * Shape::kLdP + kk * 16, Shape::kLdP);
      wmma::load_matrix_sync(vb, sm.v + kk * 16 * Shape::kLdH + ni * 16, Shape::kLdH);
      wmma::mma_sync(acc, pa, vb, acc);
    }
    wmma::store_matrix_sync(o, acc, Shape::kLdO, wmma::mem_row_major);
  }
}

// Thread 0 picks the next pass: the rows that share the first waiting row's table, and the
// union of their key ranges. pass_table -1: all done.
__device__ void PlanPass(int tile_rows, PrefillRows& rows) {
  if (threadIdx.x != 0) return;
  int table = -1, lo = INT_MAX, hi = INT_MIN;
  for (int r = 0; r < tile_rows; ++r) {
    if (rows.state[r] == 1) rows.state[r] = 2;
    if (table < 0 && rows.state[r] == 0) table = rows.table[r];
  }
  for (int r = 0; r < tile_rows && table >= 0; ++r) {
    if (rows.state[r] != 0 || rows.table[r] != table) continue;
    rows.state[r] = 1;
    if (rows.begin[r] < rows.end[r]) {
      lo = min(lo, rows.begin[r]);
      hi = max(hi, rows.end[r]);
    }
  }
  rows.pass_table = table;
  rows.lo = lo;
  rows.hi = hi;
}

// Rows, queries (rounded to f16) and the zeroed output into shared memory.
template <int kHeadDim>
__device__ void LoadPrefillQueries(const AttendArgs& a, int row0, int tile_rows, int h,
                                   PrefillRows& rows, const PrefillSmem<kHeadDim>& sm) {
  using Shape = PrefillShape<kHeadDim>;
  for (int i = threadIdx.x; i < Shape::kM; i += blockDim.x) {
    const bool live = i < tile_rows && row0 + i < a.rows;
    rows.table[i] = live ? a.table_of_row[row0 + i] : -1;
    rows.begin[i] = live ? a.key_begin[row0 + i] : 0;
    rows.end[i] = live ? a.key_end[row0 + i] : 0;
    rows.state[i] = live ? 0 : 2;
    rows.m[i] = kNegInf;
    rows.l[i] = 0.0f;
  }
  for (int i = threadIdx.x; i < Shape::kM * kHeadDim; i += blockDim.x) {
    const int v = i / kHeadDim, d = i % kHeadDim;
    const int r = v / a.group, g = v % a.group;
    float x = 0.0f;
    if (r < tile_rows && row0 + r < a.rows) {
      x = a.q[(row0 + r) * a.q_stride + (static_cast<int64_t>(h) * a.group + g) * kHeadDim + d];
    }
    sm.q[v * Shape::kLdH + d] = __float2half_rn(x);
    sm.o[v * Shape::kLdO + d] = 0.0f;
  }
}

template <int kHeadDim>
__global__ void __launch_bounds__(kPrefillWarps * 32) AttendPrefillKernel(AttendArgs a) {
  using Shape = PrefillShape<kHeadDim>;
  extern __shared__ __align__(128) unsigned char prefill_smem[];
  const PrefillSmem<kHeadDim> sm = CarvePrefillSmem<kHeadDim>(prefill_smem);
  __shared__ PrefillRows rows;
  const int tile_rows = Shape::kM / a.group;
  const int row0 = blockIdx.x * tile_rows, h = blockIdx.y;

  LoadPrefillQueries<kHeadDim>(a, row0, tile_rows, h, rows, sm);
  __syncthreads();
  for (;;) {
    PlanPass(tile_rows, rows);
    __syncthreads();
    const int pass_table = rows.pass_table, lo = rows.lo, hi = rows.hi;
    if (pass_table < 0) break;
    const int32_t* table = a.tables + pass_table * a.table_stride;
    for (int base = lo; base < hi; base += Shape::kN) {
      LoadKvTile<kHeadDim>(a, table, h, base, hi, sm);
      __syncthreads();
      ScoreTile<kHeadDim>(sm);
      __syncthreads();
      SoftmaxTile<kHeadDim>(a, base, rows, sm);
      __syncthreads();
      AccumulateTile<kHeadDim>(sm);
      __syncthreads();
    }
    __syncthreads();  // everyone has read pass_table, lo, hi before thread 0 plans again
  }

  for (int i = threadIdx.x; i < Shape::kM * kHeadDim; i += blockDim.x) {
    const int v = i / kHeadDim, d = i % kHeadDim;
    const int r = v / a.group, g = v % a.group;
    if (r >= tile_rows || row0 + r >= a.rows) continue;
    const float l = rows.l[v];
    a.out[(row0 + r) * a.out_stride + (static_cast<int64_t>(h) * a.group + g) * kHeadDim + d] =
        l > 0.0f ? sm.o[v * Shape::kLdO + d] / l : 0.0f;
  }
}

template <int kHeadDim>
void LaunchPrefill(const AttendArgs& a, Stream stream) {
  using Shape = PrefillShape<kHeadDim>;
  // Above the default 48 KiB of dynamic shared memory; the call is cheap and not a stream op.
  cudaFuncSetAttribute(AttendPrefillKernel<kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(Shape::kBytes));
  const int tile_rows = Shape::kM / a.group;
  const dim3 grid((a.rows + tile_rows - 1) / tile_rows, a.n_kv_head);
  AttendPrefillKernel<kHeadDim><<<grid, kPrefillWarps * 32, Shape::kBytes, stream>>>(a);
}

}  // namespace

void StoreKv(const PagedLayer& layer, const float* k, const float* v, int64_t kv_stride,
             int64_t rows, const int32_t* slots, Stream stream) {
  if (rows <= 0) return;
  if (rows > INT_MAX) Fail("StoreKv rows", static_cast<long long>(rows));
  const int width = layer.n_kv_head * layer.head_dim;
  const int threads = width >= 256 ? 256 : (width + 31) / 32 * 32;
  StoreKvKernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(
      layer.base, layer.n_kv_head, layer.head_dim, layer.block_shift, layer.BlockElems(), k, v,
      kv_stride, slots);
}

size_t AttendDecodePartialFloats(int64_t rows, int n_head, int head_dim, int splits) {
  return static_cast<size_t>(rows) * n_head * splits * (head_dim + 2);
}

// Flash-decoding is AttendRangePieces with the pieces as the split partials, then their merge.
void AttendDecode(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                  float* partials, int splits, Stream stream) {
  AttendRangePieces(kv, rows, group, scale, partials, splits, 0, splits, stream);
  MergePieces(partials, rows.rows, kv.n_kv_head * group, kv.head_dim, splits, rows.out,
              rows.out_stride, stream);
}

void AttendPrefill(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                   Stream stream) {
  CheckShape(kv, rows, group);
  if (rows.rows == 0) return;
  const AttendArgs a = MakeArgs(kv, rows, group, scale);
  switch (kv.head_dim) {
    case 32:
      LaunchPrefill<32>(a, stream);
      break;
    case 64:
      LaunchPrefill<64>(a, stream);
      break;
    case 128:
      LaunchPrefill<128>(a, stream);
      break;
    default:
      LaunchPrefill<256>(a, stream);
      break;
  }
}

}  // namespace engram::kernels::cuda
