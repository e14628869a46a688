// DequantizeRow against a peer: gguf-py's dequantization of real blocks from the default model,
// one golden per supported type, written by scripts/goldens/quant_blocks.py into
// tests/data/quant/<type name>.json:
//   {"type": "q4_K", "type_id": 12, "source": "<where the blocks came from>", "n": <elements>,
//    "raw_hex": "<n / block_elems blocks, hex>", "values": [<n floats>]}
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {
namespace {

constexpr TensorType kSupported[] = {
    TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ8_0,
    TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1,
    TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K,
};

std::optional<std::vector<uint8_t>> DecodeHex(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

class QuantGoldenTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(QuantGoldenTest, DequantizeMatchesGgufPy) {
  const TensorType type = GetParam();
  const std::string name(TensorTypeName(type));
  const std::string path = std::string(ENGRAM_TEST_DATA_DIR) + "/quant/" + name + ".json";
  std::ifstream in(path);
  if (!in) {
    FAIL() << "missing golden " << path
           << "; generate it with scripts/goldens/quant_blocks.py (see scripts/goldens/README.md)";
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json golden = nlohmann::json::parse(text.str(), nullptr,
                                                      /*allow_exceptions=*/false);
  ASSERT_FALSE(golden.is_discarded()) << path << " is not valid JSON";
  ASSERT_TRUE(golden.is_object()) << path;
  for (const char* key : {"type", "type_id", "n", "raw_hex", "values"}) {
    ASSERT_TRUE(golden.contains(key)) << path << " has no \"" << key << "\"";
  }
  ASSERT_TRUE(golden["type"].is_string() && golden["type_id"].is_number_unsigned() &&
              golden["n"].is_number_unsigned() && golden["raw_hex"].is_string() &&
              golden["values"].is_array())
      << path << ": a field has the wrong JSON type";
  EXPECT_EQ(golden["type"].get<std::string>(), name) << path;
  EXPECT_EQ(golden["type_id"].get<uint64_t>(), static_cast<uint32_t>(type)) << path;
  const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(type));
  // Optional fields the generator adds; when present they must agree with our traits.
  if (golden.contains("block_elems")) {
    EXPECT_EQ(golden["block_elems"], info->block_elems) << path;
  }
  if (golden.contains("block_bytes")) {
    EXPECT_EQ(golden["block_bytes"], info->block_bytes) << path;
  }

  const int64_t n = golden["n"].get<int64_t>();
  ASSERT_GT(n, 0) << path;
  const Result<int64_t> row_bytes = TensorRowBytes(type, n);
  ASSERT_TRUE(row_bytes.ok()) << path << ": " << row_bytes.status().ToString();
  const std::optional<std::vector<uint8_t>> raw = DecodeHex(golden["raw_hex"].get<std::string>());
  ASSERT_TRUE(raw.has_value()) << path << ": raw_hex is not hex";
  ASSERT_EQ(static_cast<int64_t>(raw->size()), *row_bytes) << path << ": raw_hex size vs n";
  const nlohmann::json& values = golden["values"];
  ASSERT_EQ(static_cast<int64_t>(values.size()), n) << path;
  std::vector<double> expected;
  expected.reserve(values.size());
  for (const nlohmann::json& v : values) {
    ASSERT_TRUE(v.is_number()) << path << ": a value is not a number";
    expected.push_back(v.get<double>());
  }

  // Same f32 operations as gguf-py's numpy code, so results agree to the last bit; the bound only
  // absorbs the decimal round trip through JSON.
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
    if (!KernelIsaAvailable(isa)) continue;
    std::vector<float> got(static_cast<size_t>(n));
    DequantizeRowWith(isa, type, raw->data(), got.data(), n);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = expected[static_cast<size_t>(i)];
      if (std::abs(got[i] - want) <= 1e-6 * std::max(1.0, std::abs(want))) continue;
      if (++mismatches <= 5) {
        ADD_FAILURE() << name << " [" << KernelIsaName(isa) << "] element " << i << " (block "
                      << i / info->block_elems << "): got " << got[i] << ", gguf-py " << want;
      }
    }
    EXPECT_EQ(mismatches, 0) << name << " [" << KernelIsaName(isa) << "] of " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(AllSupportedTypes, QuantGoldenTest, ::testing::ValuesIn(kSupported),
                         [](const ::testing::TestParamInfo<TensorType>& info) {
                           return std::string(TensorTypeName(info.param));
                         });

}  // namespace
}  // namespace engram::kernels
