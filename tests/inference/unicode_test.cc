#include "inference/internal/unicode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "inference/internal/unicode_data.h"

namespace engram::inference::internal {
namespace {

using namespace std::string_view_literals;
using Cps = std::vector<uint32_t>;
constexpr uint32_t kFffd = kReplacementCharacter;

// ---- UTF-8 ----------------------------------------------------------------------------------

TEST(Utf8Test, SequenceLengthFollowsTheLeadNibbleLikeLlamaCpp) {
  EXPECT_EQ(Utf8SequenceLength('a'), 1u);
  EXPECT_EQ(Utf8SequenceLength('\x80'), 1u);  // continuation bytes count as one
  EXPECT_EQ(Utf8SequenceLength('\xBF'), 1u);
  EXPECT_EQ(Utf8SequenceLength('\xC3'), 2u);
  EXPECT_EQ(Utf8SequenceLength('\xDF'), 2u);
  EXPECT_EQ(Utf8SequenceLength('\xE2'), 3u);
  EXPECT_EQ(Utf8SequenceLength('\xF0'), 4u);
  EXPECT_EQ(Utf8SequenceLength('\xFF'), 4u);
}

TEST(Utf8Test, DecodesValidText) {
  const Cps want = {'a', 0xE9, 0x4E2D, 0x1F600};
  EXPECT_EQ(DecodeUtf8("a\u00e9\u4e2d\U0001F600"), want);
  EXPECT_EQ(DecodeUtf8Replace("a\u00e9\u4e2d\U0001F600"), want);
  EXPECT_EQ(DecodeUtf8(""), Cps{});
  EXPECT_EQ(DecodeUtf8("a\0b"sv), (Cps{'a', 0, 'b'}));
}

// Expected values are what llama.cpp's unicode_cpts_from_utf8 returns (checked against its
// source): one U+FFFD per bad byte, no overlong/surrogate/range checks.
TEST(Utf8Test, DecodeUtf8ReplacesInvalidBytesLikeLlamaCpp) {
  EXPECT_EQ(DecodeUtf8("\xE2\x82"), (Cps{kFffd, kFffd}));
  EXPECT_EQ(DecodeUtf8("\xE2\x82x"), (Cps{kFffd, kFffd, 'x'}));
  EXPECT_EQ(DecodeUtf8("\x80"
                       "abc"),
            (Cps{kFffd, 'a', 'b', 'c'}));
  EXPECT_EQ(DecodeUtf8("\xFF"), (Cps{kFffd}));
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x98"), (Cps{kFffd, kFffd, kFffd}));
  EXPECT_EQ(DecodeUtf8("\xE2\x28\xA1"), (Cps{kFffd, '(', kFffd}));
  EXPECT_EQ(DecodeUtf8("\xF8\x88\x80\x80\x80"), (Cps{kFffd, kFffd, kFffd, kFffd, kFffd}));
  EXPECT_EQ(DecodeUtf8("\xC0\x80"), (Cps{0}));  // overlong NUL decodes
  EXPECT_EQ(DecodeUtf8("\xE0\x80\x80"), (Cps{0}));
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80"), (Cps{0xD800}));        // a surrogate decodes
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80"), (Cps{0x110000}));  // so does past U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xF7\xBF\xBF\xBF"), (Cps{0x1FFFFF}));
}

// Expected values are Python's bytes.decode("utf-8", errors="replace").
TEST(Utf8Test, DecodeUtf8ReplaceUsesMaximalSubparts) {
  EXPECT_EQ(DecodeUtf8Replace("\xE2\x82"), (Cps{kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xE2\x82x"), (Cps{kFffd, 'x'}));
  EXPECT_EQ(DecodeUtf8Replace("\x80"
                              "abc"),
            (Cps{kFffd, 'a', 'b', 'c'}));
  EXPECT_EQ(DecodeUtf8Replace("\xFF"), (Cps{kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xC3"), (Cps{kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xF0\x9F\x98"), (Cps{kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xF1\x80"
                              "A"),
            (Cps{kFffd, 'A'}));
  EXPECT_EQ(DecodeUtf8Replace("\xE2\x28\xA1"), (Cps{kFffd, '(', kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xF8\x88\x80\x80\x80"), (Cps(5, kFffd)));
  EXPECT_EQ(DecodeUtf8Replace("\xC0\x80"), (Cps{kFffd, kFffd}));
  EXPECT_EQ(DecodeUtf8Replace("\xE0\x80\x80"), (Cps(3, kFffd)));
  EXPECT_EQ(DecodeUtf8Replace("\xF0\x80\x80\x80"), (Cps(4, kFffd)));
  EXPECT_EQ(DecodeUtf8Replace("\xED\xA0\x80"), (Cps(3, kFffd)));
  EXPECT_EQ(DecodeUtf8Replace("\xF4\x90\x80\x80"), (Cps(4, kFffd)));
  EXPECT_EQ(DecodeUtf8Replace("\xF4\x8F\xBF\xBF"), (Cps{0x10FFFF}));
}

// A slow reference for maximal-subpart decoding: at each position take the longest prefix of
// some well-formed encoding, found by encoding candidates rather than by the byte-range table.
Cps ReferenceDecodeReplace(std::string_view s) {
  auto well_formed = [](std::string_view bytes) {
    const Cps cps = DecodeUtf8(bytes);  // lenient; then insist it re-encodes to the same bytes
    return cps.size() == 1 && cps[0] <= kMaxUnicode && !(cps[0] >= 0xD800 && cps[0] <= 0xDFFF) &&
           EncodeUtf8(cps) == bytes;
  };
  auto completable = [&](std::string_view prefix) {
    const size_t length = Utf8SequenceLength(prefix[0]);
    if (prefix.size() >= length) return well_formed(prefix.substr(0, length));
    // Bytes after the second are unconstrained continuation bytes; the second may be limited.
    for (int second = 0x80; second <= 0xBF; ++second) {
      std::string candidate(prefix);
      if (candidate.size() == 1) candidate.push_back(static_cast<char>(second));
      while (candidate.size() < length) candidate.push_back('\x80');
      if (well_formed(candidate)) return true;
      if (prefix.size() > 1) break;
    }
    return false;
  };
  Cps out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t length = std::min(Utf8SequenceLength(s[i]), s.size() - i);
    size_t k = 0;
    while (k < length && completable(s.substr(i, k + 1))) ++k;
    if (k == Utf8SequenceLength(s[i]) && well_formed(s.substr(i, k))) {
      out.push_back(DecodeUtf8(s.substr(i, k))[0]);
      i += k;
    } else {
      out.push_back(kFffd);
      i += std::max<size_t>(k, 1);
    }
  }
  return out;
}

TEST(Utf8Test, DecodeUtf8ReplaceMatchesSlowReferenceOnRandomBytes) {
  std::mt19937 rng(12345);
  const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                                 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED,
                                 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF};
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string s;
    const int n = static_cast<int>(rng() % 9);
    for (int i = 0; i < n; ++i) {
      s.push_back(static_cast<char>(rng() % 4 == 0 ? rng() % 256
                                                   : interesting[rng() % sizeof(interesting)]));
    }
    ASSERT_EQ(DecodeUtf8Replace(s), ReferenceDecodeReplace(s)) << "iteration " << iteration;
  }
}

TEST(Utf8Test, EncodesAtLengthBoundaries) {
  EXPECT_EQ(EncodeUtf8(Cps{0x7F}), "\x7F");
  EXPECT_EQ(EncodeUtf8(Cps{0x80}), "\xC2\x80");
  EXPECT_EQ(EncodeUtf8(Cps{0x7FF}), "\xDF\xBF");
  EXPECT_EQ(EncodeUtf8(Cps{0x800}), "\xE0\xA0\x80");
  EXPECT_EQ(EncodeUtf8(Cps{0xFFFF}), "\xEF\xBF\xBF");
  EXPECT_EQ(EncodeUtf8(Cps{0x10000}), "\xF0\x90\x80\x80");
  EXPECT_EQ(EncodeUtf8(Cps{0x10FFFF}), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(EncodeUtf8(Cps{0xD800}), "\xED\xA0\x80");  // as llama.cpp writes it
  EXPECT_EQ(EncodeUtf8(Cps{0x110000}), "\xEF\xBF\xBD");
  EXPECT_EQ(EncodeUtf8(Cps{0, 'a'}), "\0a"sv);
  std::string out = "x";
  AppendUtf8(0xE9, out);
  EXPECT_EQ(out, "x\u00e9");
}

TEST(Utf8Test, EveryCodePointRoundTrips) {
  for (uint32_t cp = 0; cp <= kMaxUnicode; ++cp) {
    const std::string bytes = EncodeUtf8(Cps{cp});
    ASSERT_EQ(DecodeUtf8(bytes), Cps{cp}) << cp;
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(DecodeUtf8Replace(bytes), surrogate ? Cps(3, kFffd) : Cps{cp}) << cp;
  }
}

// ---- properties -----------------------------------------------------------------------------

TEST(CodePointFlagsTest, SpotChecksAcrossScripts) {
  using F = CodePointFlags;
  auto bits = [](uint32_t cp) { return GetCodePointFlags(cp).bits(); };
  EXPECT_EQ(bits('a'), F::kLetter | F::kLowercase);
  EXPECT_EQ(bits('A'), F::kLetter | F::kUppercase);
  EXPECT_EQ(bits('0'), F::kNumber);
  EXPECT_EQ(bits(0x0661), F::kNumber);                 // ARABIC-INDIC DIGIT ONE (Nd)
  EXPECT_EQ(bits(0x00B2), F::kNumber);                 // SUPERSCRIPT TWO (No)
  EXPECT_TRUE(GetCodePointFlags(0x2162).is_number());  // ROMAN NUMERAL THREE (Nl)
  EXPECT_EQ(bits(' '), F::kSeparator | F::kWhitespace);
  EXPECT_EQ(bits('\n'), F::kControl | F::kWhitespace);
  EXPECT_EQ(bits(0x00A0), F::kSeparator | F::kWhitespace);  // NO-BREAK SPACE
  EXPECT_EQ(bits(0x3000), F::kSeparator | F::kWhitespace);  // IDEOGRAPHIC SPACE
  EXPECT_EQ(bits(0x2028), F::kSeparator | F::kWhitespace);  // LINE SEPARATOR
  EXPECT_EQ(bits(0x0085), F::kControl | F::kWhitespace);    // NEXT LINE
  // U+001C..U+001F: Python's isspace() says yes, White_Space (and llama.cpp) says no.
  EXPECT_EQ(bits(0x001C), F::kControl);
  EXPECT_EQ(bits(0x200B), F::kControl);  // ZERO WIDTH SPACE is Cf, not White_Space
  EXPECT_EQ(bits(0x0301), F::kAccentMark);
  EXPECT_EQ(bits(0x0903), F::kAccentMark);  // Mc
  EXPECT_TRUE(GetCodePointFlags(0x4E2D).is_letter());
  EXPECT_TRUE(GetCodePointFlags(0xAC00).is_letter());
  EXPECT_TRUE(GetCodePointFlags(0x3042).is_letter());
  EXPECT_EQ(bits(0x1F600), F::kSymbol);  // emoji
  EXPECT_EQ(bits(0xFFFD), F::kSymbol);
  EXPECT_EQ(bits('!'), F::kPunctuation);
  EXPECT_EQ(bits('$'), F::kSymbol);
  EXPECT_EQ(bits(0x200D), F::kControl);  // ZWJ (Cf)
  EXPECT_EQ(bits(0xE000), F::kControl);  // private use
  EXPECT_EQ(bits(0xD800), F::kControl);  // surrogate
  EXPECT_EQ(bits(0x0378), F::kUndefined);
  EXPECT_EQ(bits(0x2FFC), F::kSymbol);     // new in Unicode 15.1, as in llama.cpp's table
  EXPECT_EQ(bits(0x1C89), F::kUndefined);  // new in 16.0: unassigned for llama.cpp too
  EXPECT_EQ(bits(0x110000), F::kUndefined);
  EXPECT_TRUE(CodePointFlags().none());
  EXPECT_STREQ(unicode_data::kUnicodeVersion, "15.1.0");
}

TEST(CodePointFlagsTest, EveryCodePointHasExactlyOneCategory) {
  for (uint32_t cp = 0; cp <= kMaxUnicode; ++cp) {
    const uint16_t category = GetCodePointFlags(cp).category_bits();
    ASSERT_TRUE(category != 0 && (category & (category - 1)) == 0) << cp;
  }
}

TEST(CodePointFlagsTest, GeneralCategories) {
  using enum GeneralCategory;
  const std::pair<uint32_t, GeneralCategory> cases[] = {
      {'A', kLu},     {'a', kLl},    {0x01C5, kLt}, {0x02B0, kLm}, {0x4E2D, kLo}, {0x0301, kMn},
      {0x0903, kMc},  {0x20DD, kMe}, {'5', kNd},    {0x2162, kNl}, {0x00B2, kNo}, {'_', kPc},
      {'-', kPd},     {'(', kPs},    {')', kPe},    {0x00AB, kPi}, {0x00BB, kPf}, {'!', kPo},
      {'+', kSm},     {'$', kSc},    {'^', kSk},    {0x00A9, kSo}, {' ', kZs},    {0x2028, kZl},
      {0x2029, kZp},  {'\n', kCc},   {0x200D, kCf}, {0xD800, kCs}, {0xE000, kCo}, {0x0378, kCn},
      {0x110000, kCn}};
  for (const auto& [cp, category] : cases) {
    EXPECT_EQ(GetGeneralCategory(cp), category) << std::hex << cp;
  }
}

TEST(CodePointFlagsTest, LookupsAreSafeFromManyThreadsAtFirstUse) {
  // The table may already be built by an earlier test; this mainly gives TSan something to see.
  std::vector<std::thread> threads;
  std::vector<int> letters(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &letters] {
      for (uint32_t cp = 0; cp < 0x3000; ++cp) letters[t] += GetCodePointFlags(cp).is_letter();
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 1; t < 8; ++t) EXPECT_EQ(letters[t], letters[0]);
}

TEST(CaseTest, SimpleMappings) {
  EXPECT_EQ(ToLower('A'), 'a');
  EXPECT_EQ(ToLower('a'), 'a');
  EXPECT_EQ(ToLower('1'), '1');
  EXPECT_EQ(ToLower(0x0130), 'i');     // İ: simple mapping, not the full "i̇"
  EXPECT_EQ(ToLower(0x0391), 0x03B1);  // Α -> α
  EXPECT_EQ(ToLower(0x212A), 'k');     // KELVIN SIGN
  EXPECT_EQ(ToLower(0x1E9E), 0x00DF);  // ẞ -> ß
  EXPECT_EQ(ToLower(0x017F), 0x017F);  // ſ is already lowercase (it only case-FOLDS to s)
  EXPECT_EQ(ToLower(0x110000), 0x110000u);
  EXPECT_EQ(ToUpper('a'), 'A');
  EXPECT_EQ(ToUpper(0x00DF), 0x00DFu);  // ß has no one-code-point uppercase
  EXPECT_EQ(ToUpper(0x1F80), 0x1F88u);
  EXPECT_EQ(ToUpper(0x01C6), 0x01C4u);
  EXPECT_TRUE(GetCodePointFlags(0x03B1).is_lowercase());
  EXPECT_TRUE(GetCodePointFlags(0x0391).is_uppercase());
  EXPECT_FALSE(GetCodePointFlags('1').is_lowercase());
}

TEST(NfdTest, DecomposesAndReorders) {
  EXPECT_EQ(Nfd(Cps{0xE9}), (Cps{'e', 0x0301}));                         // é
  EXPECT_EQ(Nfd(Cps{0x1E69}), (Cps{'s', 0x0323, 0x0307}));               // ṩ, recursively
  EXPECT_EQ(Nfd(Cps{0x01D6}), (Cps{'u', 0x0308, 0x0304}));               // ǖ
  EXPECT_EQ(Nfd(Cps{0x212B}), (Cps{'A', 0x030A}));                       // ANGSTROM SIGN
  EXPECT_EQ(Nfd(Cps{0x0344}), (Cps{0x0308, 0x0301}));                    // a mark that decomposes
  EXPECT_EQ(Nfd(Cps{'a', 0x0301, 0x0323}), (Cps{'a', 0x0323, 0x0301}));  // ccc 230 after 220
  EXPECT_EQ(Nfd(Cps{0xAC00}), (Cps{0x1100, 0x1161}));                    // 가
  EXPECT_EQ(Nfd(Cps{0xAC01}), (Cps{0x1100, 0x1161, 0x11A8}));            // 각
  EXPECT_EQ(Nfd(Cps{'a', 'b', 0x4E2D}), (Cps{'a', 'b', 0x4E2D}));
  EXPECT_EQ(Nfd(Cps{}), Cps{});
  EXPECT_EQ(CombiningClass(0x0301), 230);
  EXPECT_EQ(CombiningClass(0x0323), 220);
  EXPECT_EQ(CombiningClass(0x05B0), 10);
  EXPECT_EQ(CombiningClass('a'), 0);
  EXPECT_EQ(CombiningClass(0x110000), 0);
}

TEST(NfdTest, FirstCodePointIsLlamaCppsStripAccents) {
  EXPECT_EQ(NfdFirstCodePoint(0xE9), 'e');
  EXPECT_EQ(NfdFirstCodePoint(0xAC00), 0x1100u);  // the vowel is lost, as in llama.cpp
  EXPECT_EQ(NfdFirstCodePoint(0x0344), 0x0308u);
  EXPECT_EQ(NfdFirstCodePoint('a'), 'a');
  EXPECT_EQ(NfdFirstCodePoint(0x110000), 0x110000u);
}

// ---- BERT -----------------------------------------------------------------------------------

TEST(BertTest, Whitespace) {
  for (uint32_t cp : {0x20u, 0x09u, 0x0Au, 0x0Du, 0x0Bu, 0x0Cu, 0xA0u, 0x3000u, 0x2028u}) {
    EXPECT_TRUE(IsBertWhitespace(cp)) << std::hex << cp;
  }
  for (uint32_t cp : {uint32_t{'a'}, 0x200Bu, 0x1Cu, 0u}) {
    EXPECT_FALSE(IsBertWhitespace(cp)) << std::hex << cp;
  }
}

TEST(BertTest, Control) {
  for (uint32_t cp : {0x09u, 0x0Au, 0x0Du, uint32_t{'a'}, 0x0378u, 0x20u}) {
    EXPECT_FALSE(IsBertControl(cp)) << std::hex << cp;
  }
  for (uint32_t cp : {0x00u, 0x1Fu, 0x7Fu, 0x85u, 0x200Du, 0xE000u, 0xFEFFu}) {
    EXPECT_TRUE(IsBertControl(cp)) << std::hex << cp;
  }
}

TEST(BertTest, Punctuation) {
  for (uint32_t cp : {'!', '$', '`', '~', '^', '+', '/', '@', '['}) {
    EXPECT_TRUE(IsBertPunctuation(cp)) << cp;
  }
  for (uint32_t cp : {0x3001u, 0xBFu, 0x2014u, 0xABu}) EXPECT_TRUE(IsBertPunctuation(cp)) << cp;
  for (uint32_t cp : {uint32_t{'a'}, uint32_t{'0'}, 0xA9u, 0x20ACu, uint32_t{' '}}) {
    EXPECT_FALSE(IsBertPunctuation(cp)) << cp;
  }
}

TEST(BertTest, Cjk) {
  for (uint32_t cp : {0x4E2Du, 0x3400u, 0x9FFFu, 0x20000u, 0x2B920u, 0xF900u, 0x2F800u}) {
    EXPECT_TRUE(IsCjk(cp)) << std::hex << cp;
  }
  // Hiragana and Hangul are not; neither is U+2B820 (HF's and llama.cpp's range starts at
  // U+2B920).
  for (uint32_t cp : {0x3042u, 0xAC00u, 0x2B820u, 0x3000u, uint32_t{'a'}}) {
    EXPECT_FALSE(IsCjk(cp)) << std::hex << cp;
  }
}

}  // namespace
}  // namespace engram::inference::internal
