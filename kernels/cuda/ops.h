// The CUDA kernels of the llama forward pass, callable from host C++ (no CUDA headers needed).
//
//   cuda::MatMul(w, x, k, n, y, w.rows, stream);          // y = x · Wᵀ, W in its GGUF type
//   cuda::RmsNorm(x, E, norm_w, n, E, eps, out, E, stream);
//   cuda::AttendDecode(kv, rows, group, scale, partials, splits, stream);
//
// Every function enqueues work on `stream` and returns at once; it never synchronises, so a
// decode step can be captured into a CUDA graph. Pointers are device memory. Launch errors
// surface through the next call of cuda::LastError() (kernels/cuda/runtime.h) or a
// synchronisation, which the caller turns into a Status. Each kernel has a CPU reference in
// kernels/cpu (named beside it) and a test against it (tests/cuda/, label `cuda`).
//
// Only in builds with CUDA (ENGRAM_HAVE_CUDA); the functions are defined in kernels/cuda/*.cu.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace engram::kernels::cuda {

using Stream = CUstream_st*;

// ---------------------------------------------------------------------------------------------
// Matrix products (kernels/cuda/matmul.cu). CPU reference: kernels/matmul.h, kernels/quant.h.

// A weight matrix in device memory, in its GGUF type: `rows` rows of `cols` elements, row r at
// data + r * row_bytes (row_bytes = TensorRowBytes(type, cols)).
struct DeviceMatrix {
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// Types MatMul and EmbedRows accept: f32, f16, bf16, q4_0, q4_1, q5_0, q8_0, q4_K, q6_K.
bool MatMulSupported(TensorType type);

// Products with at most this many input rows use the mat-vec kernel (every weight row read
// once for all of them); more use tensor-core tiles.
constexpr int kMatVecMaxRows = 8;

// y[t * y_stride + r] = Σ_k W[r][k] · x[t * x_stride + k], for t < n, r < w.rows
// (the CPU's MatMulRows with y_stride = w.rows). Picks MatVec or MatMulTensorCores by n.
void MatMul(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n, float* y,
            int64_t y_stride, Stream stream);
// The two paths, for tests and benchmarks. MatVec: n <= kMatVecMaxRows; one warp per weight
// row (or a few rows), blocks dequantized in registers, f32 accumulation. MatMulTensorCores:
// tiles of W dequantized to f16 in shared memory, x rounded to f16, f16 tensor-core products
// with f32 accumulation (any n >= 1; w.cols a multiple of 32).
void MatVec(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n, float* y,
            int64_t y_stride, Stream stream);
void MatMulTensorCores(const DeviceMatrix& w, const float* x, int64_t x_stride, int64_t n,
                       float* y, int64_t y_stride, Stream stream);

// out[t * table.cols + i] = scale · row tokens[t] of `table`, dequantized (token embeddings).
// `tokens`: n ids in device memory, each in [0, table.rows).
void EmbedRows(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float scale,
               float* out, Stream stream);

// ---------------------------------------------------------------------------------------------
// Row-wise and element-wise operations (kernels/cuda/elementwise.cu).

// RMSNorm of `rows` rows of `width` floats: out_r = x_r / sqrt(mean(x_r²) + eps) · weight.
// Row r at x + r * x_stride and out + r * out_stride; out may equal x (in place).
// CPU reference: RmsNorm in inference/llama_context.cc (squares summed in double there; here in
// f32 per thread, then a tree: differences stay within f32 rounding).
void RmsNorm(const float* x, int64_t x_stride, const float* weight, int64_t rows, int64_t width,
             float eps, float* out, int64_t out_stride, Stream stream);

// Rotary embedding in place: row t (at v + t * row_stride) holds `heads` heads of head_dim
// floats; the first rope_dim of each head rotate by angle i of row t, whose cosine and sine are
// cos[t * rope_dim / 2 + i] and sin[...] (the host computes them, so every scaling variant the
// CPU supports comes for free). Normal: pairs (2i, 2i+1); neox: pairs (i, i + rope_dim / 2).
void Rope(float* v, int64_t rows, int64_t row_stride, int heads, int head_dim, int rope_dim,
          bool neox, const float* cos, const float* sin, Stream stream);

// out[i] = act(gate[i]) · up[i] for i < count; act = silu (SwiGLU) or, with gelu_tanh, the tanh
// GELU (GeGLU). CPU: kernels::SwiGlu, kernels::GeluTanhGlu. out may equal gate.
void Glu(const float* gate, const float* up, float* out, int64_t count, bool gelu_tanh,
         Stream stream);

// x[i] += y[i] for i < count.
void Add(float* x, const float* y, int64_t count, Stream stream);

// x[r * width + i] += bias[i] for r < rows, i < width.
void AddBias(float* x, const float* bias, int64_t rows, int64_t width, Stream stream);

// ---------------------------------------------------------------------------------------------
// The paged KV cache and attention (kernels/cuda/attention.cu). CPU reference: kernels/attention.h.

// One layer's region of a paged f16 KV cache in device memory, laid out as the host's
// PagedKvCache: physical block b at base + b * BlockElems(), inside it keys then values, each
// [kv_head][position in block][head_dim].
struct PagedLayer {
  uint16_t* base = nullptr;  // f16 bits
  int n_kv_head = 0;
  int head_dim = 0;
  int block_shift = 4;  // log2(positions per block)

  int64_t BlockElems() const {
    return int64_t{2} * n_kv_head * (int64_t{1} << block_shift) * head_dim;
  }
};

// Writes `rows` rows of keys and values (each n_kv_head * head_dim floats, row r at
// k + r * kv_stride, v + r * kv_stride) to cache slots slots[r] = physical block · block size +
// position in block, rounded to f16 as the CPU does (round to nearest even).
void StoreKv(const PagedLayer& layer, const float* k, const float* v, int64_t kv_stride,
             int64_t rows, const int32_t* slots, Stream stream);

// Query rows for attention. Row r has n_head = group · n_kv_head query heads of head_dim floats
// at q + r * q_stride (head j at + j * head_dim); its output goes to out + r * out_stride in the
// same layout. It attends the keys [key_begin[r], key_end[r]) of the sequence whose block table
// is tables + table_of_row[r] * table_stride (logical block -> physical block). All arrays are
// in device memory.
struct AttentionRows {
  const float* q = nullptr;
  int64_t q_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
  int64_t rows = 0;
  const int32_t* table_of_row = nullptr;
  const int32_t* tables = nullptr;
  int64_t table_stride = 0;
  const int32_t* key_begin = nullptr;
  const int32_t* key_end = nullptr;
};

// Decode attention (flash-decoding): each (row, KV head) splits its keys into `splits` equal
// ranges, each attended by one thread block into a partial result (max, sum, output), then a
// second kernel merges the partials by log-sum-exp. The key count is read on the device, so a
// captured graph stays valid as the sequence grows. `partials` holds
// AttendDecodePartialFloats(rows, n_head, head_dim, splits) floats. The query is rounded to f16
// before the dot products, as kernels::AttendPartial does; the softmax weights stay in f32
// (the CPU rounds each piece's normalised weights to f16), so results agree within f16
// tolerance, not bit for bit.
size_t AttendDecodePartialFloats(int64_t rows, int n_head, int head_dim, int splits);
void AttendDecode(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                  float* partials, int splits, Stream stream);

// Prefill attention: tiles of consecutive query rows share every key and value load (shared
// memory), online softmax, each row masked to its own [key_begin, key_end) (causal, sliding
// windows). Made for rows of one sequence at consecutive positions; correct for any rows.
void AttendPrefill(const PagedLayer& kv, const AttentionRows& rows, int group, float scale,
                   Stream stream);

}  // namespace engram::kernels::cuda
