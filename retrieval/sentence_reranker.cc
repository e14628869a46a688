#include "retrieval/sentence_reranker.h"

#include <algorithm>

#include "retrieval/chunker.h"

namespace engram::retrieval {

Result<std::vector<double>> SentenceReranker::Score(std::string_view query,
                                                    std::span<const std::string> passages) {
  std::vector<std::string> texts = {std::string(query)};
  std::vector<size_t> owner;  // the passage of each sentence in texts[1..]
  for (size_t p = 0; p < passages.size(); ++p) {
    for (const TextSpan& s : SplitSentences(passages[p])) {
      texts.push_back(passages[p].substr(s.begin, s.end - s.begin));
      owner.push_back(p);
    }
  }
  ENGRAM_TRY_ASSIGN(const EmbeddingBatch e, embedder_.Embed(texts));
  const std::span<const float> q = e.Row(0);
  std::vector<double> scores(passages.size(), -1.0);
  for (size_t i = 0; i < owner.size(); ++i) {
    const std::span<const float> s = e.Row(i + 1);
    double dot = 0.0;
    for (size_t d = 0; d < q.size(); ++d) dot += static_cast<double>(q[d]) * s[d];
    scores[owner[i]] = std::max(scores[owner[i]], dot);
  }
  return scores;
}

}  // namespace engram::retrieval
