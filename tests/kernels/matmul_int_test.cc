// Integer matrix products of q5_0 (× q8_0), q4_K and q6_K (× q8_K) on weights made by quantizing
// random floats: the SIMD path against the scalar reference (the same bits for the K-quants,
// which both compute in GGML's AVX2 order), and both against DotRow of the float activations
// within the error that 8-bit activations allow; the same on real blocks quantized by llama.cpp
// (tests/data/quant goldens). Also q8_K's rounding (quantize_row_q8_K_ref).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/half.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {
namespace {

void PutHalf(uint8_t* at, float v) {
  const uint16_t h = Fp32ToFp16(v);
  std::memcpy(at, &h, 2);
}

float RoundHalf(float v) { return Fp16ToFp32(Fp32ToFp16(v)); }

// Simple test quantizers (not GGML's error-minimising ones; any valid block will do). Each
// writes the blocks of one row of k floats.

// q5_0: d = max / -16 as GGML's reference, q = x / d + 16 rounded, in 0..31.
void QuantizeQ5_0(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / 32; ++b, out += 22) {
    const float* xb = x + b * 32;
    float max = 0.0f;
    for (int i = 0; i < 32; ++i) max = std::fabs(xb[i]) > std::fabs(max) ? xb[i] : max;
    const float d = RoundHalf(max / -16.0f);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    PutHalf(out, d);
    uint32_t qh = 0;
    std::memset(out + 6, 0, 16);
    for (int i = 0; i < 32; ++i) {
      const int q = std::clamp(static_cast<int>(std::lround(xb[i] * id)) + 16, 0, 31);
      out[6 + i % 16] |= static_cast<uint8_t>((q & 15) << (i < 16 ? 0 : 4));
      qh |= static_cast<uint32_t>(q >> 4) << i;
    }
    std::memcpy(out + 2, &qh, 4);
  }
}

// q4_K: per 32 elements x ≈ d·sc·q - dmin·m with sc, m 6-bit, q 4-bit.
void QuantizeQ4K(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / 256; ++b, out += 144) {
    const float* xb = x + b * 256;
    float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
      const float lo = std::min(0.0f, *std::min_element(xb + 32 * j, xb + 32 * j + 32));
      const float hi = *std::max_element(xb + 32 * j, xb + 32 * j + 32);
      scale[j] = (hi - lo) / 15.0f;
      min[j] = -lo;
      max_scale = std::max(max_scale, scale[j]);
      max_min = std::max(max_min, min[j]);
    }
    const float d = RoundHalf(max_scale / 63.0f), dmin = RoundHalf(max_min / 63.0f);
    PutHalf(out, d);
    PutHalf(out + 2, dmin);
    uint8_t* sc = out + 4;
    std::memset(sc, 0, 12);
    for (int j = 0; j < 8; ++j) {
      const int s = d > 0 ? std::min(63, static_cast<int>(std::lround(scale[j] / d))) : 0;
      const int m = dmin > 0 ? std::min(63, static_cast<int>(std::lround(min[j] / dmin))) : 0;
      if (j < 4) {  // the layout get_scale_min_k4 reads
        sc[j] |= static_cast<uint8_t>(s);
        sc[j + 4] |= static_cast<uint8_t>(m);
      } else {
        sc[j + 4] = static_cast<uint8_t>((s & 15) | ((m & 15) << 4));
        sc[j - 4] |= static_cast<uint8_t>((s >> 4) << 6);
        sc[j] |= static_cast<uint8_t>((m >> 4) << 6);
      }
      for (int i = 0; i < 32; ++i) {
        const float step = d * s;
        const int q = step > 0 ? static_cast<int>(std::lround((xb[32 * j + i] + dmin * m) / step))
                               : 0;
        uint8_t& byte = out[16 + 32 * (j / 2) + i];
        if (j % 2 == 0) byte = 0;
        byte |= static_cast<uint8_t>(std::clamp(q, 0, 15) << (4 * (j % 2)));
      }
    }
  }
}

// q6_K: per 16 elements x ≈ d·sc·(q - 32) with sc int8, q 6-bit.
void QuantizeQ6K(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / 256; ++b, out += 210) {
    const float* xb = x + b * 256;
    float scale[16], max_scale = 0.0f;
    for (int s = 0; s < 16; ++s) {
      float amax = 0.0f;
      for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(xb[16 * s + i]));
      scale[s] = amax / 31.0f;
      max_scale = std::max(max_scale, scale[s]);
    }
    const float d = RoundHalf(max_scale / 127.0f);
    uint8_t* ql = out;
    uint8_t* qh = out + 128;
    auto* sc = reinterpret_cast<int8_t*>(out + 192);
    PutHalf(out + 208, d);
    std::memset(out, 0, 192);
    for (int s = 0; s < 16; ++s) {
      sc[s] = static_cast<int8_t>(d > 0 ? std::min(127L, std::lround(scale[s] / d)) : 0);
    }
    for (int i = 0; i < 256; ++i) {
      const float step = d * sc[i / 16];
      const int q = std::clamp(step > 0 ? static_cast<int>(std::lround(xb[i] / step)) + 32 : 32,
                               0, 63);
      // Element i: half i / 128, quarter (i % 128) / 32, position l = i % 32 (see BlockQ6_K).
      const int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
      ql[64 * half + 32 * (quarter % 2) + l] |= static_cast<uint8_t>((q & 15) << (4 * (quarter / 2)));
      qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * quarter));
    }
  }
}

std::vector<uint8_t> QuantizeRows(TensorType type, const std::vector<float>& x, int64_t rows,
                                  int64_t k) {
  const size_t row_bytes = static_cast<size_t>(*TensorRowBytes(type, k));
  std::vector<uint8_t> w(row_bytes * rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x.data() + r * k;
    uint8_t* dst = w.data() + r * row_bytes;
    if (type == TensorType::kQ5_0) QuantizeQ5_0(src, k, dst);
    if (type == TensorType::kQ4_K) QuantizeQ4K(src, k, dst);
    if (type == TensorType::kQ6_K) QuantizeQ6K(src, k, dst);
  }
  return w;
}

struct Case {
  TensorType type;
  int64_t k;
};

class MatMulIntTest : public ::testing::TestWithParam<Case> {};

TEST_P(MatMulIntTest, PathsAgreeAndMatchFloatActivations) {
  const auto [type, k] = GetParam();
  ASSERT_NE(ActivationTypeFor(type), TensorType::kF32);
  const int64_t rows = 13;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(rows * k);
  for (float& v : wf) v = normal(rng) * 0.05f;
  const std::vector<uint8_t> w = QuantizeRows(type, wf, rows, k);
  const size_t row_bytes = static_cast<size_t>(*TensorRowBytes(type, k));
  std::vector<float> deq(rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, w.data() + r * row_bytes, deq.data() + r * k, k);
  }
  // The test quantizers work: every weight within a step of its float.
  for (int64_t i = 0; i < rows * k; ++i) ASSERT_NEAR(deq[i], wf[i], 0.03f) << i;

  for (int64_t n : {1, 3, 4, 9, 64}) {
    std::vector<float> x(n * k);
    for (float& v : x) v = normal(rng);
    std::vector<uint8_t> acts(n * ActivationRowBytes(type, k));
    PrepareActivations(type, x.data(), n, k, k, acts.data());
    std::vector<float> y_scalar(n * rows, NAN), y_simd(n * rows, NAN);
    // Odd row ranges, as threads would split them.
    for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 6}, {6, rows}}) {
      MatMulRowsWith(KernelIsa::kScalar, type, w.data(), row_bytes, k, acts.data(), n, r0, r1,
                     y_scalar.data(), rows);
      if (KernelIsaAvailable(KernelIsa::kAvx2)) {
        MatMulRowsWith(KernelIsa::kAvx2, type, w.data(), row_bytes, k, acts.data(), n, r0, r1,
                       y_simd.data(), rows);
      }
    }
    const int block = type == TensorType::kQ5_0 ? 32 : 256;
    for (int64_t t = 0; t < n; ++t) {
      // Bound of the activation rounding: |x - x̂| <= amax·(1/254 + 1/2048) per block (q8_0's
      // f16 scale adds the second term).
      std::vector<float> step(k / block);
      for (int64_t b = 0; b < k / block; ++b) {
        float amax = 0.0f;
        for (int i = 0; i < block; ++i) amax = std::max(amax, std::fabs(x[t * k + b * block + i]));
        step[b] = amax * (1.0f / 254 + 1.0f / 2048);
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float* wr = deq.data() + r * k;
        double bound = 0.0, magnitude = 0.0;
        for (int64_t i = 0; i < k; ++i) {
          bound += std::fabs(wr[i]) * step[i / block];
          magnitude += std::fabs(wr[i] * x[t * k + i]);
        }
        const float exact = DotRow(type, w.data() + r * row_bytes, x.data() + t * k, k);
        const float got = y_scalar[t * rows + r];
        EXPECT_NEAR(got, exact, bound + 1e-5 * magnitude)
            << TensorTypeName(type) << " n=" << n << " row " << r << " token " << t;
        if (!KernelIsaAvailable(KernelIsa::kAvx2)) continue;
        if (type == TensorType::kQ5_0) {
          EXPECT_NEAR(y_simd[t * rows + r], got, 1e-5 * magnitude + 1e-6)
              << "n=" << n << " row " << r << " token " << t;
        } else {  // the same operations in the same order
          EXPECT_EQ(y_simd[t * rows + r], got)
              << TensorTypeName(type) << " n=" << n << " row " << r << " token " << t;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatMulIntTest,
                         ::testing::Values(Case{TensorType::kQ5_0, 32}, Case{TensorType::kQ5_0, 640},
                                           Case{TensorType::kQ4_K, 256},
                                           Case{TensorType::kQ4_K, 1024},
                                           Case{TensorType::kQ6_K, 256},
                                           Case{TensorType::kQ6_K, 2048}),
                         [](const auto& info) {
                           return std::string(TensorTypeName(info.param.type)) + "_k" +
                                  std::to_string(info.param.k);
                         });

// Real blocks (scripts/goldens/quant_blocks.py: a row piece of a llama.cpp-quantized model) as
// a one-row matrix × random activations: every path within the 8-bit activation bound of DotRow,
// and the SIMD K-quant path bit for bit equal to the scalar one.
class MatMulIntGoldenTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(MatMulIntGoldenTest, RealBlocks) {
  const TensorType type = GetParam();
  const std::string path =
      std::string(ENGRAM_TEST_DATA_DIR) + "/quant/" + std::string(TensorTypeName(type)) + ".json";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden " << path << " (scripts/goldens/quant_blocks.py)";
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json golden = nlohmann::json::parse(text.str());
  const int64_t k = golden.at("n").get<int64_t>();
  const std::string hex = golden.at("raw_hex").get<std::string>();
  std::vector<uint8_t> w(hex.size() / 2);
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  ASSERT_EQ(static_cast<int64_t>(w.size()), *TensorRowBytes(type, k));
  std::vector<float> deq(k);
  DequantizeRow(type, w.data(), deq.data(), k);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 5;
  std::vector<float> x(n * k);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> acts(n * ActivationRowBytes(type, k));
  PrepareActivations(type, x.data(), n, k, k, acts.data());
  const int block = type == TensorType::kQ5_0 ? 32 : 256;
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
    if (!KernelIsaAvailable(isa)) continue;
    std::vector<float> y(n), y_scalar(n);
    MatMulRowsWith(isa, type, w.data(), w.size(), k, acts.data(), n, 0, 1, y.data(), 1);
    MatMulRowsWith(KernelIsa::kScalar, type, w.data(), w.size(), k, acts.data(), n, 0, 1,
                   y_scalar.data(), 1);
    for (int64_t t = 0; t < n; ++t) {
      double bound = 0.0, magnitude = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        float amax = 0.0f;
        const int64_t b0 = i / block * block;
        for (int j = 0; j < block; ++j) amax = std::max(amax, std::fabs(x[t * k + b0 + j]));
        bound += std::fabs(deq[i]) * amax * (1.0 / 254 + 1.0 / 2048);
        magnitude += std::fabs(deq[i] * x[t * k + i]);
      }
      EXPECT_NEAR(y[t], DotRow(type, w.data(), x.data() + t * k, k), bound + 1e-5 * magnitude)
          << TensorTypeName(type) << " " << KernelIsaName(isa) << " token " << t;
      if (type != TensorType::kQ5_0) {
        EXPECT_EQ(y[t], y_scalar[t]) << KernelIsaName(isa);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatMulIntGoldenTest,
                         ::testing::Values(TensorType::kQ5_0, TensorType::kQ4_K,
                                           TensorType::kQ6_K),
                         [](const auto& info) { return std::string(TensorTypeName(info.param)); });

struct Q8KBlock {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

Q8KBlock PrepareQ8K(const std::vector<float>& x) {
  EXPECT_EQ(ActivationTypeFor(TensorType::kQ4_K), TensorType::kQ8_K);
  EXPECT_EQ(ActivationRowBytes(TensorType::kQ6_K, 256), sizeof(Q8KBlock));
  std::vector<uint8_t> acts(ActivationRowBytes(TensorType::kQ4_K, 256));
  PrepareActivations(TensorType::kQ4_K, x.data(), 1, 256, 256, acts.data());
  Q8KBlock b;
  std::memcpy(&b, acts.data(), sizeof(b));
  return b;
}

TEST(MatMulActivationsTest, Q8KQuantizesAsGgmlReference) {
  // The signed value of largest magnitude maps to -127 (iscale = -127 / max), the first one on
  // ties; d = 1 / iscale stays a float.
  std::vector<float> x(256, 0.0f);
  x[3] = 2.54f;
  x[9] = -2.54f;  // same magnitude, later: not the max
  x[20] = 1.0f;
  Q8KBlock b = PrepareQ8K(x);
  EXPECT_EQ(b.qs[3], -127);
  EXPECT_EQ(b.qs[9], 127);
  EXPECT_EQ(b.qs[20], static_cast<int>(std::nearbyint(-127.0f / 2.54f)));
  EXPECT_EQ(b.d, 1.0f / (-127.0f / 2.54f));
  EXPECT_EQ(b.bsums[0], -127 + 127);
  EXPECT_EQ(b.bsums[1], b.qs[20]);

  // iscale = 1 here, so the products are exact: ties round to even.
  std::fill(x.begin(), x.end(), 0.0f);
  x[0] = -127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -0.5f;
  x[255] = 126.6f;
  b = PrepareQ8K(x);
  EXPECT_EQ(b.d, 1.0f);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], 4);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[255], 127);
  EXPECT_EQ(b.bsums[0], -127 + 2 + 4);
  EXPECT_EQ(b.bsums[15], 127);

  // An all-zero block.
  b = PrepareQ8K(std::vector<float>(256, 0.0f));
  EXPECT_EQ(b.d, 0.0f);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(b.qs[i], 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.bsums[j], 0);
}

}  // namespace
}  // namespace engram::kernels
