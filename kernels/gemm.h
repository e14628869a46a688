// Dense float GEMM for encoders: Y = X · Wᵀ + b with W packed once at load time.
//
// Where kernels/matmul.h streams quantized weights for a few tokens (decode, small prefills), an
// encoder multiplies every weight by hundreds of tokens per call, so the weights are worth
// repacking into 32-row panels stored k-major ([k][32] floats): one panel row is two AVX-512
// vectors, and a register tile of up to 12 tokens × 32 outputs reuses every loaded weight 12
// times and every broadcast activation 32 times.
//
//   PackedMatrix w = PackMatrix(TensorType::kF32, data, row_bytes, rows, cols);   // at load
//   Gemm(w, x, n, k, 0, w.panels(), y, rows, bias);                               // one thread
//
// Several threads pack the activations once and split the panels (each panel writes its own 32
// output columns):
//   std::vector<float> xp(GemmTokensFloats(isa, n, k));
//   PackGemmTokens(isa, x, k, 0, n, k, xp.data());        // any token ranges, one per thread
//   team.ParallelFor(0, w.panels(), 1, [&](size_t p0, size_t p1) {
//     GemmPacked(isa, w, xp.data(), n, p0, p1, y, rows, bias);
//   });
// Accumulation is in f32, k ascending, one FMA per product on every path; the paths differ from
// one another only by the contraction of the scalar reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/tensor_type.h"

namespace engram::kernels {

inline constexpr int64_t kGemmPanelRows = 32;

// W packed for Gemm: panel p holds rows [32p, 32p + 32) as cols × 32 floats, column-major within
// the panel; rows past `rows` are zero.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t panels() const { return (rows_ + kGemmPanelRows - 1) / kGemmPanelRows; }
  const float* panel(int64_t p) const { return data_.get() + p * cols_ * kGemmPanelRows; }
  size_t bytes() const { return static_cast<size_t>(panels() * cols_ * kGemmPanelRows) * 4; }

 private:
  friend PackedMatrix PackMatrix(TensorType, const void*, size_t, int64_t, int64_t);
  struct Free {
    void operator()(float* p) const;
  };
  int64_t rows_ = 0, cols_ = 0;
  std::unique_ptr<float[], Free> data_;
};

// Packs `rows` rows of `cols` elements of any DequantizeRow type (row r at data + r * row_bytes).
PackedMatrix PackMatrix(TensorType type, const void* data, size_t row_bytes, int64_t rows,
                        int64_t cols);

enum class GemmIsa {
  kScalar,  // the reference
  kAvx2,    // AVX2 + FMA: 6 tokens × 16 outputs tiles
  kAvx512,  // AVX-512F: 12 tokens × 32 outputs tiles
};

std::string_view GemmIsaName(GemmIsa isa);
bool GemmIsaAvailable(GemmIsa isa);
// The best available; ENGRAM_KERNEL_ISA=scalar or =avx2 (read once) caps it for debugging.
GemmIsa ActiveGemmIsa();

// y[t * y_stride + r] = bias[r] + Σ_j x[t * x_stride + j] · W[r][j] for t in [0, n) and r in the
// rows of panels [panel_begin, panel_end). `bias` may be null (zero).
void Gemm(const PackedMatrix& w, const float* x, int64_t n, size_t x_stride, int64_t panel_begin,
          int64_t panel_end, float* y, size_t y_stride, const float* bias);
void GemmWith(GemmIsa isa, const PackedMatrix& w, const float* x, int64_t n, size_t x_stride,
              int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
              const float* bias);

// The two steps of Gemm, for callers that share packed activations between threads.
// Tokens are packed in tiles of GemmTokenTile(isa) rows.
int GemmTokenTile(GemmIsa isa);
size_t GemmTokensFloats(GemmIsa isa, int64_t n, int64_t k);
// Packs tokens [t_begin, t_end) of x (row t at x + t * x_stride) into `out` (which holds
// GemmTokensFloats(isa, n, k) floats for all n tokens). t_begin must be a multiple of the tile;
// t_end is a multiple of it or n.
void PackGemmTokens(GemmIsa isa, const float* x, size_t x_stride, int64_t t_begin, int64_t t_end,
                    int64_t k, float* out);
void GemmPacked(GemmIsa isa, const PackedMatrix& w, const float* packed_tokens, int64_t n,
                int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
                const float* bias);

}  // namespace engram::kernels
