// Matrix products y = x · Wᵀ with W in its GGUF type, and embedding lookups (kernels/cuda/ops.h).
//
// MatVec (n <= 8 input rows, decode): a group of `lanes` (8, 16 or 32) lanes of a warp owns
// kRowsPerGroup weight rows; its lanes stride over the 32-element chunks of those rows, dequantize
// each chunk in registers (quant_blocks.cuh) and multiply it with all n input rows, which the
// block stages in shared memory a slab at a time; a shuffle reduction ends each dot product.
// Every weight byte is read once for all n inputs. f32 throughout.
//
// MatMulTensorCores (any n): 64 weight rows x 64 input rows per block, k in steps of 32; the W
// tile is dequantized to f16 and the x tile rounded to f16 in shared memory, 4 warps each
// compute a 32x32 piece with 16x16x16 WMMA products accumulated in f32.
//
// Both need w.cols % 32 == 0 (automatic for quantized types; for f32/f16/bf16 a precondition,
// checked on the host). Programming errors (an unsupported type, a bad shape) abort with a
// message: callers check MatMulSupported first.
//
// Performance follow-ups, not done yet: the tensor-core path loads one weight chunk per thread
// (rows apart, poorly coalesced) with no double buffering; MatVec could quantize x to q8_1 and
// use dp4a, as llama.cpp does, to cut the shared-memory traffic that bounds it for n > 2.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/quant_blocks.cuh"

namespace engram::kernels::cuda {

namespace {

using internal::DequantChunk;

[[noreturn]] void Fail(const char* op, const char* what, TensorType type) {
  const std::string_view name = TensorTypeName(type);
  std::fprintf(stderr, "engram: cuda::%s: %s (weight type %.*s)\n", op, what,
               static_cast<int>(name.size()), name.data());
  std::abort();
}

// Preconditions shared by every entry point.
void CheckMatrix(const DeviceMatrix& w, const char* op) {
  if (!MatMulSupported(w.type)) Fail(op, "unsupported weight type", w.type);
  if (w.rows < 0 || w.cols < 0 || w.cols % 32 != 0 || w.cols / 32 > INT32_MAX) {
    Fail(op, "cols must be a non-negative multiple of 32", w.type);
  }
}

// Calls f(std::integral_constant<TensorType, T>{}) for the runtime type (which is supported).
template <typename F>
void DispatchType(TensorType type, F&& f) {
  switch (type) {
    case TensorType::kF32: return f(std::integral_constant<TensorType, TensorType::kF32>{});
    case TensorType::kF16: return f(std::integral_constant<TensorType, TensorType::kF16>{});
    case TensorType::kBF16: return f(std::integral_constant<TensorType, TensorType::kBF16>{});
    case TensorType::kQ4_0: return f(std::integral_constant<TensorType, TensorType::kQ4_0>{});
    case TensorType::kQ4_1: return f(std::integral_constant<TensorType, TensorType::kQ4_1>{});
    case TensorType::kQ5_0: return f(std::integral_constant<TensorType, TensorType::kQ5_0>{});
    case TensorType::kQ8_0: return f(std::integral_constant<TensorType, TensorType::kQ8_0>{});
    case TensorType::kQ4_K: return f(std::integral_constant<TensorType, TensorType::kQ4_K>{});
    case TensorType::kQ6_K: return f(std::integral_constant<TensorType, TensorType::kQ6_K>{});
    default: Fail("DispatchType", "unsupported weight type", type);
  }
}

// Calls f(std::integral_constant<int, N>{}) for 1 <= n <= kMatVecMaxRows.
template <int N = 1, typename F>
void DispatchRows(int64_t n, F&& f) {
  if constexpr (N <= kMatVecMaxRows) {
    if (n == N) return f(std::integral_constant<int, N>{});
    return DispatchRows<N + 1>(n, f);
  }
}

// ---------------------------------------------------------------------------------------------
// MatVec

constexpr int kMatVecWarps = 8;
constexpr int kRowsPerGroup = 2;           // weight rows a lane group works on together
constexpr int kSlabFloats = 8192;          // 32 KiB of x per slab in shared memory

// Copies chunks [first, first + count) of the N input rows into `slab`, arranged so that lanes
// reading consecutive chunks read consecutive float4s (no bank conflicts): float4 number
// (t * 8 + i) * count + c holds elements 4i..4i+3 of chunk first + c of row t. Thread s writes
// float s, so the shared stores are conflict-free too.
template <int N>
__device__ void StageSlab(const float* __restrict__ x, int64_t x_stride, int first, int count,
                          float* slab) {
  const int per_row = 32 * count;
  for (int s = threadIdx.x; s < N * per_row; s += blockDim.x) {
    const int t = s / per_row, rest = s % per_row;
    const int i = rest / (4 * count), c = (rest / 4) % count, e = rest % 4;
    slab[s] = x[t * x_stride + 32 * static_cast<int64_t>(first + c) + 4 * i + e];
  }
}

// One block: kMatVecWarps warps; each warp is 32 / lanes groups; group g (numbered across the
// grid) computes rows [kRowsPerGroup * g, kRowsPerGroup * (g + 1)) for all N inputs. Rows past
// the end are clamped to the last row (wasted work, never written), so every thread reaches the
// barriers and the shuffles.
template <TensorType T, int N>
__global__ void __launch_bounds__(kMatVecWarps * 32)
    MatVecKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int chunks,
                 int lanes, const float* __restrict__ x, int64_t x_stride, float* __restrict__ y,
                 int64_t y_stride) {
  __shared__ float4 slab[kSlabFloats / 4];
  const int group_lane = static_cast<int>(threadIdx.x) % lanes;
  const int64_t group = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / lanes;
  const int64_t first_row = group * kRowsPerGroup;
  // Row first_row + r is at wrow0 + r * row_step; a row past the end reads the last valid one.
  static_assert(kRowsPerGroup == 2, "the clamping below handles pairs");
  const uint8_t* wrow0 = w + min(first_row, rows - 1) * row_bytes;
  const size_t row_step = first_row + 1 < rows ? row_bytes : 0;
  // A multiple of `lanes`, so that every lane has the same number of chunks in a full slab.
  const int slab_chunks = kSlabFloats / (32 * N) / lanes * lanes;

  float acc[kRowsPerGroup][N];
#pragma unroll
  for (int r = 0; r < kRowsPerGroup; ++r)
#pragma unroll
    for (int t = 0; t < N; ++t) acc[r][t] = 0.0f;

  for (int first = 0; first < chunks; first += slab_chunks) {
    const int count = min(slab_chunks, chunks - first);
    __syncthreads();  // the previous slab is consumed
    StageSlab<N>(x, x_stride, first, count, reinterpret_cast<float*>(slab));
    __syncthreads();
    for (int c = group_lane; c < count; c += lanes) {
      float wv[kRowsPerGroup][32];
#pragma unroll
      for (int r = 0; r < kRowsPerGroup; ++r) DequantChunk<T>(wrow0 + r * row_step, first + c, wv[r]);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int t = 0; t < N; ++t) {
          const float4 xv = slab[(t * 8 + i) * count + c];
#pragma unroll
          for (int r = 0; r < kRowsPerGroup; ++r) {
            float a = acc[r][t];
            a = fmaf(wv[r][4 * i], xv.x, a);
            a = fmaf(wv[r][4 * i + 1], xv.y, a);
            a = fmaf(wv[r][4 * i + 2], xv.z, a);
            acc[r][t] = fmaf(wv[r][4 * i + 3], xv.w, a);
          }
        }
      }
    }
  }

  // Groups are aligned runs of `lanes` lanes, so xor offsets below `lanes` stay inside a group.
#pragma unroll
  for (int r = 0; r < kRowsPerGroup; ++r) {
#pragma unroll
    for (int t = 0; t < N; ++t) {
      float v = acc[r][t];
      for (int offset = lanes / 2; offset > 0; offset /= 2) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
      }
      if (group_lane == 0 && first_row + r < rows) y[t * y_stride + first_row + r] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor cores

constexpr int kTile = 64;          // weight rows and input rows per block
constexpr int kTileK = 32;         // k per step: one chunk
constexpr int kHalfLd = kTileK + 8;  // padded row (80 bytes): rows land in different banks
constexpr int kOutLd = kTile + 4;    // padded f32 output row
constexpr int kTcThreads = 128;      // 4 warps, 2 x 2 over the 64 x 64 tile

namespace wmma = nvcuda::wmma;

// Warps 0-1 (threads 0-63): thread r dequantizes chunk `chunk` of weight row row0 + r to f16
// (zeros past the last row). Warps 2-3: the 64 x 32 x tile, coalesced, to f16 (zeros past n).
template <TensorType T>
__device__ void LoadTiles(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows,
                          int64_t row0, const float* __restrict__ x, int64_t x_stride, int64_t n,
                          int64_t tok0, int chunk, __half (*ws)[kHalfLd],
                          __half (*xs)[kHalfLd]) {
  const int tid = threadIdx.x;
  if (tid < kTile) {
    float v[32];
    if (row0 + tid < rows) {
      DequantChunk<T>(w + (row0 + tid) * row_bytes, chunk, v);
    } else {
#pragma unroll
      for (int j = 0; j < 32; ++j) v[j] = 0.0f;
    }
    uint32_t packed[16];
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      packed[j] = static_cast<uint32_t>(__half_as_ushort(__float2half_rn(v[2 * j]))) |
                  static_cast<uint32_t>(__half_as_ushort(__float2half_rn(v[2 * j + 1]))) << 16;
    }
    uint4* dst = reinterpret_cast<uint4*>(&ws[tid][0]);  // 80-byte rows: 16-byte aligned
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      dst[q] = make_uint4(packed[4 * q], packed[4 * q + 1], packed[4 * q + 2], packed[4 * q + 3]);
    }
  } else {
    for (int e = tid - kTile; e < kTile * kTileK; e += kTcThreads - kTile) {
      const int t = e / kTileK, kk = e % kTileK;
      const int64_t tok = tok0 + t;
      const float v = tok < n ? x[tok * x_stride + int64_t{kTileK} * chunk + kk] : 0.0f;
      xs[t][kk] = __float2half_rn(v);
    }
  }
}

// C[r][t] = Σ_k W[r][k] X[t][k]: A = W tile (row-major), B = X tileᵀ, i.e. the x tile read
// column-major. The f32 result goes through shared memory as cs[t][r] so that the global
// stores run along r (y[t * y_stride + r]) and are coalesced.
template <TensorType T>
__global__ void __launch_bounds__(kTcThreads)
    MatMulTcKernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int chunks,
                   const float* __restrict__ x, int64_t x_stride, int64_t n,
                   float* __restrict__ y, int64_t y_stride) {
  // WMMA pointers must be 32-byte aligned: rows of 80 / 272 bytes, offsets of 16 elements.
  __shared__ __align__(32) __half ws[kTile][kHalfLd];
  __shared__ __align__(32) __half xs[kTile][kHalfLd];
  __shared__ __align__(32) float cs[kTile][kOutLd];
  const int64_t row0 = int64_t{blockIdx.x} * kTile, tok0 = int64_t{blockIdx.y} * kTile;
  const int warp = threadIdx.x / 32;
  const int wr = 32 * (warp / 2), wt = 32 * (warp % 2);  // this warp's rows and tokens

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int c = 0; c < chunks; ++c) {
    LoadTiles<T>(w, row_bytes, rows, row0, x, x_stride, n, tok0, c, ws, xs);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &ws[wr + 16 * i][kk], kHalfLd);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &xs[wt + 16 * j][kk], kHalfLd);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // the tiles are consumed before the next step overwrites them
  }

  // Element (m, t) of acc[i][j] goes to cs[wt + 16j + t][wr + 16i + m] (column-major store).
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&cs[wt + 16 * j][wr + 16 * i], acc[i][j], kOutLd,
                              wmma::mem_col_major);
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * kTile; e += kTcThreads) {
    const int t = e / kTile, r = e % kTile;
    if (tok0 + t < n && row0 + r < rows) y[(tok0 + t) * y_stride + row0 + r] = cs[t][r];
  }
}

// ---------------------------------------------------------------------------------------------
// Embeddings

constexpr int kEmbedThreads = 128;

// Block t writes row tokens[t], one chunk per thread at a time.
template <TensorType T>
__global__ void __launch_bounds__(kEmbedThreads)
    EmbedRowsKernel(const uint8_t* __restrict__ table, size_t row_bytes, int chunks,
                    int64_t cols, const int32_t* __restrict__ tokens, float scale,
                    float* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const uint8_t* row = table + static_cast<int64_t>(tokens[t]) * row_bytes;
  float* dst = out + t * cols;
  for (int c = threadIdx.x; c < chunks; c += kEmbedThreads) {
    float v[32];
    DequantChunk<T>(row, c, v);
#pragma unroll
    for (int j = 0; j < 32; ++j) dst[32 * c + j] = __fmul_rn(scale, v[j]);
  }
}

}  // namespace

bool MatMulSupported(TensorType type) { return internal::IsChunkType(type); }

void MatVec(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n, float* y,
            int64_t y_stride, Stream stream) {
  CheckMatrix(w, "MatVec");
  if (n < 0 || n > kMatVecMaxRows) Fail("MatVec", "n must be in [0, kMatVecMaxRows]", w.type);
  if (n == 0 || w.rows == 0) return;
  const int chunks = static_cast<int>(w.cols / 32);
  // Lanes per row: small rows share a warp instead of leaving most lanes idle.
  const int lanes = chunks >= 32 ? 32 : chunks >= 16 ? 16 : 8;
  const int64_t rows_per_block = int64_t{kMatVecWarps} * (32 / lanes) * kRowsPerGroup;
  const int64_t blocks = (w.rows + rows_per_block - 1) / rows_per_block;
  if (blocks > INT32_MAX) Fail("MatVec", "too many rows", w.type);
  const uint8_t* data = static_cast<const uint8_t*>(w.data);
  DispatchType(w.type, [&](auto type) {
    DispatchRows(n, [&](auto rows) {
      MatVecKernel<decltype(type)::value, decltype(rows)::value>
          <<<static_cast<unsigned>(blocks), kMatVecWarps * 32, 0, stream>>>(
              data, w.row_bytes, w.rows, chunks, lanes, x, x_stride, y, y_stride);
    });
  });
}

void MatMulTensorCores(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n,
                       float* y, int64_t y_stride, Stream stream) {
  CheckMatrix(w, "MatMulTensorCores");
  if (n < 0) Fail("MatMulTensorCores", "negative n", w.type);
  if (n == 0 || w.rows == 0) return;
  const int64_t row_tiles = (w.rows + kTile - 1) / kTile;
  const int64_t tok_tiles = (n + kTile - 1) / kTile;
  if (row_tiles > INT32_MAX || tok_tiles > 65535) {
    Fail("MatMulTensorCores", "shape exceeds the grid", w.type);
  }
  const int chunks = static_cast<int>(w.cols / 32);
  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(tok_tiles));
  const uint8_t* data = static_cast<const uint8_t*>(w.data);
  DispatchType(w.type, [&](auto type) {
    MatMulTcKernel<decltype(type)::value><<<grid, kTcThreads, 0, stream>>>(
        data, w.row_bytes, w.rows, chunks, x, x_stride, n, y, y_stride);
  });
}

void MatMul(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n, float* y,
            int64_t y_stride, Stream stream) {
  if (n <= kMatVecMaxRows) {
    MatVec(w, x, x_stride, n, y, y_stride, stream);
  } else {
    MatMulTensorCores(w, x, x_stride, n, y, y_stride, stream);
  }
}

void EmbedRows(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float scale,
               float* out, Stream stream) {
  CheckMatrix(table, "EmbedRows");
  if (n < 0 || n > INT32_MAX) Fail("EmbedRows", "n out of range", table.type);
  if (n == 0 || table.cols == 0) return;
  const int chunks = static_cast<int>(table.cols / 32);
  const uint8_t* data = static_cast<const uint8_t*>(table.data);
  DispatchType(table.type, [&](auto type) {
    EmbedRowsKernel<decltype(type)::value>
        <<<static_cast<unsigned>(n), kEmbedThreads, 0, stream>>>(
            data, table.row_bytes, chunks, table.cols, tokens, scale, out);
  });
}

}  // namespace engram::kernels::cuda
