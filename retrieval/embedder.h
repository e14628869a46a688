// The interface through which retrieval (and memory) get text embeddings. retrieval never sees a
// model: inference implements this (inference/bert_embedder.h), and tests may pass their own.
//
//   Result<EmbeddingBatch> batch = embedder.Embed(texts);
//   std::span<const float> v = batch->Row(0);   // Dim() floats, L2-normalised
//
// Thread safety: implementations document their own; the BERT embedder allows concurrent Embed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::retrieval {

// Embeddings of a batch of texts, one row per text in input order.
struct EmbeddingBatch {
  int dim = 0;
  std::vector<float> values;        // rows × dim, row-major
  std::vector<int32_t> tokens;      // tokens each text used (after truncation)
  std::vector<uint8_t> truncated;   // 1 where the text was cut at MaxTokens()

  size_t rows() const { return tokens.size(); }
  std::span<const float> Row(size_t i) const {
    return std::span<const float>(values).subspan(i * static_cast<size_t>(dim), dim);
  }
};

class Embedder {
 public:
  virtual ~Embedder() = default;

  virtual std::string_view Name() const = 0;
  virtual int Dim() const = 0;
  // Tokens a text is cut to (special tokens included); longer texts are truncated and flagged.
  virtual int MaxTokens() const = 0;
  // Tokens `text` takes before truncation, special tokens included (what the chunker budgets).
  virtual int CountTokens(std::string_view text) const = 0;
  // L2-normalised embeddings of `texts`, in order.
  virtual Result<EmbeddingBatch> Embed(std::span<const std::string> texts) = 0;
};

}  // namespace engram::retrieval
