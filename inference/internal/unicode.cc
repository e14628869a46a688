#include "inference/internal/unicode.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace engram::inference::internal {
namespace {

using unicode_data::CodePointPair;

// One byte of properties per code point: General_Category in the low 5 bits, then White_Space,
// "is a lowercase target", "is an uppercase target". Shifting the top three bits left by 3 lands
// them on CodePointFlags::kWhitespace / kLowercase / kUppercase.
constexpr uint8_t kCategoryBits = 0x1F;
constexpr uint8_t kWhitespaceBit = 0x20;
constexpr uint8_t kLowercaseBit = 0x40;
constexpr uint8_t kUppercaseBit = 0x80;
static_assert(kWhitespaceBit << 3 == CodePointFlags::kWhitespace);
static_assert(kLowercaseBit << 3 == CodePointFlags::kLowercase);
static_assert(kUppercaseBit << 3 == CodePointFlags::kUppercase);

constexpr std::array<uint16_t, 30> MakeCategoryFlags() {
  using enum GeneralCategory;
  std::array<uint16_t, 30> flags{};
  auto set = [&](std::initializer_list<GeneralCategory> categories, uint16_t bit) {
    for (GeneralCategory c : categories) flags[static_cast<size_t>(c)] = bit;
  };
  set({kCn}, CodePointFlags::kUndefined);
  set({kLu, kLl, kLt, kLm, kLo}, CodePointFlags::kLetter);
  set({kMn, kMc, kMe}, CodePointFlags::kAccentMark);
  set({kNd, kNl, kNo}, CodePointFlags::kNumber);
  set({kPc, kPd, kPs, kPe, kPi, kPf, kPo}, CodePointFlags::kPunctuation);
  set({kSm, kSc, kSk, kSo}, CodePointFlags::kSymbol);
  set({kZs, kZl, kZp}, CodePointFlags::kSeparator);
  set({kCc, kCf, kCs, kCo}, CodePointFlags::kControl);
  return flags;
}
constexpr std::array<uint16_t, 30> kCategoryFlags = MakeCategoryFlags();

const uint8_t* BuildPropertyTable() {
  auto* table = new uint8_t[kMaxUnicode + 1];
  const auto runs = unicode_data::CategoryRuns();
  assert(!runs.empty() && runs.front().first == 0);
  for (size_t i = 0; i < runs.size(); ++i) {
    const uint32_t end = i + 1 < runs.size() ? runs[i + 1].first : kMaxUnicode + 1;
    std::fill(table + runs[i].first, table + end, static_cast<uint8_t>(runs[i].category));
  }
  for (uint32_t cp : unicode_data::WhiteSpace()) table[cp] |= kWhitespaceBit;
  for (const CodePointPair& p : unicode_data::SimpleLowercase()) table[p.to] |= kLowercaseBit;
  for (const CodePointPair& p : unicode_data::SimpleUppercase()) table[p.to] |= kUppercaseBit;
  return table;
}

uint8_t Properties(uint32_t cp) {
  // Built once, on first use, and never freed (a leaked singleton: no destruction order).
  static const uint8_t* const kTable = BuildPropertyTable();
  return kTable[cp];
}

uint32_t LookupPair(std::span<const CodePointPair> table, uint32_t cp) {
  auto it = std::lower_bound(table.begin(), table.end(), cp,
                             [](const CodePointPair& p, uint32_t value) { return p.from < value; });
  return it != table.end() && it->from == cp ? it->to : cp;
}

const unicode_data::Decomposition* FindDecomposition(uint32_t cp) {
  const auto table = unicode_data::Decompositions();
  auto it = std::lower_bound(
      table.begin(), table.end(), cp,
      [](const unicode_data::Decomposition& d, uint32_t value) { return d.code_point < value; });
  return it != table.end() && it->code_point == cp ? &*it : nullptr;
}

// Hangul syllable arithmetic (Unicode ch. 3.12).
constexpr uint32_t kHangulFirst = 0xAC00;
constexpr uint32_t kHangulCount = 11172;
constexpr uint32_t kJamoLFirst = 0x1100;
constexpr uint32_t kJamoVFirst = 0x1161;
constexpr uint32_t kJamoTFirst = 0x11A7;
constexpr uint32_t kJamoTCount = 28;
constexpr uint32_t kJamoVTCount = 21 * kJamoTCount;

bool IsHangulSyllable(uint32_t cp) {
  return cp >= kHangulFirst && cp < kHangulFirst + kHangulCount;
}

void AppendDecomposition(uint32_t cp, std::vector<uint32_t>& out) {
  if (IsHangulSyllable(cp)) {
    const uint32_t index = cp - kHangulFirst;
    out.push_back(kJamoLFirst + index / kJamoVTCount);
    out.push_back(kJamoVFirst + (index % kJamoVTCount) / kJamoTCount);
    if (index % kJamoTCount != 0) out.push_back(kJamoTFirst + index % kJamoTCount);
    return;
  }
  if (const auto* d = FindDecomposition(cp)) {
    const auto data = unicode_data::DecompositionData().subspan(d->offset, d->length);
    out.insert(out.end(), data.begin(), data.end());
    return;
  }
  out.push_back(cp);
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The sequence length a lead byte announces to llama.cpp's decoder; 0 for a continuation byte
// or F8..FF, which cannot start a sequence.
size_t AnnouncedLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC0) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 0;
}

}  // namespace

// ---- UTF-8 ----------------------------------------------------------------------------------

size_t Utf8SequenceLength(char lead) {
  static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[static_cast<uint8_t>(lead) >> 4];
}

std::vector<uint32_t> DecodeUtf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t lead = s[i];
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    // Only the lead's length bits and the presence of continuation bytes are checked, as in
    // llama.cpp; on failure exactly one byte is consumed.
    const size_t length = AnnouncedLength(lead);
    bool ok = length != 0 && i + length <= n;
    for (size_t k = 1; ok && k < length; ++k) ok = IsContinuation(s[i + k]);
    if (!ok) {
      out.push_back(kReplacementCharacter);
      ++i;
      continue;
    }
    uint32_t cp = lead & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += length;
  }
  return out;
}

std::vector<uint32_t> DecodeUtf8Replace(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t lead = s[i];
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    // Table 3-7 of the Unicode standard: the allowed range of the second byte depends on the
    // lead (this excludes overlongs, surrogates and values past U+10FFFF); later bytes are
    // plain continuation bytes.
    size_t length = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    }
    if (length == 0) {
      out.push_back(kReplacementCharacter);
      ++i;
      continue;
    }
    size_t k = 1;
    if (i + 1 < n && s[i + 1] >= lo && s[i + 1] <= hi) {
      for (k = 2; k < length && i + k < n && IsContinuation(s[i + k]); ++k) {
      }
    }
    if (k < length) {  // a maximal subpart of k bytes: one replacement for all of it
      out.push_back(kReplacementCharacter);
      i += k;
      continue;
    }
    uint32_t cp = lead & (0x7F >> length);
    for (k = 1; k < length; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += length;
  }
  return out;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp > kMaxUnicode) cp = kReplacementCharacter;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(std::span<const uint32_t> cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) AppendUtf8(cp, out);
  return out;
}

// ---- properties -----------------------------------------------------------------------------

CodePointFlags GetCodePointFlags(uint32_t cp) {
  if (cp > kMaxUnicode) return CodePointFlags(CodePointFlags::kUndefined);
  const uint8_t p = Properties(cp);
  return CodePointFlags(
      static_cast<uint16_t>(kCategoryFlags[p & kCategoryBits] | ((p & ~kCategoryBits) << 3)));
}

GeneralCategory GetGeneralCategory(uint32_t cp) {
  if (cp > kMaxUnicode) return GeneralCategory::kCn;
  return static_cast<GeneralCategory>(Properties(cp) & kCategoryBits);
}

uint32_t ToLower(uint32_t cp) { return LookupPair(unicode_data::SimpleLowercase(), cp); }
uint32_t ToUpper(uint32_t cp) { return LookupPair(unicode_data::SimpleUppercase(), cp); }

uint8_t CombiningClass(uint32_t cp) {
  const auto runs = unicode_data::CombiningClasses();
  auto it = std::upper_bound(
      runs.begin(), runs.end(), cp,
      [](uint32_t value, const unicode_data::CombiningClassRun& r) { return value < r.first; });
  if (it == runs.begin()) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

std::vector<uint32_t> Nfd(std::span<const uint32_t> cps) {
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) AppendDecomposition(cp, out);
  // Canonical ordering: within each run of non-starters, a stable sort by combining class.
  for (size_t i = 0; i < out.size();) {
    if (CombiningClass(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < out.size() && CombiningClass(out[end]) != 0) ++end;
    if (end - i > 1) {
      std::stable_sort(out.begin() + i, out.begin() + end, [](uint32_t a, uint32_t b) {
        return CombiningClass(a) < CombiningClass(b);
      });
    }
    i = end;
  }
  return out;
}

uint32_t NfdFirstCodePoint(uint32_t cp) {
  if (IsHangulSyllable(cp)) return kJamoLFirst + (cp - kHangulFirst) / kJamoVTCount;
  const auto* d = FindDecomposition(cp);
  return d != nullptr ? unicode_data::DecompositionData()[d->offset] : cp;
}

// ---- BERT -----------------------------------------------------------------------------------

bool IsBertWhitespace(uint32_t cp) { return GetCodePointFlags(cp).is_whitespace(); }

bool IsBertControl(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return GetCodePointFlags(cp).is_control();
}

bool IsBertPunctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126)) {
    return true;
  }
  return GetCodePointFlags(cp).is_punctuation();
}

bool IsCjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace engram::inference::internal
