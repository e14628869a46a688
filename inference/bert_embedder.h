// Sentence embeddings from a BERT encoder, e.g. all-MiniLM-L6-v2: WordPiece, token + position +
// type embeddings, post-LayerNorm encoder layers with erf GELU, mean pooling over the tokens, L2
// normalisation. The sentence-transformers recipe, checked against it in
// tests/inference/bert_embedder_golden_test.cc. Two containers:
//   - a sentence-transformers directory (model.safetensors, config.json, vocab.txt,
//     sentence_bert_config.json, 1_Pooling/config.json);
//   - a GGUF written by llama.cpp's convert_hf_to_gguf.py (architecture "bert", mean pooling;
//     any weight type DequantizeRow reads). It truncates at the GGUF's context length, as
//     llama.cpp does (sentence-transformers' max_seq_length is not in the file).
//
//   Result<std::unique_ptr<BertEmbedder>> e = BertEmbedder::Open(dir_or_gguf, {});
//   Result<retrieval::EmbeddingBatch> batch = (*e)->Embed(texts);
//
// A batch runs as one matrix of all its tokens (no padding: each text attends only to itself),
// so mixed lengths cost nothing extra. Texts longer than MaxTokens() are cut and flagged.
//
// Thread safety: Embed may be called from several threads; calls run one at a time, each using
// the embedder's threads.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/compute_team.h"
#include "common/result.h"
#include "inference/gguf.h"
#include "inference/safetensors.h"
#include "inference/tokenizer.h"
#include "retrieval/embedder.h"

namespace engram::inference {

// The linear layers' arithmetic (kernels/gemm.h). kF32 matches sentence-transformers to
// within f32 rounding (cosine > 0.999999 on the goldens); kBf16 rounds weights and activations
// to bfloat16 with f32 sums, about twice as fast where the CPU has AVX512_BF16 (cosine > 0.9999;
// figures in docs/benchmarks.md); kInt8 quantizes each weight row and each token's activations
// to int8 with their own scales and sums in exact int32, about twice the f32 speed where the CPU
// has AVX512_VNNI (cosine > 0.98, mean 0.995 on the goldens; LoCoMo recall unchanged; the
// scalar reference elsewhere is slow).
// kAuto: kBf16 where the CPU has AMX, else kF32; kInt8 is only ever chosen explicitly.
enum class EmbedPrecision { kAuto, kF32, kBf16, kInt8 };
std::string_view EmbedPrecisionName(EmbedPrecision p);
// "auto", "f32", "bf16" or "int8"; kInvalidArgument otherwise.
Result<EmbedPrecision> ParseEmbedPrecision(std::string_view name);

struct BertEmbedderOptions {
  int n_threads = 0;  // 0: one per hardware thread
  EmbedPrecision precision = EmbedPrecision::kAuto;
};

class BertEmbedder : public retrieval::Embedder {
 public:
  // `path`: a model directory or a .gguf file. kNotFound naming scripts/fetch_models.sh when the
  // directory or a file is missing;
  // kInvalidArgument / kNotSupported for configurations this encoder does not run.
  static Result<std::unique_ptr<BertEmbedder>> Open(const std::string& path,
                                                    const BertEmbedderOptions& options);
  // The default embedder (all-MiniLM-L6-v2, fetched by scripts/fetch_models.sh) when `dir` is
  // empty, else Open(dir).
  static Result<std::unique_ptr<BertEmbedder>> OpenOrDefault(const std::string& dir,
                                                             const BertEmbedderOptions& options);
  ~BertEmbedder() override;

  std::string_view Name() const override { return name_; }
  int Dim() const override;
  int MaxTokens() const override { return max_tokens_; }
  int CountTokens(std::string_view text) const override;
  // kF32 or kBf16: what kAuto resolved to.
  EmbedPrecision precision() const { return precision_; }
  Result<retrieval::EmbeddingBatch> Embed(std::span<const std::string> texts) override;

 private:
  struct Weights;
  BertEmbedder() = default;

  std::string name_;
  int max_tokens_ = 256;
  EmbedPrecision precision_ = EmbedPrecision::kF32;
  std::unique_ptr<SafetensorsFile> file_;  // one of these two holds the weights
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<ComputeTeam> team_;
  std::mutex mu_;  // one Embed at a time
};

}  // namespace engram::inference
