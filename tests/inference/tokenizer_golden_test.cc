// engram's tokenizers against their peers, over the 2,376-case corpus of
// tests/data/tokenize/corpus.jsonl (real text from ENGRAM_SHARED_DATA by locator, plus
// synthetic code, numbers, whitespace, CJK, emoji, invalid UTF-8 and special-token lines):
//   SmolLM2 byte-level BPE  vs llama.cpp (llama-cpp-python) and transformers' GGUF tokenizer
//   Llama 2 SentencePiece   vs the sentencepiece Python package (from the .model file, and
//                           through a GGUF vocabulary built from it)
//   all-MiniLM-L6-v2        vs Hugging Face tokenizers (WordPiece)
//   Gemma 3 SentencePiece   vs llama.cpp (llama-cpp-python) on the GGUF (skips when absent)
// Goldens come from scripts/goldens/tokenize_*.py.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/default_models.h"
#include "common/paths.h"
#include "common/sha256.h"
#include "inference/chat_template.h"
#include "inference/gguf.h"
#include "inference/internal/unicode.h"
#include "inference/tokenizer.h"
#include "tests/inference/gguf_builder.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kGoldenDir = fs::path(ENGRAM_TEST_DATA_DIR) / "tokenize";

struct Case {
  int id = 0;
  std::string kind;
  std::string text;  // the exact bytes
  bool raw_bytes = false;  // given as hex (may be invalid UTF-8)
};

std::vector<json> ReadJsonLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<int32_t> ParseIds(const json& field) {
  std::vector<int32_t> ids;
  std::istringstream in(field.get<std::string>());
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Resolves every case's text; fails the test if the shared data is missing or changed.
class Corpus {
 public:
  static const std::vector<Case>& Get() {
    static const std::vector<Case>* cases = Load();
    return *cases;
  }

 private:
  static std::vector<Case>* Load() {
    auto* cases = new std::vector<Case>();
    Result<fs::path> shared = RequireSharedData("xquad");
    if (!shared.ok()) {
      ADD_FAILURE() << shared.status().ToString();
      return cases;
    }
    const fs::path root = shared->parent_path();
    std::map<std::string, std::string> files;           // raw file bytes
    std::map<std::string, json> documents;              // parsed .json files
    std::map<std::pair<std::string, int>, json> lines;  // parsed .jsonl lines
    for (const json& line : ReadJsonLines(kGoldenDir / "corpus.jsonl")) {
      Case c;
      c.id = line["id"];
      c.kind = line["kind"];
      if (line.contains("text")) {
        c.text = line["text"];
      } else if (line.contains("hex")) {
        c.text = FromHex(line["hex"]);
        c.raw_bytes = true;
      } else {
        const json& ref = line["ref"];
        const std::string file = ref["file"];
        std::string source;
        if (ref.contains("pointer")) {
          const json::json_pointer pointer(ref["pointer"].get<std::string>());
          if (ref.contains("line")) {
            const int n = ref["line"];
            auto key = std::make_pair(file, n);
            if (!lines.count(key)) {
              std::ifstream in(root / file);
              std::string text;
              for (int i = 0; i <= n && std::getline(in, text); ++i) {
              }
              lines[key] = json::parse(text);
            }
            source = lines[key].at(pointer).get<std::string>();
          } else {
            if (!documents.count(file)) documents[file] = json::parse(ReadFile(root / file));
            source = documents[file].at(pointer).get<std::string>();
          }
        } else {
          if (!files.count(file)) files[file] = ReadFile(root / file);
          source = files[file];
        }
        if (ref.contains("span")) {
          const size_t begin = ref["span"][0];
          const size_t length = ref["span"][1];
          source = source.substr(begin, length);
        }
        c.text = std::move(source);
      }
      EXPECT_EQ(Sha256Hex(c.text), line["sha256"].get<std::string>())
          << "case " << c.id << " (" << c.kind << "): the shared data differs from what the "
          << "goldens were made from; regenerate with scripts/goldens/tokenize_corpus.py";
      cases->push_back(std::move(c));
    }
    return cases;
  }
};

std::string Show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// What Python's bytes.decode("utf-8", errors="replace") makes of the bytes.
std::string PythonReplace(const std::string& bytes) {
  return internal::EncodeUtf8(internal::DecodeUtf8Replace(bytes));
}

TEST(TokenizerGoldenTest, CorpusIsLargeAndVaried) {
  const auto& cases = Corpus::Get();
  EXPECT_GE(cases.size(), 2000u);
  std::map<std::string, int> kinds;
  for (const Case& c : cases) ++kinds[c.kind];
  for (const char* kind : {"xquad.ar", "xquad.de", "xquad.en", "xquad.es", "xquad.hi", "xquad.ru",
                           "xquad.th", "xquad.zh", "essay", "locomo", "code", "numbers",
                           "whitespace", "cjk", "emoji", "invalid_utf8", "special"}) {
    EXPECT_GT(kinds[kind], 0) << kind;
  }
}

TEST(TokenizerGoldenTest, SmolLm2BpeMatchesLlamaCppAndTransformers) {
  Result<fs::path> model = DefaultModelPath("generator");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(model->string());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const auto& cases = Corpus::Get();
  const std::vector<json> golden = ReadJsonLines(kGoldenDir / "smollm2_bpe.jsonl");
  ASSERT_EQ(golden.size(), cases.size());

  int compared = 0, identical = 0, hf_compared = 0, hf_identical = 0, peers_agree = 0;
  int roundtrips = 0, roundtrip_total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const json& g = golden[i];
    ASSERT_EQ(g["id"], c.id);
    EncodeOptions options;
    options.parse_special = g["parse_special"];
    const std::vector<int32_t> ours = (*tok)->Encode(c.text, options);
    if (g["llama_cpp"].is_null()) continue;  // llama.cpp aborts on these bytes; we must not
    const std::vector<int32_t> llama = ParseIds(g["llama_cpp"]);
    ++compared;
    if (ours == llama) {
      ++identical;
    } else {
      ADD_FAILURE() << "case " << c.id << " (" << c.kind << ") differs from llama.cpp\n  ours:  "
                    << Show(ours) << "\n  llama: " << Show(llama);
    }
    if (!g["hf"].is_null()) {
      const std::vector<int32_t> hf = g["hf"] == "same" ? llama : ParseIds(g["hf"]);
      ++hf_compared;
      hf_identical += ours == hf;
      peers_agree += llama == hf;
    }
    if (!c.raw_bytes && !options.parse_special) {
      ++roundtrip_total;
      roundtrips += (*tok)->Decode(ours) == c.text;
    }
  }
  std::printf("[ figures  ] SmolLM2 BPE: identical to llama.cpp %d/%d (%.4f); to transformers "
              "%d/%d (%.4f; llama.cpp itself agrees with transformers on %d); decode "
              "round-trips %d/%d\n",
              identical, compared, static_cast<double>(identical) / compared, hf_identical,
              hf_compared, static_cast<double>(hf_identical) / hf_compared, peers_agree,
              roundtrips, roundtrip_total);
  EXPECT_EQ(identical, compared);
  // Where the peers disagree (transformers' GGUF loader lacks the smollm digit split), we side
  // with llama.cpp; everywhere else we must equal both.
  EXPECT_EQ(hf_identical, peers_agree);
  EXPECT_EQ(roundtrips, roundtrip_total);
}

// The other byte-level BPE pre-tokenizers (gpt-2, llama-bpe = Llama 3 with ignore_merges,
// qwen2), end to end: the default model's vocabulary and merges in a GGUF whose
// tokenizer.ggml.pre names them, against llama.cpp on the same file
// (scripts/goldens/tokenize_bpe_pre.py writes the file with gguf-py and runs llama.cpp on it).
class BpePreTokenizerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BpePreTokenizerGoldenTest, MatchesLlamaCpp) {
  Result<fs::path> model = DefaultModelPath("generator");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto source = GgufFile::Open(model->string());
  ASSERT_TRUE(source.ok());
  auto strings = [&](const char* key) {
    const std::vector<std::string_view> views = *(*source)->Find(key)->AsStringArray();
    return std::vector<std::string>(views.begin(), views.end());
  };
  const std::vector<int64_t> types64 = *(*source)->Find("tokenizer.ggml.token_type")->AsIntArray();
  const std::vector<int32_t> types(types64.begin(), types64.end());
  testing::GgufBuilder b;
  b.Header(0, 7);
  b.KvStr("general.architecture", "llama");
  b.KvStr("tokenizer.ggml.model", "gpt2");
  b.KvStr("tokenizer.ggml.pre", GetParam());
  b.KvStrArray("tokenizer.ggml.tokens", strings("tokenizer.ggml.tokens"));
  b.KvI32Array("tokenizer.ggml.token_type", types);
  b.KvStrArray("tokenizer.ggml.merges", strings("tokenizer.ggml.merges"));
  b.KvU32("tokenizer.ggml.bos_token_id", 1);
  auto gguf = GgufFile::Parse(b.bytes, "vocab-" + GetParam() + ".gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**gguf);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();

  const auto& cases = Corpus::Get();
  int identical = 0, compared = 0;
  for (const json& g : ReadJsonLines(kGoldenDir / ("bpe_pre_" + GetParam() + ".jsonl"))) {
    const Case& c = cases.at(g["id"].get<size_t>());
    ASSERT_EQ(c.id, g["id"]);
    const std::vector<int32_t> ours = (*tok)->Encode(c.text);
    const std::vector<int32_t> llama = ParseIds(g["llama_cpp"]);
    ++compared;
    if (ours == llama) {
      ++identical;
    } else {
      ADD_FAILURE() << GetParam() << ": case " << c.id << " (" << c.kind
                    << ") differs from llama.cpp\n  ours:  " << Show(ours)
                    << "\n  llama: " << Show(llama);
    }
  }
  std::printf("[ figures  ] BPE pre-tokenizer %s: identical to llama.cpp %d/%d\n",
              GetParam().c_str(), identical, compared);
  EXPECT_GT(compared, 700);
  EXPECT_EQ(identical, compared);
}

INSTANTIATE_TEST_SUITE_P(OtherPreTokenizers, BpePreTokenizerGoldenTest,
                         ::testing::Values("gpt-2", "llama-bpe", "qwen2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Runs the SentencePiece goldens through `tok`.
void ExpectLlama2Spm(const Tokenizer& tok, const char* label) {
  const auto& cases = Corpus::Get();
  const std::vector<json> golden = ReadJsonLines(kGoldenDir / "llama2_spm.jsonl");
  ASSERT_EQ(golden.size(), cases.size());
  int identical = 0, roundtrips = 0, roundtrip_total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const json& g = golden[i];
    ASSERT_EQ(g["id"], c.id);
    const std::string text = g.contains("input") ? PythonReplace(c.text) : c.text;
    const std::vector<int32_t> ours = tok.Encode(text);
    const std::vector<int32_t> spm = ParseIds(g["spm"]);
    if (ours == spm) {
      ++identical;
    } else {
      ADD_FAILURE() << label << ": case " << c.id << " (" << c.kind << ") differs\n  ours: "
                    << Show(ours) << "\n  spm:  " << Show(spm);
    }
    if (!c.raw_bytes && !text.empty() && text[0] != ' ') {
      ++roundtrip_total;
      roundtrips += tok.Decode(ours) == text;
    }
  }
  std::printf("[ figures  ] Llama 2 SentencePiece (%s): identical to sentencepiece %d/%zu; "
              "decode round-trips %d/%d\n",
              label, identical, cases.size(), roundtrips, roundtrip_total);
  EXPECT_EQ(identical, static_cast<int>(cases.size()));
}

fs::path Llama2Model() {
  Result<fs::path> path = RequireSharedData("tokenizers/llama2-tokenizer.model");
  EXPECT_TRUE(path.ok()) << path.status().ToString();
  return path.ok() ? *path : fs::path();
}

TEST(TokenizerGoldenTest, Llama2SentencePieceFileMatchesSentencepiece) {
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromSentencePieceFile(Llama2Model());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  ExpectLlama2Spm(**tok, "from .model");
}

// The GGUF path: a GGUF file whose tokenizer.ggml.* arrays hold the Llama 2 vocabulary (as
// llama.cpp's converter writes them), tokenized through the SentencePiece model that engram
// assembles from those arrays.
TEST(TokenizerGoldenTest, Llama2VocabularyThroughGgufMatchesSentencepiece) {
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(Llama2Model().string()).ok());
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    tokens.push_back(sp.IdToPiece(i));
    scores.push_back(sp.GetScore(i));
    types.push_back(sp.IsUnknown(i)   ? 2
                    : sp.IsControl(i) ? 3
                    : sp.IsByte(i)    ? 6
                    : sp.IsUnused(i)  ? 5
                                      : 1);
  }
  testing::GgufBuilder b;
  b.Header(0, 8);
  b.KvStr("general.architecture", "llama");
  b.KvStr("tokenizer.ggml.model", "llama");
  b.KvStrArray("tokenizer.ggml.tokens", tokens);
  b.KvF32Array("tokenizer.ggml.scores", scores);
  b.KvI32Array("tokenizer.ggml.token_type", types);
  b.KvU32("tokenizer.ggml.bos_token_id", 1);
  b.KvU32("tokenizer.ggml.eos_token_id", 2);
  b.KvU32("tokenizer.ggml.unknown_token_id", 0);
  Result<std::unique_ptr<GgufFile>> gguf = GgufFile::Parse(b.bytes, "llama2-vocab.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**gguf);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Family(), "spm");
  EXPECT_TRUE((*tok)->add_bos());
  EXPECT_EQ((*tok)->Encode("Hi", {.add_special = true}).front(), 1);
  ExpectLlama2Spm(**tok, "through GGUF");
}

// Gemma 3's SentencePiece vocabulary (262,144 tokens, add_space_prefix false, user-defined
// whitespace runs and HTML tags, byte fallback) read from its GGUF, against llama.cpp on the same
// file. Not a default model, so the test skips when the file is absent.
constexpr char kGemma3File[] = "gemma-3-270m-q4_k_m.gguf";
constexpr char kGemma3Sha256[] = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

TEST(TokenizerGoldenTest, Gemma3SpmMatchesLlamaCpp) {
  Result<fs::path> models = ResolveModelsDir();
  const fs::path path = models.ok() ? *models / kGemma3File : fs::path(kGemma3File);
  if (!fs::exists(path)) {
    GTEST_SKIP() << "'" << path.string() << "' is missing: Gemma 3 is not a default model; put "
                 << kGemma3File << " (sha256 " << kGemma3Sha256 << ") in the models directory";
  }
  Result<std::string> digest = Sha256File(path);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  ASSERT_EQ(*digest, kGemma3Sha256) << path << " is not the file the goldens were made from";
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(path.string());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Family(), "spm");
  EXPECT_EQ((*tok)->VocabSize(), 262144);
  EXPECT_EQ((*tok)->bos(), 2);
  EXPECT_EQ((*tok)->eos(), 1);
  EXPECT_TRUE((*tok)->add_bos());

  const auto& cases = Corpus::Get();
  const std::vector<json> golden = ReadJsonLines(kGoldenDir / "gemma3_spm.jsonl");
  ASSERT_EQ(golden.size(), cases.size());
  int compared = 0, identical = 0, roundtrips = 0, roundtrip_total = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const json& g = golden[i];
    ASSERT_EQ(g["id"], c.id);
    if (g["llama_cpp"].is_null()) continue;  // llama.cpp aborted on these bytes
    const bool parse_special = c.kind == "special";
    const std::vector<int32_t> ours = (*tok)->Encode(c.text, {.parse_special = parse_special});
    const std::vector<int32_t> llama = ParseIds(g["llama_cpp"]);
    ++compared;
    if (ours == llama) {
      ++identical;
    } else {
      ADD_FAILURE() << "case " << c.id << " (" << c.kind
                    << ") differs from llama.cpp\n  ours:  " << Show(ours)
                    << "\n  llama: " << Show(llama);
    }
    // Not for ill-formed UTF-8: llama.cpp escapes spaces before it falls back to bytes, so
    // "\xE9 au" comes back as "\xE9\xE2\x96\x81au" from it and from us alike.
    if (!parse_special && !c.raw_bytes) {
      ++roundtrip_total;
      const std::string back = (*tok)->Decode(ours);
      if (back == c.text) {
        ++roundtrips;
      } else {
        ADD_FAILURE() << "case " << c.id << " (" << c.kind << ") does not decode to its text";
      }
    }
  }
  const json meta = json::parse(ReadFile(kGoldenDir / "gemma3_spm.meta.json"));
  for (const json& e : meta["extra_special"]) {
    const std::string text = e["text"];
    EXPECT_EQ(Show((*tok)->Encode(text, {.parse_special = true})), Show(ParseIds(e["llama_cpp"])))
        << text;
  }
  // The prompt the gemma chat format renders for the file (it has no tokenizer.chat_template)
  // is the second extra case; generation stops at <end_of_turn> as well as at <eos>.
  auto gguf = GgufFile::Open(path.string());
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  Result<ChatTemplate> chat = ChatTemplateForModel(**gguf, "");
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ(chat->format, ChatFormat::kGemma);
  const std::vector<ChatMessage> hi = {{"user", "Hi"}};
  EXPECT_EQ(ApplyChatTemplate(*chat, hi), meta["extra_special"][1]["text"].get<std::string>());
  EXPECT_EQ((*tok)->Find("<end_of_turn>"), 106);
  EXPECT_EQ((*tok)->eot(), 106);
  EXPECT_TRUE((*tok)->IsEndOfGeneration(106));
  EXPECT_TRUE((*tok)->IsEndOfGeneration(1));
  EXPECT_FALSE((*tok)->IsEndOfGeneration(105));
  EXPECT_EQ(
      (*tok)->Decode(ParseIds(meta["extra_special"][2]["llama_cpp"]), {.render_special = true}),
      meta["extra_special"][2]["text"].get<std::string>());
  std::printf(
      "[ figures  ] Gemma 3 SentencePiece: identical to llama.cpp %d/%d; decode "
      "round-trips %d/%d\n",
      identical, compared, roundtrips, roundtrip_total);
  EXPECT_EQ(compared, static_cast<int>(cases.size()));
  EXPECT_EQ(identical, compared);
  EXPECT_EQ(roundtrips, roundtrip_total);
}

TEST(TokenizerGoldenTest, MiniLmWordPieceMatchesHuggingFace) {
  Result<fs::path> model = DefaultModelPath("embedder");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(model->string());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Family(), "wordpiece");
  const auto& cases = Corpus::Get();
  const std::vector<json> golden = ReadJsonLines(kGoldenDir / "minilm_wordpiece.jsonl");
  ASSERT_EQ(golden.size(), cases.size());
  int identical = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    ASSERT_EQ(golden[i]["id"], c.id);
    // HF always recognises its added special tokens ([CLS], [SEP], …) in the input.
    const std::vector<int32_t> ours =
        (*tok)->Encode(c.text, {.add_special = true, .parse_special = true});
    const std::vector<int32_t> hf = ParseIds(golden[i]["hf"]);
    if (ours == hf) {
      ++identical;
    } else {
      ADD_FAILURE() << "case " << c.id << " (" << c.kind << ") differs\n  ours: " << Show(ours)
                    << "\n  hf:   " << Show(hf);
    }
  }
  std::printf("[ figures  ] all-MiniLM-L6-v2 WordPiece: identical to HF tokenizers %d/%zu\n",
              identical, cases.size());
  EXPECT_EQ(identical, static_cast<int>(cases.size()));
}

}  // namespace
}  // namespace engram::inference
