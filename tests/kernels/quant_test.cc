#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/half.h"
#include "kernels/tensor_type.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace engram::kernels {
namespace {

constexpr TensorType kSupported[] = {
    TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ8_0,
    TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1,
    TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K,
};

int64_t BlockElems(TensorType type) {
  return FindTensorType(static_cast<uint32_t>(type))->block_elems;
}

int64_t RowBytes(TensorType type, int64_t n) {
  Result<int64_t> bytes = TensorRowBytes(type, n);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.value_or(0);
}

void PutF16(uint8_t* p, float v) {
  const uint16_t h = Fp32ToFp16(v);
  std::memcpy(p, &h, sizeof(h));
}

// A row of `n` elements of `type` with random contents that are all valid and finite: random
// bytes everywhere (every bit pattern of quants and packed scales is legal), except the f16 scale
// fields (ggml-common.h), which get sane finite values of either sign.
std::vector<uint8_t> RandomRow(TensorType type, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(static_cast<size_t>(RowBytes(type, n)));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto scale = [&] {  // |d| in [1e-3, 0.1]: realistic, far from f16 overflow
    const float mag = 1e-3f * std::pow(100.0f, (uniform(rng) + 1.0f) / 2.0f);
    return uniform(rng) < 0 ? -mag : mag;
  };
  if (type == TensorType::kF32) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = 2.0f * uniform(rng);
      std::memcpy(row.data() + 4 * i, &v, sizeof(v));
    }
    return row;
  }
  if (type == TensorType::kF16) {
    // Random bit patterns except inf/NaN: covers subnormals and the full finite range.
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      do {
        h = static_cast<uint16_t>(byte(rng) | byte(rng) << 8);
      } while ((h & 0x7c00) == 0x7c00);
      std::memcpy(row.data() + 2 * i, &h, sizeof(h));
    }
    return row;
  }
  if (type == TensorType::kBF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = Fp32ToBf16(2.0f * uniform(rng));
      std::memcpy(row.data() + 2 * i, &h, sizeof(h));
    }
    return row;
  }
  std::vector<int> scale_offsets;
  switch (type) {
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
      scale_offsets = {0};  // d
      break;
    case TensorType::kQ4_1:
    case TensorType::kQ5_1:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
      scale_offsets = {0, 2};  // d, m (or dmin)
      break;
    case TensorType::kQ6_K:
      scale_offsets = {208};  // d comes last
      break;
    default:
      ADD_FAILURE() << "no layout for " << TensorTypeName(type);
  }
  const int64_t block_bytes = FindTensorType(static_cast<uint32_t>(type))->block_bytes;
  for (size_t b = 0; b < row.size(); b += static_cast<size_t>(block_bytes)) {
    for (int off : scale_offsets) PutF16(row.data() + b + off, scale());
  }
  return row;
}

std::vector<float> RandomVector(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = uniform(rng);
  return x;
}

std::vector<KernelIsa> AvailableIsas() {
  std::vector<KernelIsa> isas = {KernelIsa::kScalar};
  if (KernelIsaAvailable(KernelIsa::kAvx2)) isas.push_back(KernelIsa::kAvx2);
  return isas;
}

// ---- tensor types ------------------------------------------------------------------------

// Every GGML type id with ggml's block size and bytes (ggml-common.h, gguf-py GGML_QUANT_SIZES).
struct KnownType {
  uint32_t id;
  const char* name;
  int64_t block_elems;
  int64_t block_bytes;
};
constexpr KnownType kGgmlTypes[] = {
    {0, "f32", 1, 4},         {1, "f16", 1, 2},         {2, "q4_0", 32, 18},
    {3, "q4_1", 32, 20},      {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},
    {8, "q8_0", 32, 34},      {9, "q8_1", 32, 36},      {10, "q2_K", 256, 84},
    {11, "q3_K", 256, 110},   {12, "q4_K", 256, 144},   {13, "q5_K", 256, 176},
    {14, "q6_K", 256, 210},   {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66},
    {17, "iq2_xs", 256, 74},  {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},
    {20, "iq4_nl", 32, 18},   {21, "iq3_s", 256, 110},  {22, "iq2_s", 256, 82},
    {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},         {25, "i16", 1, 2},
    {26, "i32", 1, 4},        {27, "i64", 1, 8},        {28, "f64", 1, 8},
    {29, "iq1_m", 256, 56},   {30, "bf16", 1, 2},       {34, "tq1_0", 256, 54},
    {35, "tq2_0", 256, 66},   {39, "mxfp4", 32, 17},    {40, "nvfp4", 64, 36},
    {41, "q1_0", 128, 18},    {42, "q2_0", 64, 18},
};

TEST(TensorTypeTest, EveryGgmlTypeHasGgmlBlockSizeAndName) {
  for (const KnownType& k : kGgmlTypes) {
    const TensorTypeInfo* info = FindTensorType(k.id);
    ASSERT_NE(info, nullptr) << k.name;
    EXPECT_EQ(static_cast<uint32_t>(info->type), k.id);
    EXPECT_EQ(info->name, k.name);
    EXPECT_EQ(info->block_elems, k.block_elems) << k.name;
    EXPECT_EQ(info->block_bytes, k.block_bytes) << k.name;
    EXPECT_EQ(TensorTypeName(info->type), k.name);
  }
}

TEST(TensorTypeTest, UndefinedIdsAreNotFound) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 9999u, 0xffffffffu}) {
    EXPECT_EQ(FindTensorType(id), nullptr) << id;
  }
  EXPECT_EQ(TensorTypeName(static_cast<TensorType>(4)), "unknown");
  int defined = 0;
  for (uint32_t id = 0; id < 100; ++id) defined += FindTensorType(id) != nullptr;
  EXPECT_EQ(defined, static_cast<int>(std::size(kGgmlTypes)));
}

TEST(TensorTypeTest, SupportedIsExactlyTheTypesWithKernels) {
  int supported = 0;
  for (const KnownType& k : kGgmlTypes) supported += FindTensorType(k.id)->supported;
  EXPECT_EQ(supported, static_cast<int>(std::size(kSupported)));
  for (TensorType t : kSupported) {
    EXPECT_TRUE(FindTensorType(static_cast<uint32_t>(t))->supported) << TensorTypeName(t);
  }
}

TEST(TensorTypeTest, RowBytes) {
  EXPECT_EQ(TensorRowBytes(TensorType::kQ4_K, 512).value(), 288);
  EXPECT_EQ(TensorRowBytes(TensorType::kQ8_0, 576).value(), 18 * 34);
  EXPECT_EQ(TensorRowBytes(TensorType::kF16, 3).value(), 6);
  EXPECT_EQ(TensorRowBytes(TensorType::kIQ2_XXS, 0).value(), 0);

  const Status partial = TensorRowBytes(TensorType::kQ4_K, 100).status();
  EXPECT_EQ(partial.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(partial.message().find("q4_K"), std::string_view::npos) << partial.ToString();
  EXPECT_EQ(TensorRowBytes(TensorType::kF32, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TensorRowBytes(static_cast<TensorType>(5), 32).status().code(),
            StatusCode::kInvalidArgument);

  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(TensorRowBytes(TensorType::kF64, kMax).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(TensorRowBytes(TensorType::kQ8_0, kMax / 32 * 32).status().code(),  // 34 B / 32
            StatusCode::kOutOfRange);
  EXPECT_TRUE(TensorRowBytes(TensorType::kQ4_0, kMax / 32 * 32).ok());  // 18 B / 32 fits
  EXPECT_EQ(TensorRowBytes(TensorType::kI8, kMax).value(), kMax);       // largest that fits
}

// ---- f16 / bf16 ----------------------------------------------------------------------------

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

TEST(HalfTest, Fp16ToFp32SpecialValues) {
  EXPECT_EQ(Bits(Fp16ToFp32(0x0000)), Bits(0.0f));
  EXPECT_EQ(Bits(Fp16ToFp32(0x8000)), Bits(-0.0f));
  EXPECT_EQ(Fp16ToFp32(0x3c00), 1.0f);
  EXPECT_EQ(Fp16ToFp32(0xc000), -2.0f);
  EXPECT_EQ(Fp16ToFp32(0x7bff), 65504.0f);
  EXPECT_EQ(Fp16ToFp32(0x0400), 0x1p-14f);          // smallest normal
  EXPECT_EQ(Fp16ToFp32(0x0001), 0x1p-24f);          // smallest subnormal
  EXPECT_EQ(Fp16ToFp32(0x83ff), -1023 * 0x1p-24f);  // largest subnormal
  EXPECT_EQ(Fp16ToFp32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Fp16ToFp32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7e00)));
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7c01)));  // signaling NaN comes out quiet
  EXPECT_EQ(Bits(Fp16ToFp32(0x7c01)) & 0x00400000u, 0x00400000u);
}

TEST(HalfTest, Fp32ToFp16RoundsToNearestEven) {
  EXPECT_EQ(Fp32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f), 0x3c00);      // tie: down to even
  EXPECT_EQ(Fp32ToFp16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie: up to even
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7bff);
  EXPECT_EQ(Fp32ToFp16(65519.0f), 0x7bff);
  EXPECT_EQ(Fp32ToFp16(65520.0f), 0x7c00);  // tie between 65504 and 2^16: even is inf
  EXPECT_EQ(Fp32ToFp16(-1e10f), 0xfc00);
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(0x1p-14f), 0x0400);
  EXPECT_EQ(Fp32ToFp16(0x1p-24f), 0x0001);
  EXPECT_EQ(Fp32ToFp16(0x1p-25f), 0x0000);  // tie: to even (zero)
  EXPECT_EQ(Fp32ToFp16(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(Fp32ToFp16(3 * 0x1p-25f), 0x0002);         // tie: up to even
  EXPECT_EQ(Fp32ToFp16(-1023.5f * 0x1p-24f), 0x8400);  // carries into the smallest normal
  EXPECT_EQ(Fp32ToFp16(1e-30f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_TRUE(std::isnan(Fp16ToFp32(Fp32ToFp16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(Fp32ToFp16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);
}

TEST(HalfTest, Fp16RoundTripsEveryValue) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToFp32(Fp32ToFp16(f)))) << h;
    } else {
      ASSERT_EQ(Fp32ToFp16(f), h) << h;
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) float HardwareFp16ToFp32(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t HardwareFp32ToFp16(float f) {
  return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

// The F16C instructions are the oracle: every f16, and a few million float bit patterns (all
// exponents, so rounding, overflow, subnormals and NaNs are all exercised), match bit for bit.
TEST(HalfTest, MatchesF16cInstructions) {
  if (!GetCpuFeatures().f16c) GTEST_SKIP() << "CPU has no F16C";
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    ASSERT_EQ(Bits(Fp16ToFp32(static_cast<uint16_t>(h))),
              Bits(HardwareFp16ToFp32(static_cast<uint16_t>(h))))
        << h;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 4'000'000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    ASSERT_EQ(Fp32ToFp16(f), HardwareFp32ToFp16(f)) << std::hex << Bits(f);
  }
}
#endif

TEST(HalfTest, Bf16Conversions) {
  EXPECT_EQ(Bf16ToFp32(0x3f80), 1.0f);
  EXPECT_EQ(Bits(Bf16ToFp32(0x8000)), Bits(-0.0f));
  EXPECT_EQ(Fp32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Fp32ToBf16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToBf16(1.0f + 0x1p-8f), 0x3f80);      // tie: down to even
  EXPECT_EQ(Fp32ToBf16(1.0f + 3 * 0x1p-8f), 0x3f82);  // tie: up to even
  EXPECT_EQ(Fp32ToBf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(Fp32ToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(Fp32ToBf16(std::numeric_limits<float>::max()), 0x7f80);    // rounds up to inf
  EXPECT_EQ(Fp32ToBf16(std::bit_cast<float>(0x00012345u)), 0x0001);    // subnormal kept
  const uint16_t nan = Fp32ToBf16(std::bit_cast<float>(0x7f800001u));  // signaling NaN
  EXPECT_TRUE(std::isnan(Bf16ToFp32(nan)));
  EXPECT_EQ(nan & 0x0040, 0x0040);  // quiet
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = Bf16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToFp32(Fp32ToBf16(f)))) << h;
    } else {
      ASSERT_EQ(Fp32ToBf16(f), h) << h;
    }
  }
}

// ---- dequantization: hand-built blocks with known values ----------------------------------

std::vector<float> Dequant(KernelIsa isa, TensorType type, const std::vector<uint8_t>& row,
                           int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -12345.0f);
  DequantizeRowWith(isa, type, row.data(), out.data(), n);
  return out;
}

TEST(QuantKnownValuesTest, Q4_0) {
  std::vector<uint8_t> block(18);
  PutF16(block.data(), 0.5f);
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<uint8_t>(j | (15 - j) << 4);
  for (KernelIsa isa : AvailableIsas()) {
    const std::vector<float> y = Dequant(isa, TensorType::kQ4_0, block, 32);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;
      EXPECT_EQ(y[j + 16], (7 - j) * 0.5f) << j;
    }
  }
}

TEST(QuantKnownValuesTest, Q5_0And5_1FifthBit) {
  // All nibbles 0; bit 4 set only for elements 0, 17 and 31.
  std::vector<uint8_t> q5_0(22, 0), q5_1(24, 0);
  PutF16(q5_0.data(), 1.0f);
  PutF16(q5_1.data(), 2.0f);
  PutF16(q5_1.data() + 2, -1.0f);
  const uint32_t qh = 1u | 1u << 17 | 1u << 31;
  std::memcpy(q5_0.data() + 2, &qh, 4);
  std::memcpy(q5_1.data() + 4, &qh, 4);
  for (KernelIsa isa : AvailableIsas()) {
    const std::vector<float> a = Dequant(isa, TensorType::kQ5_0, q5_0, 32);
    const std::vector<float> b = Dequant(isa, TensorType::kQ5_1, q5_1, 32);
    for (int i = 0; i < 32; ++i) {
      const bool high = i == 0 || i == 17 || i == 31;
      EXPECT_EQ(a[i], high ? 0.0f : -16.0f) << i;
      EXPECT_EQ(b[i], high ? 31.0f : -1.0f) << i;
    }
  }
}

TEST(QuantKnownValuesTest, Q8_0) {
  std::vector<uint8_t> block(34);
  PutF16(block.data(), -0.25f);
  for (int j = 0; j < 32; ++j)
    block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  for (KernelIsa isa : AvailableIsas()) {
    const std::vector<float> y = Dequant(isa, TensorType::kQ8_0, block, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * -0.25f) << j;
  }
}

// Packs 6-bit scales and mins the way ggml's Q4_K/Q5_K quantizers do (inverse of
// get_scale_min_k4).
void PackScalesK4(const int sc[8], const int m[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    out[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0f) | (m[j + 4] & 0x0f) << 4);
  }
}

// Q4_K and Q5_K with every 6-bit scale/min path exercised and a known 4- or 5-bit value per
// element: element e of sub-block s is q = (e * 7 + s) % 16 (or % 32).
void CheckK4(TensorType type) {
  const bool five = type == TensorType::kQ5_K;
  const int sc[8] = {1, 2, 3, 63, 33, 47, 16, 60};
  const int m[8] = {0, 5, 63, 10, 17, 32, 48, 1};
  std::vector<uint8_t> block(five ? 176 : 144, 0);
  PutF16(block.data(), 0.5f);
  PutF16(block.data() + 2, 0.25f);
  PackScalesK4(sc, m, block.data() + 4);
  uint8_t* qh = block.data() + 16;
  uint8_t* qs = block.data() + (five ? 48 : 16);
  std::vector<float> expected(256);
  for (int s = 0; s < 8; ++s) {
    for (int l = 0; l < 32; ++l) {
      const int q = (l * 7 + s) % (five ? 32 : 16);
      uint8_t& byte = qs[32 * (s / 2) + l];
      byte = static_cast<uint8_t>(byte | (s % 2 ? (q & 15) << 4 : (q & 15)));
      if (five && q >= 16) qh[l] = static_cast<uint8_t>(qh[l] | 1 << s);
      expected[32 * s + l] = 0.5f * sc[s] * q - 0.25f * m[s];
    }
  }
  for (KernelIsa isa : AvailableIsas()) {
    const std::vector<float> y = Dequant(isa, type, block, 256);
    for (int e = 0; e < 256; ++e) ASSERT_EQ(y[e], expected[e]) << e << " " << KernelIsaName(isa);
  }
}

TEST(QuantKnownValuesTest, Q4_K) { CheckK4(TensorType::kQ4_K); }
TEST(QuantKnownValuesTest, Q5_K) { CheckK4(TensorType::kQ5_K); }

// Q6_K: element e has q = (e * 7) % 64 and sub-block scale (e / 16) - 8, packed as in
// ggml's quantize_row_q6_K.
TEST(QuantKnownValuesTest, Q6_K) {
  std::vector<uint8_t> block(210, 0);
  uint8_t* ql = block.data();
  uint8_t* qh = block.data() + 128;
  int8_t scales[16];
  for (int s = 0; s < 16; ++s) scales[s] = static_cast<int8_t>(s - 8);
  std::memcpy(block.data() + 192, scales, 16);
  PutF16(block.data() + 208, 2.0f);
  std::vector<float> expected(256);
  for (int e = 0; e < 256; ++e) {
    const int q = (e * 7) % 64;
    const int half = e / 128, r = e % 128 / 32, l = e % 32;
    uint8_t& low = ql[64 * half + (r % 2) * 32 + l];
    low = static_cast<uint8_t>(low | (r < 2 ? (q & 15) : (q & 15) << 4));
    qh[32 * half + l] = static_cast<uint8_t>(qh[32 * half + l] | (q >> 4) << (2 * r));
    expected[e] = 2.0f * scales[e / 16] * (q - 32);
  }
  for (KernelIsa isa : AvailableIsas()) {
    const std::vector<float> y = Dequant(isa, TensorType::kQ6_K, block, 256);
    for (int e = 0; e < 256; ++e) ASSERT_EQ(y[e], expected[e]) << e << " " << KernelIsaName(isa);
  }
}

// ---- every ISA against the scalar reference, on random rows -------------------------------

struct RowCase {
  TensorType type;
  int64_t n;
};

std::vector<RowCase> RowCases() {
  std::vector<RowCase> cases;
  for (TensorType t : kSupported) {
    const int64_t be = BlockElems(t);
    // 1, 7 and 64 blocks; plain types also get lengths that leave SIMD tails (8- and 32-wide).
    for (int64_t blocks : {1, 7, 64}) cases.push_back({t, blocks * be});
    if (be == 1) {
      for (int64_t n : {37, 301, 4096}) cases.push_back({t, n});
    }
  }
  return cases;
}

class QuantRowTest : public ::testing::TestWithParam<RowCase> {};

std::string RowCaseName(const ::testing::TestParamInfo<RowCase>& info) {
  return std::string(TensorTypeName(info.param.type)) + "_n" + std::to_string(info.param.n);
}

// Dequantization is exact arithmetic replayed in the same order on every path, so the AVX2
// result must equal the scalar one bit for bit. The source starts at an odd address to prove
// no alignment is assumed.
TEST_P(QuantRowTest, Avx2DequantIsBitIdenticalToScalar) {
  if (!KernelIsaAvailable(KernelIsa::kAvx2)) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  const auto [type, n] = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(n * 131 + static_cast<uint32_t>(type)));
  const std::vector<uint8_t> row = RandomRow(type, n, rng);
  std::vector<uint8_t> shifted(row.size() + 1);
  std::memcpy(shifted.data() + 1, row.data(), row.size());

  std::vector<float> scalar(static_cast<size_t>(n)), avx2(static_cast<size_t>(n));
  DequantizeRowWith(KernelIsa::kScalar, type, row.data(), scalar.data(), n);
  DequantizeRowWith(KernelIsa::kAvx2, type, shifted.data() + 1, avx2.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(Bits(scalar[i]), Bits(avx2[i]))
        << "element " << i << ": " << scalar[i] << " vs " << avx2[i];
    ASSERT_TRUE(std::isfinite(scalar[i])) << i;
  }
  std::vector<float> dispatched(static_cast<size_t>(n));
  DequantizeRow(type, row.data(), dispatched.data(), n);
  EXPECT_EQ(std::memcmp(dispatched.data(), scalar.data(), scalar.size() * sizeof(float)), 0);
}

// DotRow on every path against a double-precision dot of the scalar-dequantized row. Tolerance:
// f32 accumulation in blocks of at most 256 terms, then at most 64 block sums (or 8 lanes of
// n/8 terms) gives a worst-case relative error (in units of sum |w x|) of roughly
// (256 + 64) * 2^-24 ~ 2e-5; random signs make the real error ~100x smaller, so 1e-5 is both safe
// and tight enough to catch a wrong element (which shifts the sum by ~1/n of sum |w x|).
TEST_P(QuantRowTest, DotMatchesDoublePrecisionReference) {
  const auto [type, n] = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(n * 977 + static_cast<uint32_t>(type)));
  const std::vector<uint8_t> row = RandomRow(type, n, rng);
  const std::vector<float> x = RandomVector(n, rng);
  std::vector<float> w(static_cast<size_t>(n));
  DequantizeRowWith(KernelIsa::kScalar, type, row.data(), w.data(), n);
  double exact = 0, magnitude = 0;
  for (int64_t i = 0; i < n; ++i) {
    exact += static_cast<double>(w[i]) * x[i];
    magnitude += std::abs(static_cast<double>(w[i]) * x[i]);
  }
  const double tolerance = 1e-5 * magnitude + 1e-30;
  for (KernelIsa isa : AvailableIsas()) {
    const float got = DotRowWith(isa, type, row.data(), x.data(), n);
    EXPECT_NEAR(got, exact, tolerance) << KernelIsaName(isa) << ", sum |w x| = " << magnitude;
  }
  EXPECT_EQ(DotRow(type, row.data(), x.data(), n),
            DotRowWith(ActiveKernelIsa(), type, row.data(), x.data(), n));
}

INSTANTIATE_TEST_SUITE_P(AllSupportedTypes, QuantRowTest, ::testing::ValuesIn(RowCases()),
                         RowCaseName);

TEST(QuantTest, EmptyRow) {
  const uint8_t unused = 0;
  for (KernelIsa isa : AvailableIsas()) {
    for (TensorType t : kSupported) {
      EXPECT_EQ(DotRowWith(isa, t, &unused, nullptr, 0), 0.0f);
      DequantizeRowWith(isa, t, &unused, nullptr, 0);
    }
  }
}

TEST(QuantTest, KernelIsaSelection) {
  EXPECT_TRUE(KernelIsaAvailable(KernelIsa::kScalar));
  EXPECT_TRUE(KernelIsaAvailable(ActiveKernelIsa()));
  EXPECT_EQ(KernelIsaName(KernelIsa::kScalar), "scalar");
  EXPECT_EQ(KernelIsaName(KernelIsa::kAvx2), "avx2");
#if defined(__x86_64__)
  const CpuFeatures& f = GetCpuFeatures();
  EXPECT_EQ(KernelIsaAvailable(KernelIsa::kAvx2), f.avx2 && f.fma && f.f16c);
#else
  EXPECT_FALSE(KernelIsaAvailable(KernelIsa::kAvx2));
#endif
}

// Broken preconditions abort with a message instead of reading out of bounds.
TEST(QuantDeathTest, PreconditionsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<uint8_t> row(1024);
  std::vector<float> out(256);
  EXPECT_DEATH(DequantizeRow(TensorType::kQ2_K, row.data(), out.data(), 256),
               "unsupported tensor type");
  EXPECT_DEATH(DotRow(TensorType::kQ4_0, row.data(), out.data(), 33), "multiple of the block");
  EXPECT_DEATH(DotRow(static_cast<TensorType>(77), row.data(), out.data(), 32),
               "unsupported tensor type");
}

}  // namespace
}  // namespace engram::kernels
