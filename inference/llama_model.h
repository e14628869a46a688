// A llama-family decoder loaded from GGUF: llama (Llama 2/3, Mistral, SmolLM2, TinyLlama) and
// qwen2. Weights stay in the memory-mapped file in their GGUF types; nothing is copied except
// the small norm vectors and biases.
//
//   Result<std::shared_ptr<const LlamaModel>> model = LlamaModel::Load("model.gguf");
//   const LlamaConfig& c = (*model)->config();     // layers, heads, rope, ...
//
// Loading checks the architecture, every tensor's presence, type and shape, and reports the first
// problem as one line naming the tensor and the file. Evaluate with LlamaContext.
//
// Thread safety: immutable after Load; one model can serve many contexts on many threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "inference/gguf.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

enum class RopeStyle {
  kNormal,  // rotate adjacent pairs (x[2i], x[2i+1]): llama (GGUF permutes q/k for it)
  kNeox,    // rotate (x[i], x[i + dim/2]): qwen2
};

struct LlamaConfig {
  std::string architecture;  // "llama" or "qwen2"
  int n_layer = 0;
  int n_embd = 0;
  int n_head = 0;
  int n_kv_head = 0;
  int head_dim = 0;
  int n_ff = 0;
  int n_vocab = 0;
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;
  RopeStyle rope_style = RopeStyle::kNormal;
  int rope_dim = 0;           // leading dimensions of each head that rotate
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  bool has_rope_freq_factors = false;  // llama3-style per-frequency factors (rope_freqs.weight)
};

// A weight matrix of `rows` rows of `cols` elements in the file's type.
struct WeightMatrix {
  std::string name;
  TensorType type = TensorType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

struct LlamaLayerWeights {
  std::vector<float> attn_norm;
  WeightMatrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;  // empty unless the model has them (qwen2)
  std::vector<float> ffn_norm;
  WeightMatrix w_gate, w_up, w_down;
};

class LlamaModel {
 public:
  static Result<std::shared_ptr<const LlamaModel>> Load(const std::string& path);
  static Result<std::shared_ptr<const LlamaModel>> FromGguf(std::shared_ptr<const GgufFile> gguf);

  const LlamaConfig& config() const { return config_; }
  const GgufFile& gguf() const { return *gguf_; }
  std::shared_ptr<const GgufFile> shared_gguf() const { return gguf_; }

  const WeightMatrix& token_embedding() const { return token_embd_; }
  const WeightMatrix& output() const { return output_; }  // token_embd when tied
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<float>& rope_freq_factors() const { return rope_freq_factors_; }
  const std::vector<LlamaLayerWeights>& layers() const { return layers_; }

  // Bytes of the mapped file (what the weights cost in memory).
  uint64_t file_bytes() const { return gguf_->file_size(); }

 private:
  LlamaModel() = default;

  std::shared_ptr<const GgufFile> gguf_;
  LlamaConfig config_;
  WeightMatrix token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<float> rope_freq_factors_;
  std::vector<LlamaLayerWeights> layers_;
};

}  // namespace engram::inference
