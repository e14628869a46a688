#include "retrieval/term_match.h"

#include <algorithm>
#include <array>
#include <utility>

#include "retrieval/bm25.h"
#include "retrieval/chunker.h"

namespace engram::retrieval {

TermMatch MatchTerms(const QueryTerms& query, std::string_view passage) {
  // The query's distinct terms, numbered, with their idf; its adjacent pairs by number.
  std::unordered_map<std::string, int> number;
  std::vector<double> idf;
  std::vector<int> sequence;  // the query's terms by number, in order
  for (const std::string& t : query.terms) {
    auto [it, added] = number.try_emplace(t, static_cast<int>(idf.size()));
    if (added) {
      auto w = query.idf.find(t);
      idf.push_back(w == query.idf.end() ? 0.0 : std::max(w->second, 0.0));
    }
    sequence.push_back(it->second);
  }
  // Snowball's english stemmer only rewrites endings, so a word's stem starts with the word's
  // first byte (Bm25Test checks it over SQuAD's vocabulary): a word whose first byte starts no
  // query term cannot stem to one, and is not stemmed (most words of a passage; stemming them
  // all cost about 3 ms a query at 50 candidates).
  std::array<bool, 256> first_bytes{};
  for (const std::string& t : query.terms) {
    if (!t.empty()) first_bytes[static_cast<unsigned char>(t[0])] = true;
  }
  std::vector<std::pair<int, int>> pairs;
  for (size_t i = 1; i < sequence.size(); ++i) pairs.push_back({sequence[i - 1], sequence[i]});
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  double total = 0.0;
  for (double w : idf) total += w;

  // The passage's words by query term number (-1: not a query term), a sentence at a time; the
  // sentences' words in order are the passage's (SplitSentences cuts only at white space).
  TermMatch m;
  std::vector<char> in_passage(idf.size(), 0), in_sentence(idf.size(), 0);
  std::vector<char> pair_found(pairs.size(), 0);
  int previous = -1;
  for (const TextSpan& s : SplitSentences(passage)) {
    std::fill(in_sentence.begin(), in_sentence.end(), 0);
    double sentence = 0.0;
    for (std::string& word : Bm25Terms(passage.substr(s.begin, s.end - s.begin))) {
      if (!first_bytes[static_cast<unsigned char>(word[0])]) {
        previous = -1;
        continue;
      }
      word = StemTerm(std::move(word), query.stemming);
      auto it = number.find(word);
      const int n = it == number.end() ? -1 : it->second;
      if (n >= 0 && !in_sentence[n]) in_sentence[n] = 1, sentence += idf[n];
      if (n >= 0) in_passage[n] = 1;
      if (n >= 0 && previous >= 0) {
        auto p = std::lower_bound(pairs.begin(), pairs.end(), std::make_pair(previous, n));
        if (p != pairs.end() && *p == std::make_pair(previous, n))
          pair_found[p - pairs.begin()] = 1;
      }
      previous = n;
    }
    m.sentence = std::max(m.sentence, sentence);
  }
  if (total > 0.0) {
    for (size_t n = 0; n < idf.size(); ++n) m.coverage += in_passage[n] ? idf[n] : 0.0;
    m.coverage /= total;
    m.sentence /= total;
  } else {
    m.sentence = 0.0;
  }
  if (!pairs.empty()) {
    m.bigrams = static_cast<double>(std::count(pair_found.begin(), pair_found.end(), 1)) /
                static_cast<double>(pairs.size());
  }
  return m;
}

}  // namespace engram::retrieval
