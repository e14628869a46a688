#include "inference/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/default_models.h"

namespace engram::inference {
namespace {

// A safetensors file: header JSON, then `data`.
std::vector<uint8_t> File(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Status ParseStatus(const std::vector<uint8_t>& bytes) {
  auto f = SafetensorsFile::Parse(bytes, "t.safetensors");
  return f.ok() ? Status::OK() : f.status();
}

TEST(SafetensorsTest, ReadsTensorsAndMetadata) {
  std::vector<uint8_t> data(24);
  const float values[4] = {1.0f, -2.0f, 3.5f, 0.25f};
  std::memcpy(data.data(), values, 16);
  const auto bytes = File(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
      data);
  auto f = SafetensorsFile::Parse(bytes, "t.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->tensors()[0].name, "a");  // by data offset
  const SafetensorsTensor* a = (*f)->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->Elements(), 4);
  EXPECT_EQ(reinterpret_cast<const float*>(a->data)[2], 3.5f);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->Find("missing"), nullptr);
}

TEST(SafetensorsTest, RejectsMalformedFilesWithAClearStatus) {
  const std::vector<uint8_t> data(16);
  struct Case {
    std::vector<uint8_t> bytes;
    StatusCode code;
    const char* part;
  };
  std::vector<uint8_t> huge_len(16, 0xff);
  const std::vector<Case> cases = {
      {{1, 2, 3}, StatusCode::kCorruption, "too short"},
      {huge_len, StatusCode::kCorruption, "exceeds the file"},
      {File("not json", data), StatusCode::kCorruption, "not a JSON object"},
      {File("[1,2]", data), StatusCode::kCorruption, "not a JSON object"},
      {File(R"({"a":{"dtype":"F32","shape":[4]}})", data), StatusCode::kCorruption,
       "needs dtype, shape and data_offsets"},
      {File(R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}})", data),
       StatusCode::kNotSupported, "unsupported dtype"},
      {File(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data),
       StatusCode::kCorruption, "negative"},
      {File(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}})", data),
       StatusCode::kCorruption, "fall outside"},
      {File(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", data),
       StatusCode::kCorruption, "fall outside"},
      {File(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data),
       StatusCode::kCorruption, "needs 3 elements"},
      {File(R"({"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,16]}})", data),
       StatusCode::kCorruption, "too large"},
      {File(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            data),
       StatusCode::kCorruption, "overlap"},
      {File(R"({"__metadata__":{"k":1}})", data), StatusCode::kCorruption, "not a string"},
  };
  for (const Case& c : cases) {
    const Status s = ParseStatus(c.bytes);
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_NE(s.message().find(c.part), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("t.safetensors"), std::string::npos) << s.message();
  }
}

TEST(SafetensorsTest, OpensTheDefaultEmbedder) {
  Result<std::filesystem::path> dir = DefaultModelPath("embedder");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::filesystem::path path =
      std::filesystem::is_directory(*dir) ? *dir / "model.safetensors" : *dir;
  auto f = SafetensorsFile::Open(path.string());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const SafetensorsTensor* words = (*f)->Find("embeddings.word_embeddings.weight");
  ASSERT_NE(words, nullptr);
  EXPECT_EQ(words->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(words->shape, (std::vector<int64_t>{30522, 384}));
  EXPECT_EQ((*f)->tensors().size(), 101u + 3u);
  EXPECT_EQ(SafetensorsFile::Open("/nonexistent.safetensors").status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram::inference
