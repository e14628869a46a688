// Synthetic text and embeddings for scale benchmarks (`engram bench retrieval`, `bench memory`),
// where embedding a million real texts with the BERT model would take hours.
//
// Text: documents about topics. A vocabulary of pronounceable pseudo-words ("kabu", "temoro"),
// a Zipf(1.1) background distribution over it, and per topic a small set of topic words. Each
// document picks a topic and draws 80% of its words from the topic and 20% from the background,
// in sentences of 8-16 words. So BM25 sees realistic postings (a few very long lists, most short)
// and documents of one topic share vocabulary.
//
// Embeddings (SyntheticEmbedder): a text's vector is the normalised sum of a fixed pseudo-random
// ±1 vector per distinct word (seeded by the word's hash). Texts sharing words are close, texts of
// one topic form a cluster, and a query made of a document's words lands near it, which is the
// structure real sentence embeddings have (and isotropic random vectors lack).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "retrieval/embedder.h"

namespace engram::bench {

struct SyntheticCorpusOptions {
  int vocabulary = 30000;
  int topics = 1000;
  int topic_words = 60;
  int min_words = 60, max_words = 100;  // per document
  uint64_t seed = 1;
};

class SyntheticCorpus {
 public:
  explicit SyntheticCorpus(const SyntheticCorpusOptions& options);

  // Document `index` (deterministic: the same index gives the same text) and its topic.
  std::string Document(uint64_t index, int* topic = nullptr) const;
  // A query of `words` words for document `index`: mostly its topic's words, some background.
  std::string Query(uint64_t index, int words) const;
  const std::string& Word(int i) const { return words_[static_cast<size_t>(i)]; }

 private:
  int TopicOf(uint64_t index) const;
  SyntheticCorpusOptions options_;
  std::vector<std::string> words_;
  std::vector<double> background_cdf_;   // Zipf(1.1) over the vocabulary
  std::vector<std::vector<int>> topic_words_;
  int Background(std::mt19937_64& rng) const;
};

// The bag-of-words embedder described above. Thread-safe; CountTokens counts words + 2.
class SyntheticEmbedder final : public retrieval::Embedder {
 public:
  explicit SyntheticEmbedder(int dim = 384) : dim_(dim) {}
  std::string_view Name() const override { return "synthetic-bag-of-words"; }
  int Dim() const override { return dim_; }
  int MaxTokens() const override { return 1 << 20; }
  int CountTokens(std::string_view text) const override;
  Result<retrieval::EmbeddingBatch> Embed(std::span<const std::string> texts) override;

 private:
  int dim_;
};

}  // namespace engram::bench
