// Raw Unicode Character Database tables for the tokenizers, generated into unicode_data.cc by
// scripts/gen_unicode_data.py (UCD 15.1, the version llama.cpp's tables come from). Code should
// use the lookups in unicode.h; these spans are what those lookups are built from.
//
// Every table is sorted by code point and lives for the whole program; reading it is
// thread-safe.
#pragma once

#include <cstdint>
#include <span>

namespace engram::inference::internal {

// Unicode General_Category. kCn (unassigned) is also what code points past U+10FFFF report.
// The order is the generator's; values fit in 5 bits.
// clang-format off
enum class GeneralCategory : uint8_t {
  kCn = 0,
  kLu, kLl, kLt, kLm, kLo,            // letters: \p{L}
  kMn, kMc, kMe,                      // marks: \p{M}
  kNd, kNl, kNo,                      // numbers: \p{N}
  kPc, kPd, kPs, kPe, kPi, kPf, kPo,  // punctuation: \p{P}
  kSm, kSc, kSk, kSo,                 // symbols: \p{S}
  kZs, kZl, kZp,                      // separators: \p{Z}
  kCc, kCf, kCs, kCo,                 // other: \p{C} (with kCn)
};
// clang-format on

namespace unicode_data {

// A run of code points with one category, from `first` up to the next run's `first` (the last
// run reaches U+10FFFF). The first run starts at U+0000.
struct CategoryRun {
  uint32_t first;
  GeneralCategory category;
};

struct CodePointPair {
  uint32_t from;
  uint32_t to;
};

// The full canonical decomposition of `code_point` is
// DecompositionData()[offset, offset + length).
struct Decomposition {
  uint32_t code_point;
  uint16_t offset;
  uint16_t length;
};

// Code points first..last (inclusive) have Canonical_Combining_Class `ccc` (never 0 here).
struct CombiningClassRun {
  uint32_t first;
  uint32_t last;
  uint8_t ccc;
};

// "15.1.0".
extern const char kUnicodeVersion[];

std::span<const CategoryRun> CategoryRuns();
// The White_Space property (25 code points), llama.cpp's and Rust's \s.
std::span<const uint32_t> WhiteSpace();
// Simple (one-to-one) case mappings from UnicodeData.txt, sorted by `from`.
std::span<const CodePointPair> SimpleLowercase();
std::span<const CodePointPair> SimpleUppercase();
// Canonical decompositions of every code point that has one, except Hangul syllables
// (U+AC00..U+D7A3, decomposed arithmetically).
std::span<const Decomposition> Decompositions();
std::span<const uint32_t> DecompositionData();
std::span<const CombiningClassRun> CombiningClasses();

}  // namespace unicode_data
}  // namespace engram::inference::internal
