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
namespace {

struct PanelKernel {
  void (*run)(const internal::GemmPanelArgs&);
  int tile;
};

bool VnniUsable(GemmIsa isa) {
  return (isa == GemmIsa::kAvx512 || isa == GemmIsa::kAvx512Bf16 || isa == GemmIsa::kAmxBf16) &&
         internal::GemmAvx512VnniBuilt() && GetCpuFeatures().avx512vnni;
}

PanelKernel KernelFor(GemmIsa isa, const PackedMatrix& w) {
  if (w.precision() == GemmPrecision::kInt8) {
    return VnniUsable(isa) ? PanelKernel{internal::GemmPanelAvx512Vnni, 12}
                           : PanelKernel{internal::GemmPanelScalarInt8, 1};
  }
  if (w.precision() == GemmPrecision::kBf16) {
    if (isa == GemmIsa::kAmxBf16) return {internal::GemmPanelAmxBf16, 32};
    return isa == GemmIsa::kAvx512Bf16 ? PanelKernel{internal::GemmPanelAvx512Bf16, 12}
                                       : PanelKernel{internal::GemmPanelScalarBf16, 1};
  }
  switch (isa) {
    case GemmIsa::kAmxBf16:
    case GemmIsa::kAvx512Bf16:
    case GemmIsa::kAvx512: return {internal::GemmPanelAvx512, 12};
    case GemmIsa::kAvx2: return {internal::GemmPanelAvx2, 6};
    default: return {internal::GemmPanelScalar, 1};
  }
}

int64_t PaddedCols(GemmPrecision precision, int64_t cols) {
  switch (precision) {
    case GemmPrecision::kBf16: return (cols + 31) / 32 * 32;
    case GemmPrecision::kInt8: return (cols + 3) / 4 * 4;
    default: return cols;
  }
}
int64_t PaddedCols(const PackedMatrix& w) { return PaddedCols(w.precision(), w.cols()); }

// Floats one packed token occupies (bf16: kp / 2; int8: kq / 4 quads and the token's scale).
int64_t TokenFloats(const PackedMatrix& w) {
  switch (w.precision()) {
    case GemmPrecision::kBf16: return PaddedCols(w) / 2;
    case GemmPrecision::kInt8: return PaddedCols(w) / 4 + 1;
    default: return w.cols();
  }
}

}  // namespace

void PackedMatrix::Free::operator()(uint8_t* p) const { std::free(p); }

size_t PackedMatrix::panel_bytes() const {
  const auto padded = static_cast<size_t>(PaddedCols(precision_, cols_));
  switch (precision_) {
    case GemmPrecision::kBf16: return padded * kGemmPanelRows * 2;
    case GemmPrecision::kInt8: return padded * kGemmPanelRows + kGemmPanelRows * 8;
    default: return padded * kGemmPanelRows * 4;
  }
}

PackedMatrix PackMatrix(TensorType type, const void* data, size_t row_bytes, int64_t rows,
                        int64_t cols, GemmPrecision precision) {
  PackedMatrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  m.precision_ = precision;
  const size_t bytes = m.bytes();
  // 64-byte aligned so every panel row is one cache line (aligned_alloc wants a multiple).
  auto* out = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64));
  if (out == nullptr) throw std::bad_alloc();
  std::memset(out, 0, bytes);
  m.data_.reset(out);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes,
                  row.data(), cols);
    uint8_t* panel = out + (r / kGemmPanelRows) * m.panel_bytes();
    const int64_t j = r % kGemmPanelRows;
    if (precision == GemmPrecision::kInt8) {
      internal::PackPanelRowInt8(row.data(), cols, PaddedCols(precision, cols),
                                 static_cast<int>(j), panel);
    } else if (precision == GemmPrecision::kBf16) {
      auto* p = reinterpret_cast<uint16_t*>(panel);
      for (int64_t i = 0; i < cols; ++i) {
        p[((i / 2) * kGemmPanelRows + j) * 2 + i % 2] = internal::Bf16FromFloat(row[i]);
      }
    } else {
      auto* p = reinterpret_cast<float*>(panel);
      for (int64_t i = 0; i < cols; ++i) p[i * kGemmPanelRows + j] = row[i];
    }
  }
  return m;
}

std::string_view GemmIsaName(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAmxBf16: return "amx";
    case GemmIsa::kAvx512Bf16: return "avx512bf16";
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
    case GemmIsa::kAvx512Bf16:
      return internal::GemmAvx512Built() && internal::GemmAvx512Bf16Built() && f.avx512f &&
             f.avx512bf16;
    case GemmIsa::kAmxBf16:
      return internal::GemmAvx512Built() && internal::GemmAmxBuilt() && f.avx512f &&
             f.avx512bf16 && f.amx_bf16 && internal::AmxPermitted();
  }
  return false;
}

GemmIsa ActiveGemmIsa() {
  static const GemmIsa active = [] {
    const char* cap = std::getenv("ENGRAM_KERNEL_ISA");
    const std::string_view want = cap != nullptr ? cap : "";
    if (want == "scalar") return GemmIsa::kScalar;
    if (want != "avx2") {
      if (want != "avx512" && GemmIsaAvailable(GemmIsa::kAmxBf16)) return GemmIsa::kAmxBf16;
      if (want != "avx512" && GemmIsaAvailable(GemmIsa::kAvx512Bf16)) return GemmIsa::kAvx512Bf16;
      if (GemmIsaAvailable(GemmIsa::kAvx512)) return GemmIsa::kAvx512;
    }
    return GemmIsaAvailable(GemmIsa::kAvx2) ? GemmIsa::kAvx2 : GemmIsa::kScalar;
  }();
  return active;
}

bool FastBf16Gemm() { return ActiveGemmIsa() == GemmIsa::kAmxBf16; }

bool FastInt8Gemm() { return VnniUsable(ActiveGemmIsa()); }

int GemmTokenTile(GemmIsa isa, const PackedMatrix& w) { return KernelFor(isa, w).tile; }

size_t GemmTokensFloats(GemmIsa isa, const PackedMatrix& w, int64_t n) {
  const int tile = GemmTokenTile(isa, w);
  return static_cast<size_t>((n + tile - 1) / tile * tile * TokenFloats(w));
}

void PackGemmTokens(GemmIsa isa, const PackedMatrix& w, const float* x, size_t x_stride,
                    int64_t t_begin, int64_t t_end, float* out) {
  const int tile = GemmTokenTile(isa, w);
  float* dst = out + t_begin * TokenFloats(w);
  if (w.precision() == GemmPrecision::kInt8) {
    const auto pack = VnniUsable(isa) ? internal::PackTokensInt8Avx512 : internal::PackTokensInt8;
    pack(x + t_begin * x_stride, x_stride, t_end - t_begin, w.cols(), PaddedCols(w), tile,
         reinterpret_cast<uint32_t*>(dst));
  } else if (w.precision() == GemmPrecision::kBf16 && tile == 32) {  // AMX
    internal::PackTokensBf16RowsAmx(x + t_begin * x_stride, x_stride, t_end - t_begin, w.cols(),
                                    PaddedCols(w), reinterpret_cast<uint16_t*>(dst));
    // Zero the rest of the last tile (rows past n), which the tiles load.
    const int64_t end_tile = (t_end + tile - 1) / tile * tile;
    std::memset(out + t_end * TokenFloats(w), 0,
                sizeof(float) * static_cast<size_t>((end_tile - t_end) * TokenFloats(w)));
  } else if (w.precision() == GemmPrecision::kBf16) {
    internal::PackTokensBf16(x + t_begin * x_stride, x_stride, t_end - t_begin, w.cols(),
                             PaddedCols(w), tile, reinterpret_cast<uint16_t*>(dst));
  } else {
    internal::PackTokens(x + t_begin * x_stride, x_stride, t_end - t_begin, w.cols(), tile, dst);
  }
}

void GemmPacked(GemmIsa isa, const PackedMatrix& w, const float* packed_tokens, int64_t n,
                int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
                const float* bias) {
  const PanelKernel kernel = KernelFor(isa, w);
  // Tokens in blocks whose packed activations (about 384 KiB) stay in L2 while every panel of
  // the range passes over them; a panel is reread once per block.
  const int64_t token_floats = TokenFloats(w);
  const int64_t block = std::max<int64_t>(
      96, (384 * 1024 / (std::max<int64_t>(token_floats, 1) * 4)) / 96 * 96);  // whole tiles
  for (int64_t t0 = 0; t0 < n; t0 += block) {
    for (int64_t p = panel_begin; p < panel_end; ++p) {
      const int64_t r0 = p * kGemmPanelRows;
      internal::GemmPanelArgs a{.panel = w.panel(p),
                                .k = PaddedCols(w),
                                .x = packed_tokens + t0 * token_floats,
                                .n = std::min(block, n - t0),
                                .y = y + t0 * y_stride + r0,
                                .y_stride = y_stride,
                                .valid = static_cast<int>(std::min(kGemmPanelRows, w.rows() - r0)),
                                .bias = bias != nullptr ? bias + r0 : nullptr};
      kernel.run(a);
    }
  }
}

void Gemm(const PackedMatrix& w, const float* x, int64_t n, size_t x_stride, int64_t panel_begin,
          int64_t panel_end, float* y, size_t y_stride, const float* bias) {
  GemmWith(ActiveGemmIsa(), w, x, n, x_stride, panel_begin, panel_end, y, y_stride, bias);
}

void GemmWith(GemmIsa isa, const PackedMatrix& w, const float* x, int64_t n, size_t x_stride,
              int64_t panel_begin, int64_t panel_end, float* y, size_t y_stride,
              const float* bias) {
  std::vector<float> packed(GemmTokensFloats(isa, w, n));
  PackGemmTokens(isa, w, x, x_stride, 0, n, packed.data());
  GemmPacked(isa, w, packed.data(), n, panel_begin, panel_end, y, y_stride, bias);
}

}  // namespace engram::kernels
