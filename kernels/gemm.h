// Dense float GEMM for encoders: Y = X · Wᵀ + b with W packed once at load time.
//
// Where kernels/matmul.h streams quantized weights for a few tokens (decode, small prefills), an
// encoder multiplies every weight by hundreds of tokens per call, so the weights are worth
// repacking into 32-row panels stored k-major ([k][32] floats): one panel row is two AVX-512
// vectors, and a register tile of up to 12 tokens × 32 outputs reuses every loaded weight 12
// times and every broadcast activation 32 times.
//
//   PackedMatrix w = PackMatrix(TensorType::kF32, data, row_bytes, rows, cols);   // at load
//   team.ParallelFor(0, w.panels(), 1, [&](size_t p0, size_t p1) {              // per call
//     Gemm(w, x, n, k, p0, p1, y, rows, bias);
//   });
//
// Threads split the panels between them (each panel writes its own 32 output columns).
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

}  // namespace engram::kernels
