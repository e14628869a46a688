// AMX GEMM panel (bf16 matrices): 32 tokens × 32 outputs per block in four 16×16 f32 tile
// accumulators; per 32 values of k, two token tiles (16 rows × 32 bf16, row-major) and two
// weight tiles (16 pairs × 16 outputs × 2, the packed panel's own layout) feed four tdpbf16ps.
#include "kernels/internal/gemm_impl.h"

#include "kernels/gemm.h"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace engram::kernels::internal {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Every tile 16 rows × 64 bytes; loaded once per thread (the rest of engram uses no tiles).
void ConfigureTiles() {
  thread_local bool configured = false;
  if (configured) return;
  TileConfig c{};
  c.palette_id = 1;
  for (int i = 0; i < 8; ++i) {
    c.rows[i] = 16;
    c.colsb[i] = 64;
  }
  _tile_loadconfig(&c);
  configured = true;
}

}  // namespace

bool AmxPermitted() {
  // Linux hands out the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); without it the first tile instruction kills the process.
  static const bool ok = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  return ok;
}

void GemmPanelAmxBf16(const GemmPanelArgs& a) {
  ConfigureTiles();
  const auto* w = static_cast<const uint8_t*>(a.panel);
  const auto* x = static_cast<const uint16_t*>(a.x);
  const int64_t kp = a.k;  // padded to a multiple of 32
  const size_t x_row = static_cast<size_t>(kp) * 2;
  alignas(64) float block[32][32];
  // Outputs of this panel that exist, as store masks, and the bias (zero past them).
  const __mmask16 m0 = a.valid >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << a.valid) - 1);
  const __mmask16 m1 = a.valid >= 32   ? 0xFFFF
                       : a.valid <= 16 ? 0
                                       : static_cast<__mmask16>((1u << (a.valid - 16)) - 1);
  const __m512 b0 = a.bias != nullptr ? _mm512_maskz_loadu_ps(m0, a.bias) : _mm512_setzero_ps();
  const __m512 b1 =
      a.bias != nullptr ? _mm512_maskz_loadu_ps(m1, a.bias + 16) : _mm512_setzero_ps();
  for (int64_t t0 = 0; t0 < a.n; t0 += 32) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const uint16_t* x0 = x + t0 * kp;
    for (int64_t kk = 0; kk < kp; kk += 32) {
      _tile_loadd(4, x0 + kk, x_row);
      _tile_loadd(5, x0 + 16 * kp + kk, x_row);
      _tile_loadd(6, w + kk * 64, 128);
      _tile_loadd(7, w + kk * 64 + 64, 128);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, &block[0][0], 128);
    _tile_stored(1, &block[0][16], 128);
    _tile_stored(2, &block[16][0], 128);
    _tile_stored(3, &block[16][16], 128);
    const int rows = static_cast<int>(std::min<int64_t>(32, a.n - t0));
    for (int t = 0; t < rows; ++t) {
      float* y = a.y + (t0 + t) * a.y_stride;
      _mm512_mask_storeu_ps(y, m0, _mm512_add_ps(_mm512_load_ps(block[t]), b0));
      _mm512_mask_storeu_ps(y + 16, m1, _mm512_add_ps(_mm512_load_ps(block[t] + 16), b1));
    }
  }
}

void PackTokensBf16RowsAmx(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp,
                           uint16_t* out) {
  // vcvtneps2bf16 rounds to nearest even, as Bf16FromFloat does.
  for (int64_t t = 0; t < n; ++t) {
    const float* row = x + t * x_stride;
    uint16_t* o = out + t * kp;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(row + i));
      std::memcpy(o + i, &h, 32);
    }
    for (; i < k; ++i) o[i] = Bf16FromFloat(row[i]);
    for (; i < kp; ++i) o[i] = 0;
  }
}

bool GemmAmxBuilt() { return true; }

}  // namespace engram::kernels::internal

#else

namespace engram::kernels::internal {
bool AmxPermitted() { return false; }
void GemmPanelAmxBf16(const GemmPanelArgs& a) { GemmPanelScalarBf16(a); }
void PackTokensBf16RowsAmx(const float* x, size_t x_stride, int64_t n, int64_t k, int64_t kp,
                           uint16_t* out) {
  PackTokensBf16Rows(x, x_stride, n, k, kp, out);
}
bool GemmAmxBuilt() { return false; }
}  // namespace engram::kernels::internal

#endif
