#include "inference/internal/pretokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inference/internal/unicode.h"

namespace engram::inference::internal {
namespace {

using namespace std::string_view_literals;

struct SplitCase {
  PreTokenizer type;
  std::string_view text;
  std::vector<std::string_view> want;
};

// Expected words are llama.cpp's own unicode_regex_split(text, <regex list>, false) (the
// unicode.cpp vendored in llama-cpp-python 0.3.36, compiled into a throwaway harness), for the
// regex list llama-vocab.cpp uses for each type. Every valid-UTF-8 case of kGpt2, kLlama3,
// kQwen2, kQwen35 and kSmollm also equals HF tokenizers 0.23.3 (pre_tokenizers.Split(Regex(the
// tokenizer.json pattern), "isolated"), after Digits(individual_digits=True) for kSmollm),
// except "'ſa" under kLlama3: Oniguruma's (?i) case-folds ſ to s and gives "'ſ" "a", while
// llama.cpp (and so engram) lowercases, which leaves ſ alone.
const SplitCase kSplitCases[] = {
    {PreTokenizer::kGpt2, "Hello world"sv, {"Hello"sv, " world"sv}},
    {PreTokenizer::kGpt2,
     "I'm here, they'll go! We've 'S 'Ll DON'T"sv,
     {"I"sv, "'m"sv, " here"sv, ","sv, " they"sv, "'ll"sv, " go"sv, "!"sv, " We"sv, "'ve"sv, " '"sv,
      "S"sv, " '"sv, "Ll"sv, " DON"sv, "'"sv, "T"sv}},
    {PreTokenizer::kGpt2,
     "   leading and trailing   "sv,
     {"  "sv, " leading"sv, " and"sv, " trailing"sv, "   "sv}},
    {PreTokenizer::kGpt2,
     "line1\n\nline2\r\n  indented\n"sv,
     {"line"sv, "1"sv, "\n"sv, "\n"sv, "line"sv, "2"sv, "\r\n "sv, " indented"sv, "\n"sv}},
    {PreTokenizer::kGpt2,
     "a  b\t\tc \n d"sv,
     {"a"sv, " "sv, " b"sv, "\t"sv, "\t"sv, "c"sv, " \n"sv, " d"sv}},
    {PreTokenizer::kGpt2,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"1234567"sv, " 89"sv, " 3"sv, "."sv, "14159"sv, " ١٢٣٤"sv, " Ⅻ"sv, " ²"sv}},
    {PreTokenizer::kGpt2,
     "中文测试 日本語のテキスト 한국어"sv,
     {"中文测试"sv, " 日本語のテキスト"sv, " 한국어"sv}},
    {PreTokenizer::kGpt2,
     "emoji 😀👍🏽 family 👨\u200D👩\u200D👧"sv,
     {"emoji"sv, " 😀👍🏽"sv, " family"sv, " 👨\u200D👩\u200D👧"sv}},
    {PreTokenizer::kGpt2,
     "naïve café e\u0301 x\u0301y"sv,
     {"naïve"sv, " café"sv, " e"sv, "\u0301"sv, " x"sv, "\u0301"sv, "y"sv}},
    {PreTokenizer::kGpt2,
     "\u00A0nbsp\u3000ideographic\u2003em"sv,
     {"\u00A0"sv, "nbsp"sv, "\u3000"sv, "ideographic"sv, "\u2003"sv, "em"sv}},
    {PreTokenizer::kGpt2,
     "$100 + 5% = <tag> a^b ~x | y `code`"sv,
     {"$"sv, "100"sv, " +"sv, " 5"sv, "%"sv, " ="sv, " <"sv, "tag"sv, ">"sv, " a"sv, "^"sv, "b"sv,
      " ~"sv, "x"sv, " |"sv, " y"sv, " `"sv, "code"sv, "`"sv}},
    {PreTokenizer::kGpt2,
     "ab\xff cd\xe2\x82 \uFFFD"sv,
     {"ab"sv, "\uFFFD"sv, " cd"sv, "\uFFFD\uFFFD"sv, " \uFFFD"sv}},
    {PreTokenizer::kGpt2,
     "x =  1;\n  y = 2;  \n\n"sv,
     {"x"sv, " ="sv, " "sv, " 1"sv, ";"sv, "\n "sv, " y"sv, " ="sv, " 2"sv, ";"sv, "  \n\n"sv}},
    {PreTokenizer::kLlama3, "Hello world"sv, {"Hello"sv, " world"sv}},
    {PreTokenizer::kLlama3,
     "I'm here, they'll go! We've 'S 'Ll DON'T"sv,
     {"I"sv, "'m"sv, " here"sv, ","sv, " they"sv, "'ll"sv, " go"sv, "!"sv, " We"sv, "'ve"sv, " '"sv,
      "S"sv, " '"sv, "Ll"sv, " DON"sv, "'T"sv}},
    {PreTokenizer::kLlama3,
     "   leading and trailing   "sv,
     {"  "sv, " leading"sv, " and"sv, " trailing"sv, "   "sv}},
    {PreTokenizer::kLlama3,
     "line1\n\nline2\r\n  indented\n"sv,
     {"line"sv, "1"sv, "\n\n"sv, "line"sv, "2"sv, "\r\n"sv, " "sv, " indented"sv, "\n"sv}},
    {PreTokenizer::kLlama3,
     "a  b\t\tc \n d"sv,
     {"a"sv, " "sv, " b"sv, "\t"sv, "\tc"sv, " \n"sv, " d"sv}},
    {PreTokenizer::kLlama3,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"123"sv, "456"sv, "7"sv, " "sv, "89"sv, " "sv, "3"sv, "."sv, "141"sv, "59"sv, " "sv, "١٢٣"sv,
      "٤"sv, " "sv, "Ⅻ"sv, " "sv, "²"sv}},
    {PreTokenizer::kLlama3,
     "中文测试 日本語のテキスト 한국어"sv,
     {"中文测试"sv, " 日本語のテキスト"sv, " 한국어"sv}},
    {PreTokenizer::kLlama3,
     "emoji 😀👍🏽 family 👨\u200D👩\u200D👧"sv,
     {"emoji"sv, " 😀👍🏽"sv, " family"sv, " 👨\u200D👩\u200D👧"sv}},
    {PreTokenizer::kLlama3,
     "naïve café e\u0301 x\u0301y"sv,
     {"naïve"sv, " café"sv, " e"sv, "\u0301"sv, " x"sv, "\u0301y"sv}},
    {PreTokenizer::kLlama3,
     "\u00A0nbsp\u3000ideographic\u2003em"sv,
     {"\u00A0nbsp"sv, "\u3000ideographic"sv, "\u2003em"sv}},
    {PreTokenizer::kLlama3,
     "$100 + 5% = <tag> a^b ~x | y `code`"sv,
     {"$"sv, "100"sv, " +"sv, " "sv, "5"sv, "%"sv, " ="sv, " <"sv, "tag"sv, ">"sv, " a"sv, "^b"sv,
      " ~"sv, "x"sv, " |"sv, " y"sv, " `"sv, "code"sv, "`"sv}},
    {PreTokenizer::kLlama3,
     "ab\xff cd\xe2\x82 \uFFFD"sv,
     {"ab"sv, "\uFFFD"sv, " cd"sv, "\uFFFD\uFFFD"sv, " \uFFFD"sv}},
    {PreTokenizer::kLlama3,
     "x =  1;\n  y = 2;  \n\n"sv,
     {"x"sv, " ="sv, " "sv, " "sv, "1"sv, ";\n"sv, " "sv, " y"sv, " ="sv, " "sv, "2"sv, ";"sv,
      "  \n\n"sv}},
    {PreTokenizer::kSmollm, "Hello world"sv, {"Hello"sv, " world"sv}},
    {PreTokenizer::kSmollm,
     "I'm here, they'll go! We've 'S 'Ll DON'T"sv,
     {"I"sv, "'m"sv, " here"sv, ","sv, " they"sv, "'ll"sv, " go"sv, "!"sv, " We"sv, "'ve"sv, " '"sv,
      "S"sv, " '"sv, "Ll"sv, " DON"sv, "'"sv, "T"sv}},
    {PreTokenizer::kSmollm,
     "   leading and trailing   "sv,
     {"  "sv, " leading"sv, " and"sv, " trailing"sv, "   "sv}},
    {PreTokenizer::kSmollm,
     "line1\n\nline2\r\n  indented\n"sv,
     {"line"sv, "1"sv, "\n"sv, "\n"sv, "line"sv, "2"sv, "\r\n "sv, " indented"sv, "\n"sv}},
    {PreTokenizer::kSmollm,
     "a  b\t\tc \n d"sv,
     {"a"sv, " "sv, " b"sv, "\t"sv, "\t"sv, "c"sv, " \n"sv, " d"sv}},
    {PreTokenizer::kSmollm,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"1"sv, "2"sv, "3"sv, "4"sv, "5"sv, "6"sv, "7"sv, " "sv, "8"sv,
      "9"sv, " "sv, "3"sv, "."sv, "1"sv, "4"sv, "1"sv, "5"sv, "9"sv,
      " "sv, "١"sv, "٢"sv, "٣"sv, "٤"sv, " "sv, "Ⅻ"sv, " "sv, "²"sv}},
    {PreTokenizer::kSmollm,
     "中文测试 日本語のテキスト 한국어"sv,
     {"中文测试"sv, " 日本語のテキスト"sv, " 한국어"sv}},
    {PreTokenizer::kSmollm,
     "emoji 😀👍🏽 family 👨\u200D👩\u200D👧"sv,
     {"emoji"sv, " 😀👍🏽"sv, " family"sv, " 👨\u200D👩\u200D👧"sv}},
    {PreTokenizer::kSmollm,
     "naïve café e\u0301 x\u0301y"sv,
     {"naïve"sv, " café"sv, " e"sv, "\u0301"sv, " x"sv, "\u0301"sv, "y"sv}},
    {PreTokenizer::kSmollm,
     "\u00A0nbsp\u3000ideographic\u2003em"sv,
     {"\u00A0"sv, "nbsp"sv, "\u3000"sv, "ideographic"sv, "\u2003"sv, "em"sv}},
    {PreTokenizer::kSmollm,
     "$100 + 5% = <tag> a^b ~x | y `code`"sv,
     {"$"sv, "1"sv,  "0"sv, "0"sv, " +"sv, " "sv, "5"sv,  "%"sv,  " ="sv, " <"sv,   "tag"sv,
      ">"sv, " a"sv, "^"sv, "b"sv, " ~"sv, "x"sv, " |"sv, " y"sv, " `"sv, "code"sv, "`"sv}},
    {PreTokenizer::kSmollm,
     "ab\xff cd\xe2\x82 \uFFFD"sv,
     {"ab"sv, "\uFFFD"sv, " cd"sv, "\uFFFD\uFFFD"sv, " \uFFFD"sv}},
    {PreTokenizer::kSmollm,
     "x =  1;\n  y = 2;  \n\n"sv,
     {"x"sv, " ="sv, "  "sv, "1"sv, ";"sv, "\n "sv, " y"sv, " ="sv, " "sv, "2"sv, ";"sv,
      "  \n\n"sv}},
    {PreTokenizer::kQwen2,
     "I'm here, they'll go! We've 'S 'Ll DON'T"sv,
     {"I"sv, "'m"sv, " here"sv, ","sv, " they"sv, "'ll"sv, " go"sv, "!"sv, " We"sv, "'ve"sv, " '"sv,
      "S"sv, " '"sv, "Ll"sv, " DON"sv, "'T"sv}},
    {PreTokenizer::kQwen2,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"1"sv, "2"sv, "3"sv, "4"sv, "5"sv, "6"sv, "7"sv, " "sv, "8"sv,
      "9"sv, " "sv, "3"sv, "."sv, "1"sv, "4"sv, "1"sv, "5"sv, "9"sv,
      " "sv, "١"sv, "٢"sv, "٣"sv, "٤"sv, " "sv, "Ⅻ"sv, " "sv, "²"sv}},
    {PreTokenizer::kQwen2,
     "x =  1;\n  y = 2;  \n\n"sv,
     {"x"sv, " ="sv, " "sv, " "sv, "1"sv, ";\n"sv, " "sv, " y"sv, " ="sv, " "sv, "2"sv, ";"sv,
      "  \n\n"sv}},
    {PreTokenizer::kQwen35,
     "naïve café e\u0301 x\u0301y"sv,
     {"naïve"sv, " café"sv, " e\u0301"sv, " x\u0301y"sv}},
    {PreTokenizer::kQwen35,
     "\u0300abc ह\u093Fन\u094Dद\u0940"sv,
     {"\u0300abc"sv, " ह\u093Fन\u094Dद\u0940"sv}},
    {PreTokenizer::kQwen35,
     "1234567 89"sv,
     {"1"sv, "2"sv, "3"sv, "4"sv, "5"sv, "6"sv, "7"sv, " "sv, "8"sv, "9"sv}},
    {PreTokenizer::kDefault,
     "$100 + 5% = <tag> a^b ~x | y `code`"sv,
     {"$"sv, "100"sv, " "sv,   "+"sv,  " "sv,  "5"sv,    "%"sv, " "sv, "="sv,
      " "sv, "<"sv,   "tag"sv, ">"sv,  " a"sv, "^"sv,    "b"sv, " "sv, "~"sv,
      "x"sv, " "sv,   "|"sv,   " y"sv, " `"sv, "code"sv, "`"sv}},
    {PreTokenizer::kDefault,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"123"sv, "456"sv, "7"sv, " "sv, "89"sv, " "sv, "3"sv, "."sv, "141"sv, "59"sv, " "sv, "١٢٣٤"sv,
      " "sv, "Ⅻ"sv, " "sv, "²"sv}},
    {PreTokenizer::kDefault,
     "Hello, world!!! (yes...) don't"sv,
     {"Hello"sv, ","sv, " world"sv, "!!!"sv, " "sv, "("sv, "yes"sv, "...)"sv, " don"sv, "'"sv,
      "t"sv}},
    {PreTokenizer::kFalcon,
     "$100 + 5% = <tag> a^b ~x | y `code`"sv,
     {"$"sv, "100"sv, " "sv,  "+"sv,  " 5"sv, "%"sv,    " "sv, "="sv, " "sv,
      "<"sv, "tag"sv, ">"sv,  " a"sv, "^"sv,  "b"sv,    " "sv, "~"sv, "x"sv,
      " "sv, "|"sv,   " y"sv, " "sv,  "`"sv,  "code"sv, "`"sv}},
    {PreTokenizer::kFalcon,
     "1234567 89 3.14159 ١٢٣٤ Ⅻ ²"sv,
     {"123"sv, "456"sv, "7"sv, " 89"sv, " 3"sv, "."sv, "141"sv, "59"sv, " ١٢٣٤"sv, " Ⅻ"sv, " ²"sv}},
    {PreTokenizer::kFalcon,
     "Hello, world!!! (yes...) don't"sv,
     {"Hello"sv, ","sv, " world"sv, "!!!"sv, " "sv, "("sv, "yes"sv, "...)"sv, " don"sv, "'"sv,
      "t"sv}},
    {PreTokenizer::kLlama3, ""sv, {}},
    {PreTokenizer::kLlama3, " "sv, {" "sv}},
    {PreTokenizer::kLlama3, "\n\n"sv, {"\n\n"sv}},
    {PreTokenizer::kLlama3, "a  "sv, {"a"sv, "  "sv}},
    {PreTokenizer::kLlama3, "\t\n a"sv, {"\t\n"sv, " a"sv}},
    {PreTokenizer::kLlama3, "'''s"sv, {"'''"sv, "s"sv}},
    {PreTokenizer::kLlama3, "x'"sv, {"x"sv, "'"sv}},
    {PreTokenizer::kLlama3, "'ſa"sv, {"'ſa"sv}},
    {PreTokenizer::kLlama3,
     "'S 'T 'RE 'Ve 'M 'LL 'D"sv,
     {"'S"sv, " '"sv, "T"sv, " '"sv, "RE"sv, " '"sv, "Ve"sv, " '"sv, "M"sv, " '"sv, "LL"sv, " '"sv,
      "D"sv}},
    {PreTokenizer::kLlama3,
     "a1b22c333d4444"sv,
     {"a"sv, "1"sv, "b"sv, "22"sv, "c"sv, "333"sv, "d"sv, "444"sv, "4"sv}},
    {PreTokenizer::kLlama3, "\u2028x\u0085y"sv, {"\u2028x"sv, "\u0085y"sv}},
    {PreTokenizer::kSmollm, ""sv, {}},
    {PreTokenizer::kSmollm, " "sv, {" "sv}},
    {PreTokenizer::kSmollm, "\n\n"sv, {"\n\n"sv}},
    {PreTokenizer::kSmollm, "a  "sv, {"a"sv, "  "sv}},
    {PreTokenizer::kSmollm, "\t\n a"sv, {"\t\n"sv, " a"sv}},
    {PreTokenizer::kSmollm, "'''s"sv, {"'''"sv, "s"sv}},
    {PreTokenizer::kSmollm, "x'"sv, {"x"sv, "'"sv}},
    {PreTokenizer::kSmollm, "'ſa"sv, {"'"sv, "ſa"sv}},
    {PreTokenizer::kSmollm,
     "'S 'T 'RE 'Ve 'M 'LL 'D"sv,
     {"'"sv, "S"sv, " '"sv, "T"sv, " '"sv, "RE"sv, " '"sv, "Ve"sv, " '"sv, "M"sv, " '"sv, "LL"sv,
      " '"sv, "D"sv}},
    {PreTokenizer::kSmollm,
     "a1b22c333d4444"sv,
     {"a"sv, "1"sv, "b"sv, "2"sv, "2"sv, "c"sv, "3"sv, "3"sv, "3"sv, "d"sv, "4"sv, "4"sv, "4"sv,
      "4"sv}},
    {PreTokenizer::kSmollm, "\u2028x\u0085y"sv, {"\u2028"sv, "x"sv, "\u0085"sv, "y"sv}},
    {PreTokenizer::kGpt2,
     "a1b22c333d4444"sv,
     {"a"sv, "1"sv, "b"sv, "22"sv, "c"sv, "333"sv, "d"sv, "4444"sv}},
    {PreTokenizer::kGpt2, "'ſa"sv, {"'"sv, "ſa"sv}},
};

std::string Show(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += "[" + w + "]";
  return out;
}

TEST(PreTokenizeTest, MatchesLlamaCppOnTrickyText) {
  for (const SplitCase& c : kSplitCases) {
    const std::vector<std::string> got = PreTokenize(c.type, c.text);
    const std::vector<std::string> want(c.want.begin(), c.want.end());
    EXPECT_EQ(got, want) << PreTokenizerName(c.type) << " on \"" << c.text << "\"\n  got  "
                         << Show(got) << "\n  want " << Show(want);
  }
}

// Whatever the input, the words are non-empty and concatenate to the decoded-and-re-encoded
// text. Inputs are random mixes of the code points the matchers treat differently.
TEST(PreTokenizeTest, WordsAreNonEmptyAndCoverTheText) {
  const std::string_view atoms[] = {
      "a",      "Z",      "s",      "T",    "re",       "LL",         "'",           " ",
      "  ",     "\n",     "\r",     "\t",   "\v",       "0",          "12",          "4567",
      ".",      "$",      "+",      "`",    "|",        "\u00e9",     "e\u0301",     "\u0301",
      "\u00a0", "\u3000", "\u0085", "\x1c", "\u4e2d",   "\U0001F600", "\u200d",      "\u0663",
      "\u2162", "\u017f", "\ufffd", "\xff", "\xe2\x82", "\xc0\x80",   "\xed\xa0\x80"};
  const PreTokenizer types[] = {
      PreTokenizer::kDefault, PreTokenizer::kGpt2,   PreTokenizer::kLlama3, PreTokenizer::kQwen2,
      PreTokenizer::kQwen35,  PreTokenizer::kSmollm, PreTokenizer::kFalcon};
  std::mt19937 rng(7);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text;
    const int n = static_cast<int>(rng() % 16);
    for (int i = 0; i < n; ++i) text += atoms[rng() % std::size(atoms)];
    const std::string normalized = EncodeUtf8(DecodeUtf8(text));
    for (PreTokenizer type : types) {
      std::string joined;
      for (const std::string& word : PreTokenize(type, text)) {
        ASSERT_FALSE(word.empty()) << PreTokenizerName(type) << " on \"" << text << "\"";
        joined += word;
      }
      ASSERT_EQ(joined, normalized) << PreTokenizerName(type) << " on \"" << text << "\"";
    }
  }
}

TEST(PreTokenizerFromGgufNameTest, MapsLlamaCppNames) {
  const std::pair<std::string_view, PreTokenizer> cases[] = {
      {"default", PreTokenizer::kDefault},
      {"", PreTokenizer::kDefault},
      {"gpt-2", PreTokenizer::kGpt2},
      {"phi-2", PreTokenizer::kGpt2},
      {"jina-es", PreTokenizer::kGpt2},
      {"roberta-bpe", PreTokenizer::kGpt2},
      {"llama3", PreTokenizer::kLlama3},
      {"llama-v3", PreTokenizer::kLlama3},
      {"llama-bpe", PreTokenizer::kLlama3},
      {"falcon3", PreTokenizer::kLlama3},
      {"dbrx", PreTokenizer::kLlama3},
      {"qwen2", PreTokenizer::kQwen2},
      {"deepseek-r1-qwen", PreTokenizer::kQwen2},
      {"stablelm2", PreTokenizer::kQwen2},
      {"qwen35", PreTokenizer::kQwen35},
      {"smollm", PreTokenizer::kSmollm},
      {"starcoder", PreTokenizer::kSmollm},
      {"refact", PreTokenizer::kSmollm},
      {"falcon", PreTokenizer::kFalcon},
  };
  for (const auto& [name, type] : cases) {
    Result<PreTokenizer> got = PreTokenizerFromGgufName(name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().ToString();
    EXPECT_EQ(*got, type) << name;
  }
}

TEST(PreTokenizerFromGgufNameTest, UnknownOrUnimplementedIsNotSupported) {
  for (std::string_view name : {"no-such-pre", "deepseek-llm", "gpt-4o", "tekken", "LLAMA3"}) {
    Result<PreTokenizer> got = PreTokenizerFromGgufName(name);
    ASSERT_FALSE(got.ok()) << name;
    EXPECT_EQ(got.status().code(), StatusCode::kNotSupported);
    EXPECT_NE(got.status().message().find(name), std::string_view::npos) << got.status().ToString();
  }
}

TEST(ByteLevelTest, Gpt2Alphabet) {
  EXPECT_EQ(ByteToUnicodeBpe(" Hello"), "\u0120Hello");
  EXPECT_EQ(ByteToUnicodeBpe("\n"), "\u010a");
  EXPECT_EQ(ByteToUnicodeBpe("\t"), "\u0109");
  EXPECT_EQ(ByteToUnicodeBpe("\x7f"), "\u0121");
  EXPECT_EQ(ByteToUnicodeBpe("\xa0"), "\u0142");
  EXPECT_EQ(ByteToUnicodeBpe("\xad"), "\u0143");
  EXPECT_EQ(ByteToUnicodeBpe("\0"sv), "\u0100");
  EXPECT_EQ(ByteToUnicodeBpe("\u00e9"), "\u00c3\u00a9");  // é is bytes C3 A9
  EXPECT_EQ(ByteToUnicodeBpe(""), "");
}

TEST(ByteLevelTest, EveryByteRoundTripsThroughADistinctCodePoint) {
  std::vector<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string byte(1, static_cast<char>(b));
    const std::string piece = ByteToUnicodeBpe(byte);
    const std::vector<uint32_t> cps = DecodeUtf8(piece);
    ASSERT_EQ(cps.size(), 1u);
    EXPECT_LT(cps[0], 0x144u);
    seen.push_back(cps[0]);
    Result<std::string> back = UnicodeBpeToBytes(piece);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, byte);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

TEST(ByteLevelTest, DecodingRejectsCodePointsOutsideTheAlphabet) {
  Result<std::string> ok = UnicodeBpeToBytes("\u0120world\u010a");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, " world\n");
  for (std::string_view bad : {"a\u20ac"sv, "\u0144"sv, " "sv, "a\xff"sv, "\xc4"sv}) {
    Result<std::string> got = UnicodeBpeToBytes(bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace engram::inference::internal
