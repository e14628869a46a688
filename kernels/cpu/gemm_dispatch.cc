// kernels/gemm.h: packing, cache blocking and the choice of panel kernel.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/internal/gemm_impl.h"
#include "kernels/quant.h"

namespace engram::kernels {

void PackedMatrix::Free::operator()(float* p) const { std::free(p); }

PackedMatrix PackMatrix(TensorType type, const void* data, size_t row_bytes, int64_t rows,
                        int64_t cols) {
  PackedMatrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  const size_t bytes = m.bytes();
  // 64-byte aligned so every panel row is one cache line (aligned_alloc wants a multiple).
  auto* out = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64));
  if (out == nullptr) throw std::bad_alloc();
  std::memset(out, 0, bytes);
  m.data_.reset(out);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes,
                  row.data(), cols);
    float* panel = out + (r / kGemmPanelRows) * cols * kGemmPanelRows;
    for (int64_t i = 0; i < cols; ++i) panel[i * kGemmPanelRows + r % kGemmPanelRows] = row[i];
  }
  return m;
}

std::string_view GemmIsaName(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAvx512: return "avx512";
    case GemmIsa::kAvx2: return "avx2";
    default: return "scalar";
  }
}

bool GemmIsaAvailable(GemmIsa isa) {
  const CpuFeatures& f = GetCpuFeatures();
  switch (isa) {
    case GemmIsa::kScalar: return true;
    case GemmIsa::kAvx2: return internal::GemmAvx2Built() && f.avx2 && f.fma;
    case GemmIsa::kAvx512: return internal::GemmAvx512Built() && f.avx512f;
  }
  return false;
}

GemmIsa ActiveGemmIsa() {
  static const GemmIsa active = [] {
    const char* cap = std::getenv("ENGRAM_KERNEL_ISA");
    const std::string_view want = cap != nullptr ? cap : "";
    if (want == "scalar") return GemmIsa::kScalar;
    if (want != "avx2" && GemmIsaAvailable(GemmIsa::kAvx512)) return GemmIsa::kAvx512;
    return GemmIsaAvailable(GemmIsa::kAvx2) ? GemmIsa::kAvx2 : GemmIsa::kScalar;
  }();
  return active;
}

void Gemm(const PackedMatrix& w, const float* x, int64_t n, size_t x_stride, int64_t panel_begin,
          int64_t panel_end, float* y, size_t y_stride, const float* bias) {
  GemmWith(ActiveGemmIsa(), w, x, n, x_stride, panel_begin, panel_end, y, y_stride, bias);
}

int GemmTokenTile(GemmIsa isa) {
  return isa == GemmIsa::kAvx512 ? 12 : isa == GemmIsa::kAvx2 ? 6 : 1;
}

size_t GemmTokensFloats(GemmIsa isa, int64_t n, int64_t k) {
  const int tile = GemmTokenTile(isa);
  return static_cast<size_t>((n + tile - 1) / tile * tile * k);
}

void PackGemmTokens(GemmIsa isa, const float* x, size_t x_stride, int64_t t_begin, int64_t t_end,
                    int64_t k, float* out) {
  internal::PackTokens(x + t_begin * x_stride, x_stride, t_end - t_begin, k, GemmTokenTile(isa),
                       out + t_begin * k);
}

void GemmPacked(GemmIsa isa, const PackedMatrix& w, const float* packed_tokens, int64_t n,
                int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
                const float* bias) {
  auto* panel_kernel = isa == GemmIsa::kAvx512 ? internal::GemmPanelAvx512
                       : isa == GemmIsa::kAvx2 ? internal::GemmPanelAvx2
                                               : internal::GemmPanelScalar;
  // Tokens in blocks whose packed activations (block × k floats) stay in L2 while every panel
  // of the range passes over them; a panel (k × 32 floats) is reread once per block.
  const int64_t k = w.cols();
  const int64_t block = std::max<int64_t>(12, (384 * 1024 / (std::max<int64_t>(k, 1) * 4)) / 12 * 12);
  for (int64_t t0 = 0; t0 < n; t0 += block) {
    for (int64_t p = panel_begin; p < panel_end; ++p) {
      const int64_t r0 = p * kGemmPanelRows;
      internal::GemmPanelArgs a{.panel = w.panel(p),
                                .k = k,
                                .x = packed_tokens + t0 * k,
                                .n = std::min(block, n - t0),
                                .y = y + t0 * y_stride + r0,
                                .y_stride = y_stride,
                                .valid = static_cast<int>(std::min(kGemmPanelRows, w.rows() - r0)),
                                .bias = bias != nullptr ? bias + r0 : nullptr};
      panel_kernel(a);
    }
  }
}

void GemmWith(GemmIsa isa, const PackedMatrix& w, const float* x, int64_t n, size_t x_stride,
              int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
              const float* bias) {
  std::vector<float> packed(GemmTokensFloats(isa, n, w.cols()));
  PackGemmTokens(isa, x, x_stride, 0, n, w.cols(), packed.data());
  GemmPacked(isa, w, packed.data(), n, panel_begin, panel_end, y, y_stride, bias);
}

}  // namespace engram::kernels
