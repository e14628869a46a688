#include "retrieval/bm25.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <new>

#include <libstemmer.h>

namespace engram::retrieval {
namespace {

// English stop words: the 127 of NLTK's classic list, sorted (binary search).
constexpr std::array<std::string_view, 127> kStopWords = {
    "a",       "about",  "above", "after",   "again", "against", "all",     "am",      "an",
    "and",     "any",    "are",   "as",      "at",    "be",      "because", "been",    "before",
    "being",   "below",  "between", "both",  "but",   "by",      "can",     "did",     "do",
    "does",    "doing",  "don",   "down",    "during", "each",   "few",     "for",     "from",
    "further", "had",    "has",   "have",    "having", "he",     "her",     "here",    "hers",
    "herself", "him",    "himself", "his",   "how",   "i",       "if",      "in",      "into",
    "is",      "it",     "its",   "itself",  "just",  "me",      "more",    "most",    "my",
    "myself",  "no",     "nor",   "not",     "now",   "of",      "off",     "on",      "once",
    "only",    "or",     "other", "our",     "ours",  "ourselves", "out",   "over",    "own",
    "s",       "same",   "she",   "should",  "so",    "some",    "such",    "t",       "than",
    "that",    "the",    "their", "theirs",  "them",  "themselves", "then", "there",   "these",
    "they",    "this",   "those", "through", "to",    "too",     "under",   "until",   "up",
    "very",    "was",    "we",    "were",    "what",  "when",    "where",   "which",   "while",
    "who",     "whom",   "why",   "will",    "with",  "you",     "your",    "yours",   "yourself",
    "yourselves"};

// Length of the UTF-8 sequence starting with `lead` (1 for stray continuation bytes).
size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Whether the character at text[i] (of `len` bytes) is a word character.
bool IsWordChar(std::string_view text, size_t i, size_t len) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (len == 2 && i + 1 < text.size()) {  // U+00A0–U+00BF: C2 A0..BF
    const auto c1 = static_cast<unsigned char>(text[i + 1]);
    return !(c == 0xC2 && c1 >= 0xA0 && c1 <= 0xBF);
  }
  if (len == 3 && i + 2 < text.size()) {
    const auto c1 = static_cast<unsigned char>(text[i + 1]);
    if (c == 0xE2 && (c1 == 0x80 || c1 == 0x81)) return false;  // U+2000–U+207F
    if (c == 0xE3 && c1 == 0x80) return false;                   // U+3000–U+303F
  }
  return true;
}

// libstemmer's stemmers keep per-call state, so each thread has its own.
struct StemmerDeleter {
  void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};

sb_stemmer* EnglishStemmer() {
  thread_local std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer(
      sb_stemmer_new("english", "UTF_8"));
  return stemmer.get();
}

}  // namespace

std::string_view StemmingName(Stemming stemming) {
  return stemming == Stemming::kEnglish ? "english" : "none";
}

bool ParseStemming(std::string_view name, Stemming* out) {
  if (name == "english") {
    *out = Stemming::kEnglish;
  } else if (name == "none") {
    *out = Stemming::kNone;
  } else {
    return false;
  }
  return true;
}

std::string StemTerm(std::string term, Stemming stemming) {
  if (stemming == Stemming::kNone) return term;
  sb_stemmer* stemmer = EnglishStemmer();
  // Only a failed allocation makes either null: reported as one, never a term left unstemmed
  // (which would silently miss what the index holds).
  if (stemmer == nullptr) throw std::bad_alloc();
  const sb_symbol* stem = sb_stemmer_stem(stemmer, reinterpret_cast<const sb_symbol*>(term.data()),
                                          static_cast<int>(term.size()));
  if (stem == nullptr) throw std::bad_alloc();
  return std::string(reinterpret_cast<const char*>(stem),
                     static_cast<size_t>(sb_stemmer_length(stemmer)));
}

bool IsBm25StopWord(std::string_view term) {
  return std::binary_search(kStopWords.begin(), kStopWords.end(), term);
}

std::vector<std::string> Bm25Terms(std::string_view text, Stemming stemming) {
  std::vector<std::string> terms;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && !IsBm25StopWord(current)) {
      terms.push_back(StemTerm(std::move(current), stemming));
    }
    current.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const size_t len = std::min(SequenceLength(static_cast<unsigned char>(text[i])), text.size() - i);
    if (IsWordChar(text, i, len)) {
      for (size_t j = 0; j < len; ++j) {
        const char c = text[i + j];
        current += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
    } else {
      flush();
    }
    i += len;
  }
  flush();
  return terms;
}

double Bm25RawIdf(int64_t documents, int64_t document_frequency) {
  return std::log(static_cast<double>(documents - document_frequency) + 0.5) -
         std::log(static_cast<double>(document_frequency) + 0.5);
}

double Bm25Idf(const Bm25Stats& stats, int64_t document_frequency, const Bm25Params& params) {
  const double idf = Bm25RawIdf(stats.documents, document_frequency);
  return idf < 0.0 ? params.epsilon * stats.mean_idf : idf;
}

double Bm25TermScore(double idf, double tf, double length, double average_length,
                     const Bm25Params& p) {
  return idf * (tf * (p.k1 + 1.0) /
                (tf + p.k1 * (1.0 - p.b + p.b * length / average_length)));
}

}  // namespace engram::retrieval
