// Tokenizer behaviour users rely on beyond the peer goldens (tokenizer_golden_test.cc):
// special tokens, BOS/EOS rules, end-of-generation ids, streaming pieces, round trips, errors.
#include "inference/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "common/default_models.h"
#include "common/paths.h"
#include "inference/gguf.h"
#include "tests/inference/gguf_builder.h"

namespace engram::inference {
namespace {

const Tokenizer& SmolLm() {
  static const Tokenizer* tok = [] {
    Result<std::filesystem::path> path = DefaultModelPath("generator");
    EXPECT_TRUE(path.ok()) << path.status().ToString();
    Result<std::unique_ptr<Tokenizer>> t = Tokenizer::Load(path.ok() ? path->string() : "");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(*t).release() : nullptr;
  }();
  return *tok;
}

TEST(TokenizerTest, SmolLmVocabularyAndSpecialIds) {
  const Tokenizer& tok = SmolLm();
  EXPECT_EQ(tok.Family(), "bpe");
  EXPECT_EQ(tok.VocabSize(), 49152);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.TokenText(2), "<|im_end|>");
  EXPECT_EQ(tok.eot(), 2);  // <|im_end|> ends a ChatML turn
  EXPECT_TRUE(tok.IsEndOfGeneration(2));
  EXPECT_TRUE(tok.IsEndOfGeneration(0));  // <|endoftext|>
  EXPECT_FALSE(tok.IsEndOfGeneration(1));
  EXPECT_EQ(tok.Kind(1), TokenKind::kControl);
  EXPECT_EQ(tok.Find("Hello"), 19556);
  EXPECT_FALSE(tok.add_bos());  // tokenizer.ggml.add_bos_token = false in the file
}

TEST(TokenizerTest, ControlTokensAreParsedOnlyWhenAsked) {
  const Tokenizer& tok = SmolLm();
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  const std::vector<int32_t> parsed = tok.Encode(text, {.parse_special = true});
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(parsed.back(), 2);
  const std::vector<int32_t> literal = tok.Encode(text);
  for (int32_t id : literal) EXPECT_NE(tok.Kind(id), TokenKind::kControl) << id;
  // Either way the text survives decoding (control tokens rendered on request).
  EXPECT_EQ(tok.Decode(literal), text);
  EXPECT_EQ(tok.Decode(parsed, {.render_special = true}), text);
  EXPECT_EQ(tok.Decode(parsed), "user\nHi");
}

TEST(TokenizerTest, PiecesConcatenateToTheDecodedText) {
  const Tokenizer& tok = SmolLm();
  const std::string text = "Grüße aus Köln 🙂 — 東京 costs ¥1,234.56\n\n\tdone";
  const std::vector<int32_t> ids = tok.Encode(text);
  std::string streamed;
  for (int32_t id : ids) streamed += tok.TokenToPiece(id);  // pieces may split a character
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(tok.Decode(ids), text);
}

TEST(TokenizerTest, RandomUnicodeRoundTrips) {
  const Tokenizer& tok = SmolLm();
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {"a", "Z", " ", "  ", "\n", "\t", "7", "42", "é",
                                             "ß", "ж", "中", "😀", "'s", "'LL", "...", "\r\n",
                                             "\xC2\xA0", "\xE3\x80\x80", "ـ", "्"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    ASSERT_EQ(tok.Decode(tok.Encode(text)), text);
  }
}

TEST(TokenizerTest, InvalidUtf8NeverFails) {
  const Tokenizer& tok = SmolLm();
  const std::string bytes = "ok \xff\xfe\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 end\xe2\x82";
  const std::vector<int32_t> ids = tok.Encode(bytes);
  EXPECT_FALSE(ids.empty());
  EXPECT_NE(tok.Decode(ids).find("end"), std::string::npos);
}

TEST(TokenizerTest, Llama2SentencePieceAddsBosAndDecodes) {
  Result<std::filesystem::path> model =
      RequireSharedData("tokenizers/llama2-tokenizer.model");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(model->string());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Family(), "spm");
  const std::vector<int32_t> ids = (*tok)->Encode("Hello world", {.add_special = true});
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 15043, 3186}));  // sentencepiece's ids
  EXPECT_EQ((*tok)->Decode(ids), "Hello world");
  EXPECT_EQ((*tok)->TokenToPiece(3186), " world");
  // Byte fallback: a character outside the vocabulary becomes <0x..> pieces and comes back.
  const std::vector<int32_t> emoji = (*tok)->Encode("🦙");
  EXPECT_EQ((*tok)->Kind(emoji.back()), TokenKind::kByte);
  EXPECT_EQ((*tok)->Decode(emoji), "🦙");
}

// A small SentencePiece vocabulary in GGUF, shaped like Gemma 3's: <unk> typed control,
// a user-defined whitespace run, byte fallback. add_space_prefix as given.
std::unique_ptr<Tokenizer> TinySpmGguf(bool add_space_prefix) {
  const std::string sp = "\xE2\x96\x81";  // U+2581, SentencePiece's space
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "  ", sp, "a", "b", sp + "a", "ab"};
  std::vector<int32_t> types = {3, 3, 3, 4, 1, 1, 1, 1, 1};
  std::vector<float> scores = {0, 0, 0, 0, -5, -6, -7, -1, -2};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
    scores.push_back(0);
  }
  testing::GgufBuilder g;
  g.Header(0, 9);
  g.KvStr("general.architecture", "llama");
  g.KvStr("tokenizer.ggml.model", "llama");
  g.KvStrArray("tokenizer.ggml.tokens", tokens);
  g.KvF32Array("tokenizer.ggml.scores", scores);
  g.KvI32Array("tokenizer.ggml.token_type", types);
  g.KvU32("tokenizer.ggml.bos_token_id", 1);
  g.KvU32("tokenizer.ggml.eos_token_id", 2);
  g.KvU32("tokenizer.ggml.unknown_token_id", 0);
  g.KvBool("tokenizer.ggml.add_space_prefix", add_space_prefix);
  auto gguf = GgufFile::Parse(g.bytes, "tiny-spm.gguf");
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  if (!gguf.ok()) return nullptr;
  auto tok = Tokenizer::FromGguf(**gguf);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// llama.cpp's rules around the SentencePiece library for GGUF vocabularies. The expected ids are
// what llama-cpp-python 0.3.36 gives for the same vocabulary written by gguf-py.
TEST(TokenizerTest, GgufSentencePieceFollowsLlamaCpp) {
  std::unique_ptr<Tokenizer> tok = TinySpmGguf(false);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Kind(0), TokenKind::kControl);  // as the file types it
  EXPECT_EQ(tok->Kind(3), TokenKind::kUserDefined);
  const auto byte = [](int b) { return 9 + b; };
  // No prefix space; the user-defined run is cut out before the library runs.
  EXPECT_EQ(tok->Encode("ab  a"), (std::vector<int32_t>{8, 3, 5}));
  EXPECT_EQ(tok->Encode("ab a"), (std::vector<int32_t>{8, 7}));
  // Ill-formed UTF-8: characters are cut after spaces become U+2581, so 0xE9 takes the first two
  // bytes of the escaped space with it.
  EXPECT_EQ(tok->Encode("a\xE9 b"),
            (std::vector<int32_t>{5, byte(0xE9), byte(0xE2), byte(0x96), byte(0x81), 6}));
  EXPECT_EQ(tok->Decode(tok->Encode("ab  a")), "ab  a");

  std::unique_ptr<Tokenizer> prefixed = TinySpmGguf(true);
  ASSERT_NE(prefixed, nullptr);
  const std::vector<int32_t> ids = prefixed->Encode("a b", {.add_special = true});
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 7, 4, 6}));
  EXPECT_EQ(prefixed->Decode(ids), "a b");  // the prefix space is dropped again
  // A printed BOS is the first piece, so the space stays (as llama.cpp prints it).
  EXPECT_EQ(prefixed->Decode(ids, {.render_special = true}), "<s> a b");
}

TEST(TokenizerTest, WordPieceSpecialsAndUnknownWords) {
  Result<std::filesystem::path> model = DefaultModelPath("embedder");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(model->string());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  const std::vector<int32_t> ids = t.Encode("Tokenization, unaffable!", {.add_special = true});
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), t.Find("[CLS]"));
  EXPECT_EQ(ids.back(), t.Find("[SEP]"));
  EXPECT_EQ(t.Decode(ids), "tokenization, unaffable!");
  // A word longer than 100 characters is one [UNK], as in HF.
  const std::vector<int32_t> long_word = t.Encode(std::string(101, 'a'));
  EXPECT_EQ(long_word, std::vector<int32_t>{t.unk()});
  EXPECT_TRUE(t.Encode("").empty());
  EXPECT_EQ(t.Encode("", {.add_special = true}).size(), 2u);
}

TEST(TokenizerTest, LoadErrorsNameTheProblem) {
  auto missing = Tokenizer::Load("/nonexistent/tokenizer.model");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  testing::GgufBuilder t5;
  t5.Header(0, 2).KvStr("tokenizer.ggml.model", "t5").KvStrArray("tokenizer.ggml.tokens", {"a"});
  auto gguf = GgufFile::Parse(t5.bytes, "t5.gguf");
  ASSERT_TRUE(gguf.ok());
  auto tok = Tokenizer::FromGguf(**gguf);
  EXPECT_EQ(tok.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(tok.status().message().find("'t5'"), std::string_view::npos);

  testing::GgufBuilder pre;
  pre.Header(0, 4)
      .KvStr("tokenizer.ggml.model", "gpt2")
      .KvStr("tokenizer.ggml.pre", "klingon")
      .KvStrArray("tokenizer.ggml.tokens", {"a", "b"})
      .KvStrArray("tokenizer.ggml.merges", {"a b"});
  gguf = GgufFile::Parse(pre.bytes, "pre.gguf");
  ASSERT_TRUE(gguf.ok());
  tok = Tokenizer::FromGguf(**gguf);
  EXPECT_EQ(tok.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(tok.status().message().find("klingon"), std::string_view::npos);

  testing::GgufBuilder mismatch;
  mismatch.Header(0, 3)
      .KvStr("tokenizer.ggml.model", "gpt2")
      .KvStrArray("tokenizer.ggml.tokens", {"a", "b"})
      .KvI32Array("tokenizer.ggml.token_type", {1});
  gguf = GgufFile::Parse(mismatch.bytes, "mismatch.gguf");
  ASSERT_TRUE(gguf.ok());
  tok = Tokenizer::FromGguf(**gguf);
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tok.status().message().find("token_type"), std::string_view::npos);
}

}  // namespace
}  // namespace engram::inference
