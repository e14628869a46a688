// Portable integer kernels of kernels/matmul.h: the reference the SIMD paths are tested against.
#include <cmath>
#include <cstring>

#include "kernels/half.h"
#include "kernels/internal/matmul_impl.h"
#include "kernels/internal/quant_blocks.h"

namespace engram::kernels::internal {
namespace {

float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return Fp16ToFp32(h);
}

// sum_i w[i] * a[i] over one block, with the weight's integer values as the format defines, and
// the block's contribution to the dot product.
float BlockDot(const BlockQ4_0& w, const int8_t* a, float da, float) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += ((w.qs[j] & 0x0f) - 8) * a[j];
    sum += ((w.qs[j] >> 4) - 8) * a[j + 16];
  }
  return Half(w.d) * da * static_cast<float>(sum);
}

float BlockDot(const BlockQ4_1& w, const int8_t* a, float da, float sa) {
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    sum += (w.qs[j] & 0x0f) * a[j];
    sum += (w.qs[j] >> 4) * a[j + 16];
  }
  return Half(w.d) * da * static_cast<float>(sum) + Half(w.m) * sa;
}

float BlockDot(const BlockQ5_0& w, const int8_t* a, float da, float) {
  uint32_t qh;
  std::memcpy(&qh, w.qh, sizeof(qh));
  int sum = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = (w.qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1) << 4);
    const int hi = (w.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
    sum += (lo - 16) * a[j] + (hi - 16) * a[j + 16];
  }
  return Half(w.d) * da * static_cast<float>(sum);
}

float BlockDot(const BlockQ8_0& w, const int8_t* a, float da, float) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += w.qs[j] * a[j];
  return Half(w.d) * da * static_cast<float>(sum);
}

template <typename WBlock>
void Run(const IntMatMulArgs& args, bool with_sums) {
  for (int64_t t = 0; t < args.n; ++t) {
    const uint8_t* base = args.a + t * args.a_row_bytes;
    const auto* q = reinterpret_cast<const int8_t*>(base);
    const auto* d = reinterpret_cast<const float*>(base + args.nb * 32);
    const float* s = d + args.nb;
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const WBlock*>(args.w + r * args.w_row_bytes);
      float acc = 0.0f;
      for (int64_t b = 0; b < args.nb; ++b) {
        acc += BlockDot(w[b], q + b * 32, d[b], with_sums ? s[b] : 0.0f);
      }
      args.y[t * args.y_stride + r] = acc;
    }
  }
}

// K-quants against q8_K, computed the way GGML's AVX2 vec_dot does on x86 so that every path
// gives the same bits: each 32-element chunk of a super-block (one scale) is split over 8 int32
// lanes, lane l taking elements 4l..4l+3; per super-block each lane adds d_w·d_a·lane_sum with
// one FMA, and the lanes are summed as hsum_float_8 does at the end.
struct Lanes {
  float acc[8] = {};
  void Add(float d, const int32_t* sums) {
    for (int l = 0; l < 8; ++l) acc[l] = std::fma(d, static_cast<float>(sums[l]), acc[l]);
  }
  float Sum() const {
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  }
};

// get_scale_min_k4: the 6-bit scale and min of q4_K sub-block j.
void ScaleMinQ4K(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Σ_j min_j · Σ(a over sub-block j), as 4 float lanes of 2 sub-blocks each (GGML's acc_m).
struct MinLanes {
  float acc[4] = {};
  void Add(const BlockQ4_K& w, const BlockQ8K& a) {
    const float dmin = -a.d * Half(w.dmin);
    for (int l = 0; l < 4; ++l) {
      int32_t prod = 0;
      for (int j = 2 * l; j < 2 * l + 2; ++j) {
        int sc, m;
        ScaleMinQ4K(j, w.scales, &sc, &m);
        prod += m * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
      }
      acc[l] = std::fma(dmin, static_cast<float>(prod), acc[l]);
    }
  }
  float Sum() const { return (acc[0] + acc[2]) + (acc[1] + acc[3]); }
};

float RowDot(const BlockQ4_K* w, const BlockQ8K* a, int64_t nb) {
  Lanes lanes;
  MinLanes mins;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sums[8] = {};
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      ScaleMinQ4K(j, w[b].scales, &sc, &m);
      const uint8_t* qs = w[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int i = 0; i < 32; ++i) {
        sums[i / 4] += sc * ((qs[i] >> shift) & 0x0f) * a[b].qs[32 * j + i];
      }
    }
    lanes.Add(a[b].d * Half(w[b].d), sums);
    mins.Add(w[b], a[b]);
  }
  return lanes.Sum() + mins.Sum();
}

// q6_K: chunk c (0..7) of a super-block is quarter c % 4 of half c / 4 (see BlockQ6_K).
float RowDot(const BlockQ6_K* w, const BlockQ8K* a, int64_t nb) {
  Lanes lanes;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sums[8] = {};
    for (int c = 0; c < 8; ++c) {
      const int half = c / 4, quarter = c % 4;
      const uint8_t* ql = w[b].ql + 64 * half + 32 * (quarter % 2);
      const uint8_t* qh = w[b].qh + 32 * half;
      for (int i = 0; i < 32; ++i) {
        const int q = ((ql[i] >> (4 * (quarter / 2))) & 0x0f) | (((qh[i] >> (2 * quarter)) & 3) << 4);
        const int sc = w[b].scales[8 * half + 2 * quarter + i / 16];
        sums[i / 4] += sc * (q - 32) * a[b].qs[32 * c + i];
      }
    }
    lanes.Add(a[b].d * Half(w[b].d), sums);
  }
  return lanes.Sum();
}

template <typename WBlock>
void RunK(const IntMatMulArgs& args) {
  for (int64_t t = 0; t < args.n; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8K*>(args.a + t * args.a_row_bytes);
    for (int64_t r = args.r0; r < args.r1; ++r) {
      const auto* w = reinterpret_cast<const WBlock*>(args.w + r * args.w_row_bytes);
      args.y[t * args.y_stride + r] = RowDot(w, a, args.nb);
    }
  }
}

}  // namespace

bool IntMatMulScalar(TensorType weight_type, const IntMatMulArgs& args) {
  switch (weight_type) {
    case TensorType::kQ4_0: Run<BlockQ4_0>(args, false); return true;
    case TensorType::kQ4_1: Run<BlockQ4_1>(args, true); return true;
    case TensorType::kQ5_0: Run<BlockQ5_0>(args, false); return true;
    case TensorType::kQ8_0: Run<BlockQ8_0>(args, false); return true;
    case TensorType::kQ4_K: RunK<BlockQ4_K>(args); return true;
    case TensorType::kQ6_K: RunK<BlockQ6_K>(args); return true;
    default: return false;
  }
}

}  // namespace engram::kernels::internal
