#include "retrieval/term_match.h"

#include <algorithm>
#include <set>
#include <utility>

#include "retrieval/bm25.h"
#include "retrieval/chunker.h"

namespace engram::retrieval {
namespace {

double IdfOf(const QueryTerms& query, const std::string& term) {
  auto it = query.idf.find(term);
  return it == query.idf.end() ? 0.0 : std::max(it->second, 0.0);
}

// The idf of the query's distinct terms among `present`, over the idf of all of them.
double IdfShare(const QueryTerms& query, const std::set<std::string>& distinct, double total,
                const std::set<std::string>& present) {
  if (total <= 0.0) return 0.0;
  double found = 0.0;
  for (const std::string& t : distinct) {
    if (present.count(t)) found += IdfOf(query, t);
  }
  return found / total;
}

}  // namespace

TermMatch MatchTerms(const QueryTerms& query, std::string_view passage) {
  const std::set<std::string> distinct(query.terms.begin(), query.terms.end());
  double total = 0.0;
  for (const std::string& t : distinct) total += IdfOf(query, t);
  TermMatch m;
  const std::vector<std::string> words = Bm25Terms(passage);
  m.coverage = IdfShare(query, distinct, total, {words.begin(), words.end()});
  for (const TextSpan& s : SplitSentences(passage)) {
    const std::vector<std::string> sw = Bm25Terms(passage.substr(s.begin, s.end - s.begin));
    m.sentence = std::max(m.sentence, IdfShare(query, distinct, total, {sw.begin(), sw.end()}));
  }
  std::set<std::pair<std::string, std::string>> pairs, passage_pairs;
  for (size_t i = 1; i < query.terms.size(); ++i)
    pairs.insert({query.terms[i - 1], query.terms[i]});
  for (size_t i = 1; i < words.size(); ++i) passage_pairs.insert({words[i - 1], words[i]});
  size_t found = 0;
  for (const auto& p : pairs) found += passage_pairs.count(p);
  if (!pairs.empty()) m.bigrams = static_cast<double>(found) / static_cast<double>(pairs.size());
  return m;
}

}  // namespace engram::retrieval
