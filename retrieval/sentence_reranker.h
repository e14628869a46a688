// SentenceReranker: rescoring passages by their best sentence. A chunk has one embedding, which
// blends all its sentences, so a question one sentence answers can rank a long chunk low; this
// embeds the query and every sentence of each passage (retrieval/chunker.h's SplitSentences)
// and scores a passage by its best sentence's cosine with the query. It needs no model beyond
// the embedder, and costs one embedding of each candidate's sentences per query (reported apart
// from retrieval's latency in docs/benchmarks.md).
//
//   SentenceReranker reranker(embedder);
//   Result<std::vector<double>> scores = reranker.Score("who won the game?", passages);
//
// Thread safety: as the embedder's Embed.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "retrieval/embedder.h"
#include "retrieval/reranker.h"

namespace engram::retrieval {

class SentenceReranker final : public Reranker {
 public:
  // Borrows the embedder (it must outlive the reranker).
  explicit SentenceReranker(Embedder& embedder) : embedder_(embedder) {}

  std::string_view Name() const override { return "best-sentence-cosine"; }
  // A passage without a sentence (empty or white space) scores -1.
  Result<std::vector<double>> Score(std::string_view query,
                                    std::span<const std::string> passages) override;

 private:
  Embedder& embedder_;
};

}  // namespace engram::retrieval
