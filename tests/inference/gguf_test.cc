#include "inference/gguf.h"

#include <gtest/gtest.h>

#include <random>

#include "common/default_models.h"
#include "tests/inference/gguf_builder.h"

namespace engram::inference {
namespace {

using testing::GgufBuilder;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ8_0 = 8;

// A small valid file: every scalar type, arrays, two tensors (f32 and q8_0).
GgufBuilder ValidFile(uint32_t alignment = 32) {
  GgufBuilder b;
  b.Header(/*tensors=*/2, /*kvs=*/10);
  b.KvStr("general.architecture", "llama");
  b.KvU32("general.alignment", alignment);
  b.KvU32("llama.block_count", 2);
  b.KvI32("test.negative", -7);
  b.KvF32("llama.rope.freq_base", 10000.0f);
  b.KvBool("tokenizer.ggml.add_bos_token", true);
  b.Str("test.u64").U32(10).U64(1ull << 40);
  b.Str("test.f64").U32(12).Raw("\x00\x00\x00\x00\x00\x00\xf8\x3f", 8);  // 1.5
  b.KvStrArray("tokenizer.ggml.tokens", {"a", "b", "\xE2\x96\x81" "c"});
  b.KvF32Array("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f});
  b.Tensor("w.f32", {4, 2}, kF32, 0);
  b.Tensor("w.q8", {32, 1}, kQ8_0, alignment);  // 8 f32 = 32 bytes, then one 34-byte block
  b.PadTo(alignment);
  for (int i = 0; i < 8; ++i) b.F32(static_cast<float>(i));
  b.PadTo(alignment);
  b.Zeros(34);
  return b;
}

Result<std::unique_ptr<GgufFile>> ParseBytes(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(bytes, "test.gguf");
}

TEST(GgufTest, ParsesEveryValueTypeAndTensors) {
  const GgufBuilder b = ValidFile();
  auto gguf = ParseBytes(b.bytes);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  const GgufFile& f = **gguf;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(*f.Architecture(), "llama");
  EXPECT_EQ(*f.GetUint64("llama.block_count"), 2u);
  EXPECT_EQ(*f.Find("test.negative")->AsInt64(), -7);
  EXPECT_FALSE(f.Find("test.negative")->AsUint64().ok());
  EXPECT_DOUBLE_EQ(*f.GetDouble("llama.rope.freq_base"), 10000.0);
  EXPECT_TRUE(*f.GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(*f.GetUint64("test.u64"), 1ull << 40);
  EXPECT_DOUBLE_EQ(*f.GetDouble("test.f64"), 1.5);
  auto tokens = f.Find("tokenizer.ggml.tokens")->AsStringArray();
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*tokens, (std::vector<std::string_view>{"a", "b", "\xE2\x96\x81" "c"}));
  EXPECT_EQ(*f.Find("tokenizer.ggml.scores")->AsFloatArray(),
            (std::vector<float>{0.5f, -1.0f, 2.0f}));
  EXPECT_FALSE(f.GetString("llama.block_count").ok());  // wrong type
  EXPECT_EQ(f.GetString("missing.key").status().code(), StatusCode::kNotFound);

  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensor* w = f.FindTensor("w.f32");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->type, TensorType::kF32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(w->bytes, 32u);
  EXPECT_EQ(w->Rows(), 2);
  float third;
  std::memcpy(&third, w->data + 8, 4);
  EXPECT_EQ(third, 2.0f);
  const GgufTensor* q = f.FindTensor("w.q8");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->bytes, 34u);
  EXPECT_EQ(q->file_offset % 32, 0u);
}

TEST(GgufTest, HonoursCustomAlignment) {
  const GgufBuilder b = ValidFile(64);
  auto gguf = ParseBytes(b.bytes);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  EXPECT_EQ((*gguf)->alignment(), 64u);
  EXPECT_EQ((*gguf)->data_offset() % 64, 0u);
}

// Every truncation of a valid file fails cleanly (never crashes, never succeeds with data
// missing) and names an offset.
TEST(GgufTest, EveryTruncationIsAnError) {
  const GgufBuilder b = ValidFile();
  for (size_t n = 0; n < b.bytes.size(); ++n) {
    std::vector<uint8_t> cut(b.bytes.begin(), b.bytes.begin() + n);
    auto gguf = ParseBytes(cut);
    ASSERT_FALSE(gguf.ok()) << "prefix of " << n << " bytes parsed";
    if (n >= 4) {
      EXPECT_NE(gguf.status().message().find("offset"), std::string_view::npos)
          << gguf.status().ToString();
    }
  }
}

// Random byte corruption never crashes or over-allocates (a small in-process fuzz; the
// libFuzzer target in tests/fuzz explores much further).
TEST(GgufTest, RandomCorruptionNeverCrashes) {
  const GgufBuilder b = ValidFile();
  std::mt19937 rng(1234);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> bytes = b.bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    auto gguf = ParseBytes(bytes);
    if (gguf.ok()) {
      ++parsed;
      for (const GgufMetadataEntry& e : (*gguf)->metadata()) (void)e.value.ToDisplayString();
    }
  }
  EXPECT_GT(parsed, 0);  // some flips land in tensor data and leave the file valid
}

struct BadCase {
  const char* name;
  GgufBuilder file;
  StatusCode code;
  const char* message_part;
};

std::vector<BadCase> BadCases() {
  std::vector<BadCase> cases;
  auto add = [&](const char* name, GgufBuilder b, StatusCode code, const char* part) {
    cases.push_back({name, std::move(b), code, part});
  };
  add("empty", GgufBuilder(), StatusCode::kInvalidArgument, "not a GGUF file");
  {
    GgufBuilder b;
    b.Raw("GGML", 4).U32(3).U64(0).U64(0);
    add("wrong magic", b, StatusCode::kInvalidArgument, "not a GGUF file");
  }
  {
    GgufBuilder b;
    b.Raw("GGUF", 4).U32(3).U32(0);
    add("truncated header", b, StatusCode::kCorruption, "truncated");
  }
  add("version 1", GgufBuilder().Header(0, 0, 1), StatusCode::kNotSupported, "v1");
  add("version 4", GgufBuilder().Header(0, 0, 4), StatusCode::kNotSupported, "version 4");
  add("big-endian", GgufBuilder().Header(0, 0, 0x03000000), StatusCode::kNotSupported,
      "big-endian");
  add("absurd metadata count", GgufBuilder().Header(0, 1ull << 60), StatusCode::kCorruption,
      "metadata count");
  add("absurd tensor count", GgufBuilder().Header(~0ull, 0), StatusCode::kCorruption,
      "tensor count");
  {
    GgufBuilder b;
    b.Header(0, 1).U64(1ull << 62).Raw("k", 1).Zeros(16);
    add("absurd key length", b, StatusCode::kCorruption, "length");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("k").U32(8).U64(~0ull);
    add("absurd string length", b, StatusCode::kCorruption, "length");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("arr").U32(9).U32(4).U64(1ull << 61);
    add("absurd array count", b, StatusCode::kCorruption, "claims");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("arr").U32(9).U32(8).U64(1ull << 40);
    add("absurd string array count", b, StatusCode::kCorruption, "claims");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("k").U32(99).U32(0);
    add("unknown value type", b, StatusCode::kCorruption, "unknown value type 99");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("arr").U32(9).U32(9).U64(1).U32(4).U64(0);
    add("nested array", b, StatusCode::kCorruption, "array of arrays");
  }
  {
    GgufBuilder b;
    b.Header(0, 2).KvU32("dup", 1).KvU32("dup", 2);
    add("duplicate key", b, StatusCode::kCorruption, "duplicate metadata key 'dup'");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).Str("").U32(4).U32(1);
    add("empty key", b, StatusCode::kCorruption, "empty");
  }
  {
    GgufBuilder b;
    b.Header(0, 1).KvU32("general.alignment", 48);
    add("alignment not a power of two", b, StatusCode::kCorruption, "power of two");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {8}, kF32, 0).PadTo(32).Zeros(16);
    add("tensor past end of file", b, StatusCode::kCorruption, "extends past end of file");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {8}, kF32, 4).PadTo(32).Zeros(64);
    add("misaligned offset", b, StatusCode::kCorruption, "not a multiple of the alignment");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {8}, kF32, ~0ull - 31).PadTo(32).Zeros(64);
    add("offset overflow", b, StatusCode::kCorruption, "extends past end of file");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {8}, 200, 0).PadTo(32).Zeros(64);
    add("unknown tensor type", b, StatusCode::kCorruption, "unknown tensor type id 200");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {16}, kQ8_0, 0).PadTo(32).Zeros(64);
    add("row not a multiple of the block", b, StatusCode::kCorruption, "block size");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {}, kF32, 0).PadTo(32).Zeros(64);
    add("zero dimensions", b, StatusCode::kCorruption, "0 dimensions");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {1, 1, 1, 1, 1}, kF32, 0).PadTo(32).Zeros(64);
    add("five dimensions", b, StatusCode::kCorruption, "5 dimensions");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {8, 0}, kF32, 0).PadTo(32).Zeros(64);
    add("zero-length dimension", b, StatusCode::kCorruption, "invalid dimension 0");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {1ull << 32, 1ull << 32}, kF32, 0).PadTo(32).Zeros(64);
    add("element count overflow", b, StatusCode::kCorruption, "overflows");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor("t", {1ull << 62}, kF32, 0).PadTo(32).Zeros(64);
    add("byte size overflow", b, StatusCode::kCorruption, "larger than");
  }
  {
    GgufBuilder b;
    b.Header(2, 0).Tensor("t", {8}, kF32, 0).Tensor("t", {8}, kF32, 32).PadTo(32).Zeros(64);
    add("duplicate tensor", b, StatusCode::kCorruption, "duplicate tensor 't'");
  }
  {
    GgufBuilder b;
    b.Header(2, 0).Tensor("a", {16}, kF32, 0).Tensor("b", {8}, kF32, 32).PadTo(32).Zeros(96);
    add("overlapping tensors", b, StatusCode::kCorruption, "overlaps");
  }
  {
    GgufBuilder b;
    b.Header(1, 0).Tensor(std::string(100, 'x'), {8}, kF32, 0).PadTo(32).Zeros(32);
    add("tensor name too long", b, StatusCode::kCorruption, "longer than");
  }
  return cases;
}

TEST(GgufTest, HandCraftedBadFilesGiveClearErrors) {
  for (const BadCase& c : BadCases()) {
    auto gguf = ParseBytes(c.file.bytes);
    ASSERT_FALSE(gguf.ok()) << c.name << ": parsed";
    EXPECT_EQ(gguf.status().code(), c.code) << c.name << ": " << gguf.status().ToString();
    EXPECT_NE(gguf.status().message().find(c.message_part), std::string_view::npos)
        << c.name << ": " << gguf.status().ToString();
    EXPECT_NE(gguf.status().message().find("test.gguf"), std::string_view::npos)
        << c.name << ": the message should name the file: " << gguf.status().ToString();
  }
}

TEST(GgufTest, OpenReportsMissingFile) {
  auto gguf = GgufFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(gguf.ok());
  EXPECT_EQ(gguf.status().code(), StatusCode::kNotFound);
}

// The default model, against figures read with gguf-py (GGUFReader) from the same file.
TEST(GgufTest, ReadsTheDefaultModel) {
  Result<std::filesystem::path> path = DefaultModelPath("generator");
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  auto gguf = GgufFile::Open(path->string());
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  const GgufFile& f = **gguf;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 33u);
  EXPECT_EQ(f.tensors().size(), 272u);
  EXPECT_EQ(*f.Architecture(), "llama");
  EXPECT_EQ(*f.GetUint64("llama.block_count"), 30u);
  EXPECT_EQ(*f.GetUint64("llama.attention.head_count_kv"), 3u);
  EXPECT_FLOAT_EQ(static_cast<float>(*f.GetDouble("llama.rope.freq_base")), 100000.0f);
  EXPECT_EQ(*f.GetString("tokenizer.ggml.pre"), "smollm");
  EXPECT_EQ((*f.Find("tokenizer.ggml.tokens")->AsStringArray()).size(), 49152u);
  EXPECT_EQ((*f.Find("tokenizer.ggml.merges")->AsStringArray()).size(), 48900u);
  const GgufTensor* embd = f.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, TensorType::kQ8_0);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(embd->bytes, 30081024u);
  EXPECT_EQ(embd->file_offset, 1785664u);  // gguf-py data_offset is from the file start
  const GgufTensor* down = f.FindTensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->type, TensorType::kQ4_1);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{1536, 576}));
  EXPECT_EQ(down->bytes, 552960u);
  EXPECT_EQ(down->file_offset, 31868992u);
}

}  // namespace
}  // namespace engram::inference
