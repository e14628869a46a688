// kernels/cuda/ops.h: the row-wise and element-wise operations of the llama forward pass
// (RmsNorm, Rope, Glu, Add, AddBias). All are memory-bound; what matters is coalesced access and
// that each rounds as its CPU reference does.
//
// Products that the CPU computes as separate roundings (Rope's x0·c − x1·s) use __fmul_rn and
// __fadd_rn / __fsub_rn, which nvcc never contracts into an FMA, so they agree bit for bit.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace engram::kernels::cuda {
namespace {

constexpr int kThreads = 256;                 // every kernel here: 8 warps per block
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxGridBlocks = 65535;     // grid-stride loops cover the rest

// Blocks for a grid-stride loop over `count` items, at most kMaxGridBlocks; count > 0.
unsigned GridFor(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks);
}

// ---------------------------------------------------------------------------------------------
// RmsNorm: one block of kThreads per row.

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of `v` over the block, returned to every thread. Uses `shared` (kWarps floats) and
// ends with a barrier after its last read, so it may be called again at once.
__device__ float BlockSum(float v, float* shared) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  v = WarpSum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kWarps; ++w) total += shared[w];  // same order in every thread
  __syncthreads();
  return total;
}

// x and out may alias (in place): every element is read and written by the same thread, and
// all reads of a row (the sum of squares) finish before the barrier in BlockSum.
__global__ void __launch_bounds__(kThreads)
    RmsNormKernel(const float* x, int64_t x_stride, const float* __restrict__ weight,
                  int64_t rows, int width, float eps, float* out, int64_t out_stride) {
  __shared__ float partial[kWarps];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * x_stride;
    float* outr = out + r * out_stride;
    float sum = 0.0f;
    for (int i = threadIdx.x; i < width; i += kThreads) sum += xr[i] * xr[i];
    sum = BlockSum(sum, partial);
    // As the CPU: scale = 1 / sqrt(mean + eps) with IEEE division and square root (nvcc's
    // defaults without --use_fast_math), then (x · scale) · weight.
    const float scale = 1.0f / sqrtf(sum / static_cast<float>(width) + eps);
    for (int i = threadIdx.x; i < width; i += kThreads) {
      outr[i] = __fmul_rn(__fmul_rn(xr[i], scale), weight[i]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rope: one thread per (row, head, pair), pairs fastest so a warp touches one head's floats.

__global__ void __launch_bounds__(kThreads)
    RopeKernel(float* __restrict__ v, int64_t rows, int64_t row_stride, int heads, int head_dim,
               int half, bool neox, const float* __restrict__ cos,
               const float* __restrict__ sin) {
  const int64_t total = rows * heads * half;
  for (int64_t idx = blockIdx.x * int64_t{kThreads} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * kThreads) {
    const int i = static_cast<int>(idx % half);
    const int64_t row_head = idx / half;
    const int h = static_cast<int>(row_head % heads);
    const int64_t t = row_head / heads;
    float* head = v + t * row_stride + int64_t{h} * head_dim;
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    const float c = cos[t * half + i];
    const float s = sin[t * half + i];
    const float x0 = head[a];
    const float x1 = head[b];
    head[a] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    head[b] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
  }
}

// ---------------------------------------------------------------------------------------------
// Glu, Add, AddBias: grid-stride loops, one element per thread per step.

// silu(g) · up as kernels::SwiGlu: g / (1 + e^-g) · up, each step rounded.
__device__ __forceinline__ float SwiGluElement(float g, float up) {
  return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up);
}

// gelu_tanh(g) · up, the formula as llama.cpp's CUDA backend computes it (the CPU reads it from
// an f16 table instead: see GeluTanhGlu in kernels/attention.h).
__device__ __forceinline__ float GeluTanhGluElement(float g, float up) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoefA = 0.044715f;
  const float gelu = 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + kCoefA * g * g)));
  return gelu * up;
}

// gate and out may alias (element i is read before it is written, by the same thread).
template <bool kGeluTanh>
__global__ void __launch_bounds__(kThreads)
    GluKernel(const float* gate, const float* __restrict__ up, float* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * kThreads) {
    out[i] = kGeluTanh ? GeluTanhGluElement(gate[i], up[i]) : SwiGluElement(gate[i], up[i]);
  }
}

__global__ void __launch_bounds__(kThreads)
    AddKernel(float* __restrict__ x, const float* __restrict__ y, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * kThreads) {
    x[i] += y[i];
  }
}

// Columns across blockIdx.x (one thread each), rows across blockIdx.y: no division per element.
__global__ void __launch_bounds__(kThreads)
    AddBiasKernel(float* __restrict__ x, const float* __restrict__ bias, int64_t rows,
                  int64_t width) {
  const int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x;
  if (i >= width) return;
  const float b = bias[i];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) x[r * width + i] += b;
}

}  // namespace

void RmsNorm(const float* x, int64_t x_stride, const float* weight, int64_t rows, int64_t width,
             float eps, float* out, int64_t out_stride, Stream stream) {
  if (rows <= 0 || width <= 0) return;
  const unsigned grid = static_cast<unsigned>(rows < kMaxGridBlocks ? rows : kMaxGridBlocks);
  RmsNormKernel<<<grid, kThreads, 0, stream>>>(x, x_stride, weight, rows,
                                               static_cast<int>(width), eps, out, out_stride);
}

void Rope(float* v, int64_t rows, int64_t row_stride, int heads, int head_dim, int rope_dim,
          bool neox, const float* cos, const float* sin, Stream stream) {
  const int half = rope_dim / 2;
  if (rows <= 0 || heads <= 0 || half <= 0) return;
  RopeKernel<<<GridFor(rows * heads * half), kThreads, 0, stream>>>(v, rows, row_stride, heads,
                                                                    head_dim, half, neox, cos, sin);
}

void Glu(const float* gate, const float* up, float* out, int64_t count, bool gelu_tanh,
         Stream stream) {
  if (count <= 0) return;
  if (gelu_tanh) {
    GluKernel<true><<<GridFor(count), kThreads, 0, stream>>>(gate, up, out, count);
  } else {
    GluKernel<false><<<GridFor(count), kThreads, 0, stream>>>(gate, up, out, count);
  }
}

void Add(float* x, const float* y, int64_t count, Stream stream) {
  if (count <= 0) return;
  AddKernel<<<GridFor(count), kThreads, 0, stream>>>(x, y, count);
}

void AddBias(float* x, const float* bias, int64_t rows, int64_t width, Stream stream) {
  if (rows <= 0 || width <= 0) return;
  const dim3 grid(static_cast<unsigned>((width + kThreads - 1) / kThreads),
                  static_cast<unsigned>(rows < kMaxGridBlocks ? rows : kMaxGridBlocks));
  AddBiasKernel<<<grid, kThreads, 0, stream>>>(x, bias, rows, width);
}

}  // namespace engram::kernels::cuda
