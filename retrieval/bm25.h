// Okapi BM25, scored exactly as rank-bm25's BM25Okapi (the reference our goldens come from,
// tests/retrieval/bm25_test.cc), over the terms Bm25Terms gives.
//
//   idf(t)   = ln(N - df + 0.5) - ln(df + 0.5)            N documents, df documents holding t;
//              a negative idf (t in more than half the documents) is replaced by
//              epsilon * (mean idf over every term of the corpus), as rank-bm25 does
//   score    = Σ_{t in query} idf(t) · tf·(k1 + 1) / (tf + k1·(1 - b + b·len / avg_len))
//
// A query term repeated counts twice, as in rank-bm25. The collection keeps N, df and each
// chunk's length and term frequencies in RocksDB (retrieval/collection.h); this header has the
// arithmetic and the tokenization, shared by the collection, the eval and the tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace engram::retrieval {

struct Bm25Params {
  double k1 = 1.2;
  double b = 0.75;
  double epsilon = 0.25;  // floor for negative idfs, as a fraction of the mean idf
};

// How a term is reduced before it is indexed or looked up. kEnglish is Snowball's english
// (Porter2) stemmer from libstemmer, so "painted", "painting" and "paints" are one term "paint".
// An index keeps the stemming it was built with (collections and memory stores store it).
enum class Stemming { kNone, kEnglish };

// "none" / "english", and back (false for any other name).
std::string_view StemmingName(Stemming stemming);
bool ParseStemming(std::string_view name, Stemming* out);

// The terms of `text`: maximal runs of word characters, lower-cased (ASCII letters only; other
// bytes pass through), with English stop words removed, then stemmed as asked. Word characters
// are ASCII letters and digits and every non-ASCII character except the punctuation blocks
// U+00A0–U+00BF, U+2000–U+207F and U+3000–U+303F. scripts/goldens/bm25_rank_bm25.py
// reimplements this rule (with PyStemmer, the same Snowball stemmer, for kEnglish).
std::vector<std::string> Bm25Terms(std::string_view text, Stemming stemming = Stemming::kNone);

// `term` (lower case, as Bm25Terms cuts it) reduced by `stemming`.
std::string StemTerm(std::string term, Stemming stemming);

// Whether `term` (lower case) is one of the stop words Bm25Terms drops.
bool IsBm25StopWord(std::string_view term);

// ln(N - df + 0.5) - ln(df + 0.5), before the epsilon floor.
double Bm25RawIdf(int64_t documents, int64_t document_frequency);

// What a query is scored against: N, the mean document length, and the mean raw idf over every
// term of the corpus (for the epsilon floor).
struct Bm25Stats {
  int64_t documents = 0;
  double average_length = 0.0;
  double mean_idf = 0.0;
};

// The idf rank-bm25 uses: the raw idf, or epsilon * mean_idf where the raw idf is negative.
double Bm25Idf(const Bm25Stats& stats, int64_t document_frequency, const Bm25Params& params);

// One term's contribution for a document holding it `tf` times.
double Bm25TermScore(double idf, double tf, double length, double average_length,
                     const Bm25Params& params);

}  // namespace engram::retrieval
