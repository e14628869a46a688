// all-MiniLM-L6-v2's WordPiece tokenizer read from llama.cpp's GGUF conversion (made by
// scripts/make_bert_gguf.sh; its vocabulary is respelled "▁word" / "piece" instead of "word" /
// "##piece") against the same tokenizer read from the sentence-transformers directory
// (vocab.txt): identical ids, as the embedder encodes them, on the 500 texts of the embedding
// goldens. Skips when the GGUF or the directory is missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/default_models.h"
#include "common/paths.h"
#include "inference/tokenizer.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;

struct Pair {
  std::unique_ptr<Tokenizer> gguf;
  std::unique_ptr<Tokenizer> dir;
  std::string skip;  // why the test cannot run, when set
};

Pair LoadPair(const std::string& gguf_name) {
  Pair p;
  Result<fs::path> dir = DefaultModelPath("embedder");
  if (!dir.ok()) {
    p.skip = dir.status().ToString();
    return p;
  }
  Result<fs::path> models = ResolveModelsDir();
  const fs::path gguf = models.ok() ? *models / gguf_name : fs::path(gguf_name);
  if (!fs::exists(gguf)) {
    p.skip = "'" + gguf.string() + "' is missing; run scripts/make_bert_gguf.sh f32 f16";
    return p;
  }
  auto from_gguf = Tokenizer::Load(gguf.string());
  EXPECT_TRUE(from_gguf.ok()) << from_gguf.status().ToString();
  auto from_dir = Tokenizer::Load(dir->string());
  EXPECT_TRUE(from_dir.ok()) << from_dir.status().ToString();
  if (from_gguf.ok()) p.gguf = std::move(*from_gguf);
  if (from_dir.ok()) p.dir = std::move(*from_dir);
  return p;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

class BertGgufTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BertGgufTokenizerTest, SameVocabularyAndSpecialTokens) {
  Pair p = LoadPair(GetParam());
  if (!p.skip.empty()) GTEST_SKIP() << p.skip;
  ASSERT_TRUE(p.gguf && p.dir);
  EXPECT_EQ(p.gguf->Family(), "wordpiece");
  EXPECT_EQ(p.gguf->VocabSize(), 30522);
  EXPECT_EQ(p.gguf->VocabSize(), p.dir->VocabSize());
  EXPECT_EQ(p.gguf->bos(), 101);  // [CLS]
  EXPECT_EQ(p.gguf->eos(), 102);  // [SEP]
  EXPECT_EQ(p.gguf->unk(), 100);
  EXPECT_EQ(p.gguf->pad(), 0);
  EXPECT_EQ(p.gguf->bos(), p.dir->bos());
  EXPECT_EQ(p.gguf->eos(), p.dir->eos());
  EXPECT_EQ(p.gguf->unk(), p.dir->unk());
  EXPECT_EQ(p.gguf->pad(), p.dir->pad());
  EXPECT_EQ(p.gguf->add_bos(), p.dir->add_bos());
  EXPECT_EQ(p.gguf->add_eos(), p.dir->add_eos());
  EXPECT_EQ(p.gguf->TokenText(2023), "\xE2\x96\x81this");  // "this" respelled with "▁"
  EXPECT_EQ(p.dir->TokenText(2023), "this");
}

TEST_P(BertGgufTokenizerTest, SameIdsAsVocabTxtOnEmbeddingGoldenTexts) {
  Pair p = LoadPair(GetParam());
  if (!p.skip.empty()) GTEST_SKIP() << p.skip;
  ASSERT_TRUE(p.gguf && p.dir);
  std::ifstream in(fs::path(ENGRAM_TEST_DATA_DIR) / "embed" / "minilm_texts.jsonl");
  ASSERT_TRUE(in.good());
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  }
  ASSERT_EQ(texts.size(), 500u);
  // Where the two spellings of the vocabulary could part: "#" runs ("###" is "#" in the GGUF),
  // literal special tokens, "##" written by the user, and text holding "▁" itself (but not
  // after the start of a word: see UserTextWithWordStartMarkFollowsLlamaCpp).
  for (const char* extra :
       {"###", "# ## ### ####", "[UNK] [CLS]x[SEP]", "##ing ##s", "C# and F# #hashtag",
        "\xE2\x96\x81", "\xE2\x96\x81the", "the\xE2\x96\x81", "x \xE2\x96\x81\xE2\x96\x81 y"}) {
    texts.emplace_back(extra);
  }
  const EncodeOptions options{.add_special = true, .parse_special = true};  // as the embedder
  size_t differing = 0, tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> a = p.gguf->Encode(texts[i], options);
    const std::vector<int32_t> b = p.dir->Encode(texts[i], options);
    tokens += b.size();
    if (a != b && ++differing <= 5) {
      ADD_FAILURE() << "text " << i << " '" << texts[i].substr(0, 120)
                    << "'\n  gguf:     " << Ids(a) << "\n  vocab.txt: " << Ids(b);
    }
  }
  EXPECT_EQ(differing, 0u);
  std::printf("%s: %zu texts, %zu tokens, %zu differ\n", GetParam().c_str(), texts.size(), tokens,
              differing);
}

// The one known divergence: a "▁" (U+2581) inside a word of the user's text. With vocab.txt,
// the rest of the word is looked up as "##▁the", which does not exist, so the word is [UNK]
// (as in Hugging Face's tokenizer). In the GGUF spelling a continuation piece is looked up bare,
// so "▁the" matches the word-start token "the" and the word becomes "a" "the" -- exactly what
// llama.cpp's own WPM tokenizer does with this file (llama-cpp-python 0.3.36). None of the 500
// golden texts holds U+2581; this pins the behaviour so that a change to it is deliberate.
TEST_P(BertGgufTokenizerTest, UserTextWithWordStartMarkFollowsLlamaCpp) {
  Pair p = LoadPair(GetParam());
  if (!p.skip.empty()) GTEST_SKIP() << p.skip;
  ASSERT_TRUE(p.gguf && p.dir);
  const EncodeOptions options{.add_special = true, .parse_special = true};
  EXPECT_EQ(p.gguf->Encode("a\xE2\x96\x81the", options),
            (std::vector<int32_t>{101, 1037, 1996, 102}));
  EXPECT_EQ(p.dir->Encode("a\xE2\x96\x81the", options), (std::vector<int32_t>{101, 100, 102}));
}

INSTANTIATE_TEST_SUITE_P(Files, BertGgufTokenizerTest,
                         ::testing::Values("all-MiniLM-L6-v2.f32.gguf",
                                           "all-MiniLM-L6-v2.f16.gguf"),
                         [](const auto& info) {
                           return info.param.find("f16") != std::string::npos ? "F16" : "F32";
                         });

}  // namespace
}  // namespace engram::inference
