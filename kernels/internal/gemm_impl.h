// Private to kernels/cpu/gemm_*.cc: one packed panel (32 outputs) against a block of packed
// tokens, per ISA and precision; gemm_dispatch.cc does the cache blocking and picks the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engram::kernels::internal {

// f32 tokens packed in tiles of `tile` rows, transposed: tile j holds k × tile floats, element
// [i][t] = x[(j * tile + t)][i], zero past the last token.
void PackTokens(const float* x, size_t x_stride, int64_t n, int64_t k, int tile, float* out);
// bf16 matrices pad k to kp, a multiple of 32, with zero columns (AMX takes 32 per step).
// bf16 tokens for the vdpbf16ps and scalar kernels: tile j holds kp / 2 × tile × 2 bf16,
// element [i2][t][e] = bf16(x[j·tile + t][2·i2 + e]), zero past the last token and column.
void PackTokensBf16(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp, int tile,
                    uint16_t* out);
// bf16 tokens for AMX: row-major, kp bf16 per token, zero past column k; the caller's buffer
// is zero past the last token.
void PackTokensBf16Rows(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp,
                        uint16_t* out);
void PackTokensBf16RowsAmx(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp,
                           uint16_t* out);  // the same, with vcvtneps2bf16
// int8 matrices pad k to kq, a multiple of 4, with zero columns. Row j of a panel is quantized
// symmetrically (q = round(w · 127 / max|w|)) into int8 quads: [i4][32][4] int8, then 32 float
// scales (max|w| / 127) and 32 int32 zero-point terms (128 · Σ q).
void PackPanelRowInt8(const float* row, int64_t cols, int64_t kq, int j, uint8_t* panel);
// int8 tokens: each token quantized the same way, stored as q + 128 (uint8). Tile j holds
// kq / 4 × tile quads of 4 bytes, element [i4][t], then `tile` float scales; padding is 128.
void PackTokensInt8(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kq, int tile,
                    uint32_t* out);
void PackTokensInt8Avx512(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kq,
                          int tile, uint32_t* out);  // the same integers, with AVX-512
uint16_t Bf16FromFloat(float v);  // round to nearest even
float FloatFromBf16(uint16_t v);

struct GemmPanelArgs {
  const void* panel;  // k × 32 floats, kp / 2 × 32 × 2 bf16, or the int8 layout above
  int64_t k;          // kp for bf16, kq for int8
  const void* x;  // n tokens packed in the kernel's tile and precision
  int64_t n;
  float* y;  // y[t * y_stride + j] for the panel's j in [0, valid)
  size_t y_stride;
  int valid;          // outputs of this panel that exist (32 except in the last panel)
  const float* bias;  // `valid` floats, or null
};

void GemmPanelScalar(const GemmPanelArgs& a);      // f32, tile 1 (x row-major, stride k)
void GemmPanelScalarBf16(const GemmPanelArgs& a);  // bf16, tile 1
void GemmPanelAvx2(const GemmPanelArgs& a);        // f32, tile 6
void GemmPanelAvx512(const GemmPanelArgs& a);      // f32, tile 12
void GemmPanelAvx512Bf16(const GemmPanelArgs& a);  // bf16, tile 12
void GemmPanelAmxBf16(const GemmPanelArgs& a);     // bf16, tile 32 (rows)
void GemmPanelScalarInt8(const GemmPanelArgs& a);  // int8, tile 1
void GemmPanelAvx512Vnni(const GemmPanelArgs& a);  // int8, tile 12
bool GemmAvx2Built();
bool GemmAvx512Built();
bool GemmAvx512Bf16Built();
bool GemmAmxBuilt();
bool GemmAvx512VnniBuilt();
bool AmxPermitted();  // asks the kernel for the tile state once

}  // namespace engram::kernels::internal
