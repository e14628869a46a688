// Dense GEMM for encoders: Y = X · Wᵀ + b with W packed once at load time.
//
// Where kernels/matmul.h streams quantized weights for a few tokens (decode, small prefills), an
// encoder multiplies every weight by hundreds of tokens per call, so the weights are worth
// repacking into 32-row panels stored k-major: one panel row is two AVX-512 vectors, and a
// register tile of 12 tokens × 32 outputs reuses every loaded weight 12 times and every
// broadcast activation 32 times. The tokens are packed too (tiles of 12, k-major), so one
// pointer reaches every broadcast.
//
//   PackedMatrix w = PackMatrix(TensorType::kF32, data, row_bytes, rows, cols);   // at load
//   Gemm(w, x, n, k, 0, w.panels(), y, rows, bias);                               // one thread
//
// Several threads pack the activations once and split the panels (each panel writes its own 32
// output columns):
//   std::vector<float> xp(GemmTokensFloats(isa, w, n));
//   PackGemmTokens(isa, w, x, k, 0, n, xp.data());        // any token ranges, one per thread
//   team.ParallelFor(0, w.panels(), 1, [&](size_t p0, size_t p1) {
//     GemmPacked(isa, w, xp.data(), n, p0, p1, y, rows, bias);
//   });
//
// Precision. kF32: f32 products and sums, k ascending, one FMA per product on every path (the
// paths differ only by the scalar reference's contraction). kBf16: weights and activations are
// rounded to bfloat16 (round to nearest even; 8 significant bits) and multiplied in pairs with
// f32 sums (AMX's tdpbf16ps, or AVX512_BF16's vdpbf16ps): relative error per product about
// 2^-8. With AMX several times the f32 rate; CPUs without either run bf16 matrices on the
// scalar reference (slow, the same operands). kInt8: each weight row and each token is quantized
// symmetrically to int8 with its own scale (max|v| / 127: relative error per element up to
// 2^-8 of the row's largest), multiplied in exact int32 sums (AVX512_VNNI's vpdpbusd, 4 products
// per lane) and rescaled; every path gives the same bits. About 4× the f32 rate's products per
// instruction; CPUs without VNNI run it on the scalar reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/tensor_type.h"

namespace engram::kernels {

inline constexpr int64_t kGemmPanelRows = 32;

enum class GemmPrecision { kF32, kBf16, kInt8 };

// W packed for Gemm. kF32: panel p holds rows [32p, 32p + 32) as cols × 32 floats. kBf16: as
// kp / 2 × 32 × 2 bf16 (pairs of consecutive columns per row), kp = cols rounded up to a
// multiple of 32 with zero columns. kInt8: kq / 4 × 32 × 4 int8 (quads of consecutive columns
// per row, kq = cols rounded up to a multiple of 4), then the rows' scales and zero-point terms
// (kernels/internal/gemm_impl.h). Rows past `rows` are zero.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  GemmPrecision precision() const { return precision_; }
  int64_t panels() const { return (rows_ + kGemmPanelRows - 1) / kGemmPanelRows; }
  size_t panel_bytes() const;
  const void* panel(int64_t p) const { return data_.get() + p * panel_bytes(); }
  size_t bytes() const { return panel_bytes() * static_cast<size_t>(panels()); }

 private:
  friend PackedMatrix PackMatrix(TensorType, const void*, size_t, int64_t, int64_t,
                                 GemmPrecision);
  struct Free {
    void operator()(uint8_t* p) const;
  };
  int64_t rows_ = 0, cols_ = 0;
  GemmPrecision precision_ = GemmPrecision::kF32;
  std::unique_ptr<uint8_t[], Free> data_;
};

// Packs `rows` rows of `cols` elements of any DequantizeRow type (row r at data + r * row_bytes).
PackedMatrix PackMatrix(TensorType type, const void* data, size_t row_bytes, int64_t rows,
                        int64_t cols, GemmPrecision precision = GemmPrecision::kF32);

enum class GemmIsa {
  kScalar,      // the reference
  kAvx2,        // AVX2 + FMA: 6 tokens × 16 outputs tiles (f32)
  kAvx512,      // AVX-512F: 12 tokens × 32 outputs tiles (f32)
  kAvx512Bf16,  // kAvx512, plus AVX512_BF16 tiles for bf16 matrices (vdpbf16ps: on Sapphire
                //   Rapids no faster than f32 FMAs, so only a fallback)
  kAmxBf16,     // kAvx512, plus AMX tiles for bf16 matrices: 32 tokens × 32 outputs blocks
};

std::string_view GemmIsaName(GemmIsa isa);
bool GemmIsaAvailable(GemmIsa isa);
// The best available; ENGRAM_KERNEL_ISA=scalar, =avx2 or =avx512 (read once) caps it.
GemmIsa ActiveGemmIsa();
// Whether bf16 matrices run much faster than f32 here (ActiveGemmIsa() is kAmxBf16).
bool FastBf16Gemm();
// Whether int8 matrices run on a SIMD kernel here (AVX512_VNNI under an AVX-512 ISA) rather than
// the scalar reference.
bool FastInt8Gemm();

// y[t * y_stride + r] = bias[r] + Σ_j x[t * x_stride + j] · W[r][j] for t in [0, n) and r in the
// rows of panels [panel_begin, panel_end). `bias` may be null (zero).
void Gemm(const PackedMatrix& w, const float* x, int64_t n, size_t x_stride, int64_t panel_begin,
          int64_t panel_end, float* y, size_t y_stride, const float* bias);
void GemmWith(GemmIsa isa, const PackedMatrix& w, const float* x, int64_t n, size_t x_stride,
              int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
              const float* bias);

// The two steps of Gemm, for callers that share packed activations between threads. Tokens are
// packed in tiles of GemmTokenTile(isa, w) rows, in w's precision.
int GemmTokenTile(GemmIsa isa, const PackedMatrix& w);
size_t GemmTokensFloats(GemmIsa isa, const PackedMatrix& w, int64_t n);
// Packs tokens [t_begin, t_end) of x (row t at x + t * x_stride, w.cols() floats) into `out`,
// which holds GemmTokensFloats(isa, w, n) floats for all n tokens. t_begin must be a multiple
// of the tile; t_end a multiple of it or n.
void PackGemmTokens(GemmIsa isa, const PackedMatrix& w, const float* x, size_t x_stride,
                    int64_t t_begin, int64_t t_end, float* out);
void GemmPacked(GemmIsa isa, const PackedMatrix& w, const float* packed_tokens, int64_t n,
                int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
                const float* bias);

}  // namespace engram::kernels
