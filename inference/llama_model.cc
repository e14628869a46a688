#include "inference/llama_model.h"

#include <cmath>
#include <optional>
#include <string_view>

#include "inference/model_support.h"
#include "kernels/quant.h"

namespace engram::inference {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Reads the model's hyper-parameters, which GGUF keys with the architecture name.
class ConfigReader {
 public:
  ConfigReader(const GgufFile& gguf, std::string arch) : gguf_(gguf), arch_(std::move(arch)) {}

  Result<int> Int(std::string_view key, std::optional<int> fallback = std::nullopt) {
    const std::string full = arch_ + "." + std::string(key);
    if (gguf_.Find(full) == nullptr) {
      if (fallback) return *fallback;
      return Status::InvalidArgument("model: metadata key '" + full + "' is missing (file '" +
                                     gguf_.path() + "')");
    }
    Result<uint64_t> v = gguf_.GetUint64(full);
    if (!v.ok()) return v.status();
    if (*v == 0 || *v > (1u << 24)) {
      return Status::InvalidArgument("model: metadata '" + full + "' = " + std::to_string(*v) +
                                     " is out of range (file '" + gguf_.path() + "')");
    }
    return static_cast<int>(*v);
  }

  Result<float> Float(std::string_view key, float fallback) {
    const std::string full = arch_ + "." + std::string(key);
    if (gguf_.Find(full) == nullptr) return fallback;
    Result<double> v = gguf_.GetDouble(full);
    if (!v.ok()) return v.status();
    return static_cast<float>(*v);
  }

  std::string_view String(std::string_view key) {
    Result<std::string_view> v = gguf_.GetString(arch_ + "." + std::string(key));
    return v.ok() ? *v : std::string_view();
  }

 private:
  const GgufFile& gguf_;
  std::string arch_;
};

class WeightReader {
 public:
  explicit WeightReader(const GgufFile& gguf) : gguf_(gguf) {}

  const GgufTensor* Find(const std::string& name) const { return gguf_.FindTensor(name); }

  // A matrix of `rows` rows of `cols` (GGML shape [cols, rows]).
  Result<WeightMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const GgufTensor* t = gguf_.FindTensor(name);
    if (t == nullptr) return Missing(name);
    if (t->shape.size() != 2 || t->shape[0] != cols || t->shape[1] != rows) {
      return Status::InvalidArgument("model: tensor '" + name + "' has shape " +
                                     ShapeText(t->shape) + " but " +
                                     ShapeText({cols, rows}) + " was expected (file '" +
                                     gguf_.path() + "')");
    }
    const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(t->type));
    if (info == nullptr || !info->supported || cols % info->block_elems != 0) {
      return Status::NotSupported("model: tensor '" + name + "' has type '" +
                                  std::string(TensorTypeName(t->type)) +
                                  "', which engram cannot multiply (file '" + gguf_.path() + "')");
    }
    WeightMatrix m;
    m.name = name;
    m.type = t->type;
    m.data = t->data;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = static_cast<size_t>(*TensorRowBytes(t->type, cols));  // cols checked above
    return m;
  }

  // A vector of n floats (any supported type, converted); optional ones may be absent.
  Result<std::vector<float>> Vector(const std::string& name, int64_t n, bool optional = false) const {
    const GgufTensor* t = gguf_.FindTensor(name);
    if (t == nullptr) {
      if (optional) return std::vector<float>();
      return Missing(name);
    }
    if (t->Elements() != n || t->shape.size() != 1) {
      return Status::InvalidArgument("model: tensor '" + name + "' has shape " +
                                     ShapeText(t->shape) + " but [" + std::to_string(n) +
                                     "] was expected (file '" + gguf_.path() + "')");
    }
    const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(t->type));
    if (info == nullptr || !info->supported || n % info->block_elems != 0) {
      return Status::NotSupported("model: tensor '" + name + "' has unsupported type '" +
                                  std::string(TensorTypeName(t->type)) + "' (file '" +
                                  gguf_.path() + "')");
    }
    std::vector<float> v(static_cast<size_t>(n));
    kernels::DequantizeRow(t->type, t->data, v.data(), n);
    return v;
  }

 private:
  Status Missing(const std::string& name) const {
    return Status::InvalidArgument("model: tensor '" + name + "' is missing (file '" +
                                   gguf_.path() + "')");
  }
  const GgufFile& gguf_;
};

#define ENGRAM_ASSIGN(lhs, expr)            \
  do {                                      \
    auto assign_result_ = (expr);           \
    if (!assign_result_.ok()) return assign_result_.status(); \
    lhs = std::move(*assign_result_);       \
  } while (0)

}  // namespace

Result<std::shared_ptr<const LlamaModel>> LlamaModel::Load(const std::string& path) {
  Result<std::unique_ptr<GgufFile>> gguf = GgufFile::Open(path);
  if (!gguf.ok()) return gguf.status();
  return FromGguf(std::shared_ptr<const GgufFile>(std::move(*gguf)));
}

namespace {

// Gemma 3's fixed choices, which its GGUF does not carry (llama.cpp hard-codes them too): five
// sliding-window layers, then one global; local layers rotate with base 10000, unscaled.
constexpr int kGemma3LayerPattern = 6;
constexpr float kGemma3LocalRopeBase = 10000.0f;

Status ReadRopeScaling(ConfigReader& meta, const GgufFile& gguf, LlamaConfig& c) {
  const std::string_view scaling = meta.String("rope.scaling.type");
  float factor = 0.0f;
  ENGRAM_ASSIGN(factor, meta.Float("rope.scaling.factor", 0.0f));
  if (factor == 0.0f) ENGRAM_ASSIGN(factor, meta.Float("rope.scale_linear", 0.0f));
  if (scaling == "linear" || (scaling.empty() && factor > 0.0f)) {
    if (!(factor > 0.0f)) return Status::InvalidArgument("model: linear rope scaling without a factor");
    c.rope_freq_scale = 1.0f / factor;
  } else if (!scaling.empty() && scaling != "none" && scaling != "llama3") {
    return Status::NotSupported("model: rope scaling '" + std::string(scaling) +
                                "' is not supported (none, linear, llama3); file '" + gguf.path() +
                                "'");
  }
  return Status::OK();
}

Status ReadConfig(const GgufFile& gguf, std::string_view arch, LlamaConfig& c) {
  c.architecture = std::string(arch);
  ConfigReader meta(gguf, c.architecture);
  ENGRAM_ASSIGN(c.n_layer, meta.Int("block_count"));
  ENGRAM_ASSIGN(c.n_embd, meta.Int("embedding_length"));
  ENGRAM_ASSIGN(c.n_ff, meta.Int("feed_forward_length"));
  ENGRAM_ASSIGN(c.n_head, meta.Int("attention.head_count"));
  ENGRAM_ASSIGN(c.n_kv_head, meta.Int("attention.head_count_kv", c.n_head));
  ENGRAM_ASSIGN(c.head_dim, meta.Int("attention.key_length", c.n_embd / c.n_head));
  ENGRAM_ASSIGN(c.n_ctx_train, meta.Int("context_length", 4096));
  ENGRAM_ASSIGN(c.rope_dim, meta.Int("rope.dimension_count", c.head_dim));
  ENGRAM_ASSIGN(c.rms_eps, meta.Float("attention.layer_norm_rms_epsilon", 1e-5f));
  ENGRAM_ASSIGN(c.rope_freq_base, meta.Float("rope.freq_base", 10000.0f));
  c.rope_style = c.architecture == "llama" ? RopeStyle::kNormal : RopeStyle::kNeox;
  if (Status s = ReadRopeScaling(meta, gguf, c); !s.ok()) return s;
  if (c.n_head % c.n_kv_head != 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return Status::InvalidArgument("model: inconsistent attention shape (" +
                                   std::to_string(c.n_head) + " heads, " +
                                   std::to_string(c.n_kv_head) + " kv heads, rope dim " +
                                   std::to_string(c.rope_dim) + "); file '" + gguf.path() + "'");
  }
  c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (c.architecture == "gemma3") {
    ENGRAM_ASSIGN(c.sliding_window, meta.Int("attention.sliding_window"));
    c.rope_freq_base_local = kGemma3LocalRopeBase;
    c.embedding_scale = std::sqrt(static_cast<float>(c.n_embd));
    c.ffn_activation = FfnActivation::kGeluTanh;
    // Gemma 3 27B (62 layers) scales queries by 1/sqrt(n_embd / n_head), the others by head_dim.
    if (c.n_layer == 62) {
      c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.n_embd / c.n_head));
    }
  }
  return Status::OK();
}

Status ReadLayer(const WeightReader& w, const LlamaConfig& c, int i, LlamaLayerWeights& l) {
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_head) * c.head_dim;
  const std::string p = "blk." + std::to_string(i) + ".";
  ENGRAM_ASSIGN(l.attn_norm, w.Vector(p + "attn_norm.weight", c.n_embd));
  ENGRAM_ASSIGN(l.wq, w.Matrix(p + "attn_q.weight", c.n_embd, q_dim));
  ENGRAM_ASSIGN(l.wk, w.Matrix(p + "attn_k.weight", c.n_embd, kv_dim));
  ENGRAM_ASSIGN(l.wv, w.Matrix(p + "attn_v.weight", c.n_embd, kv_dim));
  ENGRAM_ASSIGN(l.wo, w.Matrix(p + "attn_output.weight", q_dim, c.n_embd));
  ENGRAM_ASSIGN(l.bq, w.Vector(p + "attn_q.bias", q_dim, true));
  ENGRAM_ASSIGN(l.bk, w.Vector(p + "attn_k.bias", kv_dim, true));
  ENGRAM_ASSIGN(l.bv, w.Vector(p + "attn_v.bias", kv_dim, true));
  ENGRAM_ASSIGN(l.ffn_norm, w.Vector(p + "ffn_norm.weight", c.n_embd));
  ENGRAM_ASSIGN(l.w_gate, w.Matrix(p + "ffn_gate.weight", c.n_embd, c.n_ff));
  ENGRAM_ASSIGN(l.w_up, w.Matrix(p + "ffn_up.weight", c.n_embd, c.n_ff));
  ENGRAM_ASSIGN(l.w_down, w.Matrix(p + "ffn_down.weight", c.n_ff, c.n_embd));
  if (c.architecture == "gemma3") {
    ENGRAM_ASSIGN(l.q_norm, w.Vector(p + "attn_q_norm.weight", c.head_dim));
    ENGRAM_ASSIGN(l.k_norm, w.Vector(p + "attn_k_norm.weight", c.head_dim));
    ENGRAM_ASSIGN(l.post_attn_norm, w.Vector(p + "post_attention_norm.weight", c.n_embd));
    ENGRAM_ASSIGN(l.post_ffn_norm, w.Vector(p + "post_ffw_norm.weight", c.n_embd));
    l.sliding = (i + 1) % kGemma3LayerPattern != 0;
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<const LlamaModel>> LlamaModel::FromGguf(
    std::shared_ptr<const GgufFile> gguf_ptr) {
  const GgufFile& gguf = *gguf_ptr;
  if (Status s = CheckSupportedModel(gguf); !s.ok()) return s;
  Result<std::string_view> arch = gguf.Architecture();
  if (!arch.ok()) return arch.status();
  if (*arch != "llama" && *arch != "qwen2" && *arch != "gemma3") {
    return Status::NotSupported("model: architecture '" + std::string(*arch) +
                                "' is not a text generator engram runs (llama, qwen2, gemma3); "
                                "file '" + gguf.path() + "'");
  }
  std::shared_ptr<LlamaModel> model(new LlamaModel());
  model->gguf_ = gguf_ptr;
  LlamaConfig& c = model->config_;
  if (Status s = ReadConfig(gguf, *arch, c); !s.ok()) return s;

  WeightReader w(gguf);
  const GgufTensor* embd = w.Find("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2) {
    return Status::InvalidArgument("model: tensor 'token_embd.weight' is missing or not 2-D (file '" +
                                   gguf.path() + "')");
  }
  c.n_vocab = static_cast<int>(embd->shape[1]);
  ENGRAM_ASSIGN(model->token_embd_, w.Matrix("token_embd.weight", c.n_embd, c.n_vocab));
  if (w.Find("output.weight") != nullptr) {
    ENGRAM_ASSIGN(model->output_, w.Matrix("output.weight", c.n_embd, c.n_vocab));
  } else {
    model->output_ = model->token_embd_;  // tied embeddings
  }
  ENGRAM_ASSIGN(model->output_norm_, w.Vector("output_norm.weight", c.n_embd));
  ENGRAM_ASSIGN(model->rope_freq_factors_, w.Vector("rope_freqs.weight", c.rope_dim / 2, true));
  c.has_rope_freq_factors = !model->rope_freq_factors_.empty();
  model->layers_.resize(c.n_layer);
  for (int i = 0; i < c.n_layer; ++i) {
    if (Status s = ReadLayer(w, c, i, model->layers_[i]); !s.ok()) return s;
  }
  return std::shared_ptr<const LlamaModel>(std::move(model));
}

}  // namespace engram::inference
