// Deterministic embeddings for store tests (and an Embedder that makes them): a unit vector determined by the text (unrelated texts
// are nearly orthogonal), so tests can pass embeddings in and query by them.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "retrieval/embedder.h"

namespace engram::memory::testing {

inline constexpr int kTestDim = 16;

inline std::vector<float> VectorFor(const std::string& text, int dim = kTestDim) {
  std::mt19937_64 rng(std::hash<std::string>{}(text));
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dim));
  double norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// Embeds a text as VectorFor(text), for stores that embed by themselves (Consolidate embeds
// its summaries).
struct TextEmbedder : retrieval::Embedder {
  std::string_view Name() const override { return ""; }
  int Dim() const override { return kTestDim; }
  int MaxTokens() const override { return 512; }
  int CountTokens(std::string_view t) const override { return static_cast<int>(t.size()); }
  Result<retrieval::EmbeddingBatch> Embed(std::span<const std::string> texts) override {
    retrieval::EmbeddingBatch b;
    b.dim = kTestDim;
    for (const std::string& t : texts) {
      const std::vector<float> v = VectorFor(t);
      b.values.insert(b.values.end(), v.begin(), v.end());
      b.tokens.push_back(1);
      b.truncated.push_back(0);
    }
    return b;
  }
};

}  // namespace engram::memory::testing
