#include "inference/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kernels/half.h"

namespace engram::inference {
namespace {

float Read(const kernels::KvRows& rows, int64_t pos, int i) {
  const auto* p = static_cast<const uint8_t*>(rows.data) + pos * rows.row_stride;
  if (rows.type == TensorType::kF16) {
    uint16_t h;
    std::memcpy(&h, p + i * 2, 2);
    return kernels::Fp16ToFp32(h);
  }
  float f;
  std::memcpy(&f, p + i * 4, 4);
  return f;
}

TEST(KvCacheTest, StoresRowsPerLayerAndHead) {
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    auto cache = KvCache::Create({2, 3, 8}, {.capacity = 16, .type = type});
    ASSERT_TRUE(cache.ok());
    KvCache& c = **cache;
    EXPECT_EQ(c.bytes_per_position(), 2u * 2 * 3 * 8 * (type == TensorType::kF16 ? 2 : 4));
    EXPECT_EQ(c.bytes(), c.bytes_per_position() * 16);
    for (int layer = 0; layer < 2; ++layer) {
      for (int64_t pos = 0; pos < 16; ++pos) {
        std::vector<float> k(24), v(24);
        for (int i = 0; i < 24; ++i) {
          k[i] = layer * 1000 + pos * 10 + i * 0.5f;
          v[i] = -k[i];
        }
        c.Store(layer, pos, k.data(), v.data());
      }
    }
    c.Commit(16);
    EXPECT_EQ(c.length(), 16);
    for (int layer = 0; layer < 2; ++layer) {
      for (int head = 0; head < 3; ++head) {
        for (int64_t pos = 0; pos < 16; ++pos) {
          for (int d = 0; d < 8; ++d) {
            const float k = layer * 1000 + pos * 10 + (head * 8 + d) * 0.5f;
            ASSERT_FLOAT_EQ(Read(c.Keys(layer, head), pos, d), kernels::Fp16ToFp32(kernels::Fp32ToFp16(k)) * (type == TensorType::kF16) + k * (type == TensorType::kF32));
            ASSERT_FLOAT_EQ(Read(c.Values(layer, head), pos, d), -Read(c.Keys(layer, head), pos, d));
          }
        }
      }
    }
    c.Truncate(5);
    EXPECT_EQ(c.length(), 5);
    c.Truncate(9);  // never grows
    EXPECT_EQ(c.length(), 5);
    c.Clear();
    EXPECT_EQ(c.length(), 0);
  }
}

TEST(KvCacheTest, RejectsBadShapesAndTypes) {
  EXPECT_EQ(KvCache::Create({0, 1, 8}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(KvCache::Create({1, 1, 8}, {.capacity = 0}).status().code(),
            StatusCode::kInvalidArgument);
  // Sizes that would overflow or could never be reserved are refused up front.
  auto huge = KvCache::Create({30, 3, 64}, {.capacity = int64_t{1} << 60});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("use a smaller context"), std::string::npos);
  auto q = KvCache::Create({1, 1, 8}, {.capacity = 4, .type = TensorType::kQ8_0});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("use f16 or f32"), std::string::npos);
}

}  // namespace
}  // namespace engram::inference
