// How well a passage holds a query's terms, as shares of the query's idf: the features of
// hybrid search's second stage (SearchOptions::rescore in retrieval/collection.h).
//
//   QueryTerms q = {.terms = Bm25Terms("who won Super Bowl 50?"), .idf = {{"won", 2.1}, ...}};
//   TermMatch m = MatchTerms(q, "The Broncos won Super Bowl 50. It was played in ...");
//   // m.coverage: the idf share of {won, super, bowl, 50} in the passage (here 1)
//   // m.sentence: the same in the passage's best sentence; m.bigrams: "super bowl", "bowl 50"
//
// BM25 scores a chunk by the query terms it holds, however scattered; these reward holding
// them together (in one sentence, in the query's word order), which is what separates an
// article's answering paragraph from its neighbours that share its vocabulary.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "retrieval/bm25.h"

namespace engram::retrieval {

struct QueryTerms {
  std::vector<std::string> terms;  // in query order (Bm25Terms: case-folded, stop words out)
  std::unordered_map<std::string, double> idf;  // by term; a term missing here weighs 0
  Stemming stemming = Stemming::kNone;  // how `terms` were cut; the passage is cut the same way
};

struct TermMatch {
  double coverage = 0.0;  // share of the idf of the query's distinct terms found in the passage
  double sentence = 0.0;  // the same for the passage's best sentence (SplitSentences)
  double bigrams = 0.0;   // share of the query's adjacent term pairs adjacent in the passage
};

// All three are in [0, 1]; 0 for a query with no weighed terms (or no pairs, for bigrams).
TermMatch MatchTerms(const QueryTerms& query, std::string_view passage);

}  // namespace engram::retrieval
