// A llama-family decoder loaded from GGUF: llama (Llama 2/3, Mistral, SmolLM2, TinyLlama), qwen2
// and gemma3 (Gemma 3: interleaved sliding-window and global attention layers, query/key norms,
// norms after attention and feed-forward, GELU gating, embeddings scaled by sqrt(n_embd)). Weights stay in the memory-mapped file in their GGUF types; nothing is copied except
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

enum class FfnActivation {
  kSilu,      // SwiGLU: silu(gate) * up (llama, qwen2)
  kGeluTanh,  // GeGLU: gelu_tanh(gate) * up (gemma3)
};

struct LlamaConfig {
  std::string architecture;  // "llama", "qwen2" or "gemma3"
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
  // Gemma 3. Sliding-window layers attend the last `sliding_window` positions (the query's own
  // included) and rotate with rope_freq_base_local; the others attend everything.
  int sliding_window = 0;               // 0: every layer is global
  float rope_freq_base_local = 10000.0f;
  float embedding_scale = 1.0f;         // token embeddings are multiplied by it (sqrt(n_embd))
  FfnActivation ffn_activation = FfnActivation::kSilu;
  float attention_scale = 0.0f;         // scores are q·k times this (1/sqrt(head_dim))
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
  // Gemma 3 only (empty otherwise): RMSNorm of each query / key head before RoPE, and of the
  // attention and feed-forward outputs before they join the residual.
  std::vector<float> q_norm, k_norm;
  std::vector<float> post_attn_norm, post_ffn_norm;
  bool sliding = false;  // a sliding-window (local) attention layer
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
