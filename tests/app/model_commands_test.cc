// `engram inspect` and `engram tokenize` as a user runs them: real binary, real model files,
// hostile files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/default_models.h"
#include "tests/app/engram_process.h"

namespace engram {
namespace {

using testing::LineCount;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

class ModelCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::filesystem::path> model = DefaultModelPath("generator");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = model->string();
    tmp_ = std::filesystem::temp_directory_path() /
           ("engram_model_cmds_" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp_);
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }

  std::string WriteFile(const std::string& name, const std::string& bytes) {
    const auto path = tmp_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }

  // One short line on stderr, nothing on stdout, exit code 2.
  static void ExpectBadInput(const RunResult& r, const std::string& part) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(LineCount(r.err), 1) << r.err;
    EXPECT_LT(r.err.size(), 400u) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  std::string model_;
  std::filesystem::path tmp_;
};

TEST_F(ModelCommandsTest, InspectJsonHasArchitectureMetadataAndTensors) {
  const RunResult r = RunEngram({"inspect", model_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["metadata"]["llama.block_count"], 30);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.pre"], "smollm");
  ASSERT_EQ(j["tensors"].size(), 272u);
  const nlohmann::json& t = j["tensors"][0];
  EXPECT_EQ(t["name"], "token_embd.weight");
  EXPECT_EQ(t["type"], "q8_0");
  EXPECT_EQ(t["shape"], nlohmann::json({576, 49152}));
  EXPECT_EQ(t["offset"], 1785664);
  EXPECT_EQ(t["bytes"], 30081024);
}

TEST_F(ModelCommandsTest, InspectTableListsTensors) {
  const RunResult r = RunEngram({"inspect", model_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.29.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("general.architecture = \"llama\""), std::string::npos);
}

TEST_F(ModelCommandsTest, InspectRejectsBadFilesWithOneLineAndExitTwo) {
  ExpectBadInput(RunEngram({"inspect", (tmp_ / "missing.gguf").string()}), "missing.gguf");
  ExpectBadInput(RunEngram({"inspect", WriteFile("text.gguf", "just some text\n")}),
                 "not a GGUF file");
  // A real header with an absurd tensor count, then a truncated copy of the real model.
  std::string hostile("GGUF\x03\0\0\0", 8);
  hostile += std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + std::string(8, '\0');
  ExpectBadInput(RunEngram({"inspect", WriteFile("hostile.gguf", hostile)}), "tensor count");
  std::ifstream in(model_, std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  ExpectBadInput(RunEngram({"inspect", WriteFile("cut.gguf", head)}), "offset");
  ExpectBadInput(RunEngram({"inspect", tmp_.string()}), "");  // a directory
}

TEST_F(ModelCommandsTest, InspectCheckRejectsUnsupportedModels) {
  const RunResult ok = RunEngram({"inspect", "--check", "--json", model_});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ParseJson(ok)["engram_supported"], true);
  // A GGUF of an architecture engram does not run, and one with an IQ2_XXS tensor.
  auto file = [](const std::string& arch, uint32_t type) {
    std::string b("GGUF\x03\0\0\0", 8);
    auto u32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
    auto u64 = [&](uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
    auto str = [&](const std::string& s) { u64(s.size()); b += s; };
    u64(1);  // tensors
    u64(1);  // metadata
    str("general.architecture");
    u32(8);
    str(arch);
    str("w");
    u32(1);
    u64(256);
    u32(type);
    u64(0);
    b.resize((b.size() + 31) / 32 * 32, '\0');
    b.resize(b.size() + 1024, '\0');
    return b;
  };
  ExpectBadInput(RunEngram({"inspect", "--check", WriteFile("mamba.gguf", file("mamba", 0))}),
                 "architecture 'mamba'");
  ExpectBadInput(RunEngram({"inspect", "--check", WriteFile("iq2.gguf", file("llama", 16))}),
                 "iq2_xxs");
  // Without --check the file is still shown, with the reason.
  const RunResult shown = RunEngram({"inspect", "--json", WriteFile("iq2b.gguf", file("llama", 16))});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(ParseJson(shown)["engram_supported"], false);
}

TEST_F(ModelCommandsTest, TokenizeDefaultModelJson) {
  const RunResult r = RunEngram({"tokenize", "--json", "Hello world!"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  // Ids from llama.cpp (llama-cpp-python 0.3.36) for the same text and model.
  EXPECT_EQ(j["ids"], nlohmann::json({19556, 905, 17}));
  EXPECT_EQ(j["pieces"], nlohmann::json({"Hello", "Ġworld", "!"}));
  EXPECT_EQ(j["tokenizer"], "bpe");
}

TEST_F(ModelCommandsTest, TokenizeParsesSpecialTokensOnlyWhenAsked) {
  const RunResult plain = RunEngram({"tokenize", "--ids", "<|im_start|>user"});
  const RunResult special = RunEngram({"tokenize", "--ids", "--parse-special", "<|im_start|>user"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(special.exit_code, 0) << special.err;
  EXPECT_EQ(special.out, "1 4093\n");
  EXPECT_NE(plain.out, special.out);
}

TEST_F(ModelCommandsTest, TokenizeOtherTokenizerKinds) {
  Result<std::filesystem::path> embedder = DefaultModelPath("embedder");
  ASSERT_TRUE(embedder.ok());
  const RunResult r = RunEngram({"tokenize", "--ids", "-m", embedder->string(), "Hello, World!"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "101 7592 1010 2088 999 102\n");  // HF tokenizers' ids
}

TEST_F(ModelCommandsTest, TokenizeChatRendersTheModelsTemplate) {
  const RunResult r = RunEngram({"tokenize", "--chat", "--json", "Hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  ASSERT_FALSE(j["ids"].empty());
  EXPECT_EQ(j["ids"][0], 1);  // <|im_start|> of the default system turn
  EXPECT_EQ(j["pieces"][1], "system");
  const RunResult bad = RunEngram({"tokenize", "--chat", "--chat-template", "vicuna", "Hi"});
  ExpectBadInput(bad, "vicuna");
}

TEST_F(ModelCommandsTest, BenchTokenizeJson) {
  const std::string file = WriteFile("lines.txt", "Hello world.\nSecond paragraph, 42 words.\n");
  const RunResult r =
      RunEngram({"bench", "tokenize", "--json", "--repetitions", "1", "--file", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["bench"], "tokenize");
  EXPECT_EQ(j["paragraphs"], 2);
  EXPECT_GT(j["tokens"].get<int>(), 5);
  EXPECT_GT(j["encode_mb_per_s"].get<double>(), 0.0);
  for (const char* key : {"commit", "machine", "tokenizer", "decode_mb_per_s"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  ExpectBadInput(RunEngram({"bench", "tokenize", "--repetitions", "0", "--file", file}),
                 "repetitions");
}

TEST_F(ModelCommandsTest, TokenizeBadInput) {
  ExpectBadInput(RunEngram({"tokenize", "-m", (tmp_ / "nope.gguf").string(), "hi"}), "nope.gguf");
  ExpectBadInput(RunEngram({"tokenize", "-m", WriteFile("x.gguf", "GGUF"), "hi"}), "truncated");
  ExpectBadInput(RunEngram({"tokenize"}), "text");
}

}  // namespace
}  // namespace engram
