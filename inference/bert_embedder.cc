#include "inference/bert_embedder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "common/default_models.h"
#include "common/json_read.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/layer_norm.h"
#include "kernels/half.h"
#include "kernels/quant.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;

struct Matrix {  // a Linear layer: rows = outputs, cols = inputs (PyTorch's [out, in])
  kernels::PackedMatrix weight;
  std::vector<float> bias;
};

struct Norm {
  std::vector<float> weight, bias;
};

// A config file of the model directory, as a typed view (its name in every message).
Result<json> ReadConfig(const fs::path& path) {
  if (!fs::exists(path)) {
    return Status::NotFound("embedder: cannot read '" + path.string() +
                            "'; run scripts/fetch_models.sh for the default embedder");
  }
  Result<json> j = ReadJsonFile(path, "embedder config", kMaxConfigBytes);
  if (!j.ok()) return j.status().WithContext("embedder");
  if (!j->is_object()) {
    return Status::InvalidArgument("embedder: '" + path.string() + "' is not a JSON object");
  }
  return j;
}

// A weight as the encoder needs it, whichever file it came from: its type, bytes and shape in
// PyTorch order ([out, in] for a Linear layer).
struct WeightTensor {
  TensorType type = TensorType::kF32;
  const uint8_t* data = nullptr;
  std::vector<int64_t> shape;
  size_t bytes = 0;
  size_t row_bytes() const { return bytes / static_cast<size_t>(shape[0]); }
};

// Finds a weight by its sentence-transformers (Hugging Face) name; kNotFound when absent.
using WeightLookup = std::function<Result<WeightTensor>(const std::string& name)>;

WeightLookup SafetensorsLookup(const SafetensorsFile& file) {
  return [&file](const std::string& name) -> Result<WeightTensor> {
    const SafetensorsTensor* t = file.Find(name);
    if (t == nullptr) return Status::NotFound("tensor '" + name + "' is missing");
    WeightTensor w{.data = t->data, .shape = t->shape, .bytes = t->bytes};
    switch (t->dtype) {
      case SafetensorsDtype::kF32: w.type = TensorType::kF32; break;
      case SafetensorsDtype::kF16: w.type = TensorType::kF16; break;
      case SafetensorsDtype::kBF16: w.type = TensorType::kBF16; break;
      default:
        return Status::NotSupported("tensor '" + name + "' has dtype " +
                                    std::string(SafetensorsDtypeName(t->dtype)) +
                                    "; weights must be F32, F16 or BF16");
    }
    return w;
  };
}

// llama.cpp's names for BERT tensors (convert_hf_to_gguf.py, architecture "bert").
std::string GgufName(const std::string& hf) {
  static const std::pair<const char*, const char*> kEmbeddings[] = {
      {"embeddings.word_embeddings.", "token_embd."},
      {"embeddings.position_embeddings.", "position_embd."},
      {"embeddings.token_type_embeddings.", "token_types."},
      {"embeddings.LayerNorm.", "token_embd_norm."}};
  for (const auto& [from, to] : kEmbeddings) {
    if (hf.rfind(from, 0) == 0) return to + hf.substr(std::strlen(from));
  }
  static const std::pair<const char*, const char*> kLayer[] = {
      {"attention.self.query.", "attn_q."},        {"attention.self.key.", "attn_k."},
      {"attention.self.value.", "attn_v."},        {"attention.output.dense.", "attn_output."},
      {"attention.output.LayerNorm.", "attn_output_norm."},
      {"intermediate.dense.", "ffn_up."},          {"output.dense.", "ffn_down."},
      {"output.LayerNorm.", "layer_output_norm."}};
  const std::string prefix = "encoder.layer.";
  if (hf.rfind(prefix, 0) == 0) {
    const size_t dot = hf.find('.', prefix.size());
    const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
    const std::string rest = hf.substr(dot + 1);
    for (const auto& [from, to] : kLayer) {
      if (rest.rfind(from, 0) == 0) return "blk." + layer + "." + to + rest.substr(std::strlen(from));
    }
  }
  return hf;
}

WeightLookup GgufLookup(const GgufFile& file) {
  return [&file](const std::string& name) -> Result<WeightTensor> {
    const std::string gguf_name = GgufName(name);
    const GgufTensor* t = file.FindTensor(gguf_name);
    if (t == nullptr) return Status::NotFound("tensor '" + gguf_name + "' is missing");
    // GGML lists the contiguous dimension first: reversed, it is PyTorch's order.
    return WeightTensor{.type = t->type,
                        .data = t->data,
                        .shape = std::vector<int64_t>(t->shape.rbegin(), t->shape.rend()),
                        .bytes = t->bytes};
  };
}

class Loader {
 public:
  Loader(WeightLookup lookup, std::string file, kernels::GemmPrecision precision)
      : lookup_(std::move(lookup)), file_(std::move(file)), precision_(precision) {}

  Result<WeightTensor> Get(const std::string& name, std::vector<int64_t> shape) {
    Result<WeightTensor> t = lookup_(name);
    if (!t.ok()) {
      return Status(t.status().code() == StatusCode::kNotFound ? StatusCode::kInvalidArgument
                                                               : t.status().code(),
                    "embedder: " + std::string(t.status().message()) + " (file '" + file_ + "')");
    }
    if (t->shape != shape) {
      return Status::InvalidArgument("embedder: tensor '" + name +
                                     "' has an unexpected shape (file '" + file_ + "')");
    }
    return t;
  }

  Result<std::vector<float>> Vector(const std::string& name, int64_t n) {
    Result<WeightTensor> t = Get(name, {n});
    if (!t.ok()) return t.status();
    std::vector<float> v(static_cast<size_t>(n));
    kernels::DequantizeRow(t->type, t->data, v.data(), n);
    return v;
  }

  // Linear layers `prefixes` (each [out, in]) stacked into one matrix of outputs, so q, k and v
  // run as one product.
  Result<Matrix> Linear(std::initializer_list<std::string> prefixes, int64_t out, int64_t in) {
    std::vector<float> weights;
    Matrix m;
    for (const std::string& prefix : prefixes) {
      Result<WeightTensor> t = Get(prefix + ".weight", {out, in});
      if (!t.ok()) return t.status();
      const size_t at = weights.size();
      weights.resize(at + static_cast<size_t>(out * in));
      for (int64_t r = 0; r < out; ++r) {
        kernels::DequantizeRow(t->type, t->data + r * t->row_bytes(),
                               weights.data() + at + r * in, in);
      }
      Result<std::vector<float>> bias = Vector(prefix + ".bias", out);
      if (!bias.ok()) return bias.status();
      m.bias.insert(m.bias.end(), bias->begin(), bias->end());
    }
    const int64_t rows = static_cast<int64_t>(m.bias.size());
    m.weight = kernels::PackMatrix(TensorType::kF32, weights.data(), in * sizeof(float), rows, in,
                                   precision_);
    return m;
  }

  Result<Norm> LayerNorm(const std::string& prefix, int64_t n) {
    Norm norm;
    Result<std::vector<float>> w = Vector(prefix + ".weight", n);
    if (!w.ok()) return w.status();
    Result<std::vector<float>> b = Vector(prefix + ".bias", n);
    if (!b.ok()) return b.status();
    norm.weight = std::move(*w);
    norm.bias = std::move(*b);
    return norm;
  }

 private:
  WeightLookup lookup_;
  std::string file_;
  kernels::GemmPrecision precision_;
};

// The sizes of a BERT encoder, from config.json or from GGUF metadata.
struct BertConfig {
  int hidden = 0, layers = 0, heads = 0, intermediate = 0, max_positions = 512;
  int64_t vocab = 0, type_vocab = 2;
  float eps = 1e-12f;
  int max_tokens = 512;  // truncation (sentence-transformers' max_seq_length)
};

kernels::GemmPrecision GemmPrecisionFor(EmbedPrecision p) {
  switch (p) {
    case EmbedPrecision::kBf16: return kernels::GemmPrecision::kBf16;
    case EmbedPrecision::kInt8: return kernels::GemmPrecision::kInt8;
    default: return kernels::GemmPrecision::kF32;
  }
}

}  // namespace

struct BertEmbedder::Weights {
  int hidden = 0, layers = 0, heads = 0, intermediate = 0, max_positions = 0;
  float eps = 1e-12f;
  WeightTensor word, position;
  std::vector<float> token_type0;  // type 0 row: every text is one segment
  Norm embed_norm;
  struct Layer {
    Matrix qkv, out, up, down;  // qkv: the query, key and value projections stacked
    Norm attn_norm, ffn_norm;
  };
  std::vector<Layer> layer;
};

std::string_view EmbedPrecisionName(EmbedPrecision p) {
  switch (p) {
    case EmbedPrecision::kF32: return "f32";
    case EmbedPrecision::kBf16: return "bf16";
    case EmbedPrecision::kInt8: return "int8";
    default: return "auto";
  }
}

Result<EmbedPrecision> ParseEmbedPrecision(std::string_view name) {
  if (name == "auto") return EmbedPrecision::kAuto;
  if (name == "f32") return EmbedPrecision::kF32;
  if (name == "bf16") return EmbedPrecision::kBf16;
  if (name == "int8") return EmbedPrecision::kInt8;
  return Status::InvalidArgument("embedder: precision '" + std::string(name) +
                                 "' is not auto, f32, bf16 or int8");
}

BertEmbedder::~BertEmbedder() = default;

int BertEmbedder::Dim() const { return weights_->hidden; }

int BertEmbedder::CountTokens(std::string_view text) const {
  return static_cast<int>(
      tokenizer_->Encode(text, {.add_special = true, .parse_special = true}).size());
}

namespace {

// Reads config.json (and sentence-transformers' side files). Every field is typed and
// bounded: a string where a number belongs is an error naming the file and the field.
Result<BertConfig> ConfigFromDirectory(const fs::path& dir) {
  const fs::path config_path = dir / "config.json";
  json config_doc;
  ENGRAM_TRY_ASSIGN(config_doc, ReadConfig(config_path));
  const JsonValue config(config_doc, "embedder config '" + config_path.string() + "'");
  std::string model_type, act;
  ENGRAM_TRY_ASSIGN(model_type, config.StringFieldOr("model_type", ""));
  ENGRAM_TRY_ASSIGN(act, config.StringFieldOr("hidden_act", "gelu"));
  if (model_type != "bert" || act != "gelu") {
    return Status::NotSupported("embedder: '" + config_path.string() +
                                "' is not a BERT model with GELU (model_type '" + model_type +
                                "', hidden_act '" + act + "')");
  }
  // Bounds far above any BERT, low enough that sizes computed from them cannot overflow.
  auto dim = [&](std::string_view key, int64_t fallback, int64_t max) -> Result<int> {
    Result<int64_t> v = fallback < 0 ? config.IntField(key, 1, max)
                                     : config.IntFieldOr(key, fallback, 1, max);
    if (!v.ok()) return v.status();
    return static_cast<int>(*v);
  };
  BertConfig c;
  ENGRAM_TRY_ASSIGN(c.hidden, dim("hidden_size", -1, 1 << 16));
  ENGRAM_TRY_ASSIGN(c.layers, dim("num_hidden_layers", -1, 1024));
  ENGRAM_TRY_ASSIGN(c.heads, dim("num_attention_heads", -1, 1024));
  ENGRAM_TRY_ASSIGN(c.intermediate, dim("intermediate_size", -1, 1 << 18));
  ENGRAM_TRY_ASSIGN(c.max_positions, dim("max_position_embeddings", 512, 1 << 20));
  ENGRAM_TRY_ASSIGN(c.vocab, dim("vocab_size", -1, 1 << 24));
  ENGRAM_TRY_ASSIGN(c.type_vocab, dim("type_vocab_size", 2, 1 << 16));
  double eps = 0;
  ENGRAM_TRY_ASSIGN(eps, config.NumberFieldOr("layer_norm_eps", 1e-12));
  if (!(eps > 0 && eps < 1)) {
    return Status::InvalidArgument("embedder config '" + config_path.string() +
                                   "': layer_norm_eps must be in (0, 1)");
  }
  c.eps = static_cast<float>(eps);
  c.max_tokens = c.max_positions;
  const fs::path st_path = dir / "sentence_bert_config.json";
  if (fs::exists(st_path)) {
    json st;
    ENGRAM_TRY_ASSIGN(st, ReadConfig(st_path));
    int64_t max_seq = 0;
    ENGRAM_TRY_ASSIGN(max_seq, JsonValue(st, "embedder config '" + st_path.string() + "'")
                                   .IntFieldOr("max_seq_length", c.max_positions, 1, 1 << 20));
    c.max_tokens = std::min(c.max_positions, static_cast<int>(max_seq));
  }
  const fs::path pooling_path = dir / "1_Pooling" / "config.json";
  if (fs::exists(pooling_path)) {
    json pooling;
    ENGRAM_TRY_ASSIGN(pooling, ReadConfig(pooling_path));
    bool mean = false;
    ENGRAM_TRY_ASSIGN(mean, JsonValue(pooling, "embedder config '" + pooling_path.string() + "'")
                                .BoolFieldOr("pooling_mode_mean_tokens", false));
    if (!mean) {
      return Status::NotSupported("embedder: only mean pooling is supported ('" +
                                  pooling_path.string() + "')");
    }
  }
  return c;
}

Result<BertConfig> ConfigFromGguf(const GgufFile& gguf) {
  Result<std::string_view> arch = gguf.Architecture();
  if (!arch.ok()) return arch.status();
  if (*arch != "bert") {
    return Status::NotSupported("embedder: '" + gguf.path() + "' has architecture '" +
                                std::string(*arch) + "'; the embedder runs bert models");
  }
  auto get = [&](const char* key) -> Result<int> {
    Result<uint64_t> v = gguf.GetUint64(std::string("bert.") + key);
    if (!v.ok()) return Status::InvalidArgument("embedder: " + std::string(v.status().message()));
    return static_cast<int>(*v);
  };
  BertConfig c;
  ENGRAM_TRY_ASSIGN(c.hidden, get("embedding_length"));
  ENGRAM_TRY_ASSIGN(c.layers, get("block_count"));
  ENGRAM_TRY_ASSIGN(c.heads, get("attention.head_count"));
  ENGRAM_TRY_ASSIGN(c.intermediate, get("feed_forward_length"));
  ENGRAM_TRY_ASSIGN(c.max_positions, get("context_length"));
  c.max_tokens = c.max_positions;  // as llama.cpp truncates a GGUF embedder
  if (Result<double> eps = gguf.GetDouble("bert.attention.layer_norm_epsilon"); eps.ok()) {
    c.eps = static_cast<float>(*eps);
  }
  // llama.cpp's pooling types: 0 none, 1 mean, 2 cls, 3 last, 4 rank.
  if (Result<uint64_t> pooling = gguf.GetUint64("bert.pooling_type");
      pooling.ok() && *pooling != 1) {
    return Status::NotSupported("embedder: '" + gguf.path() + "' asks for pooling type " +
                                std::to_string(*pooling) + "; only mean pooling (1) is supported");
  }
  const GgufTensor* word = gguf.FindTensor("token_embd.weight");
  const GgufTensor* types = gguf.FindTensor("token_types.weight");
  if (word == nullptr || word->shape.size() != 2) {
    return Status::InvalidArgument("embedder: '" + gguf.path() + "' has no token_embd.weight matrix");
  }
  c.vocab = word->shape[1];
  c.type_vocab = types != nullptr && types->shape.size() == 2 ? types->shape[1] : 2;
  return c;
}

}  // namespace

Result<std::unique_ptr<BertEmbedder>> BertEmbedder::Open(const std::string& path,
                                                         const BertEmbedderOptions& options) {
  std::unique_ptr<BertEmbedder> e(new BertEmbedder());
  BertConfig config;
  WeightLookup lookup;
  std::string weights_file;
  const fs::path p(path);
  if (fs::is_regular_file(p) && p.extension() == ".gguf") {
    ENGRAM_TRY_ASSIGN(e->gguf_, GgufFile::Open(path));
    ENGRAM_TRY_ASSIGN(config, ConfigFromGguf(*e->gguf_));
    ENGRAM_TRY_ASSIGN(e->tokenizer_, Tokenizer::Load(path));
    lookup = GgufLookup(*e->gguf_);
    weights_file = path;
    e->name_ = p.stem().string();
  } else if (fs::is_directory(p)) {
    ENGRAM_TRY_ASSIGN(config, ConfigFromDirectory(p));
    const fs::path weights_path = p / "model.safetensors";
    if (!fs::exists(weights_path)) {
      return Status::NotFound("embedder: '" + weights_path.string() +
                              "' is missing; run scripts/fetch_models.sh");
    }
    ENGRAM_TRY_ASSIGN(e->file_, SafetensorsFile::Open(weights_path.string()));
    ENGRAM_TRY_ASSIGN(e->tokenizer_, Tokenizer::Load(path));
    lookup = SafetensorsLookup(*e->file_);
    weights_file = weights_path.string();
    e->name_ = p.filename().string();
  } else {
    return Status::NotFound("embedder: model '" + path +
                            "' is neither a directory nor a .gguf file; run "
                            "scripts/fetch_models.sh for the default embedder, or pass a "
                            "sentence-transformers model directory or a bert GGUF");
  }
  if (config.hidden <= 0 || config.layers <= 0 || config.heads <= 0 ||
      config.hidden % config.heads != 0 || config.intermediate <= 0 || config.max_positions <= 0) {
    return Status::InvalidArgument("embedder: inconsistent sizes in the configuration of '" +
                                   path + "'");
  }
  auto w = std::make_unique<Weights>();
  w->hidden = config.hidden;
  w->layers = config.layers;
  w->heads = config.heads;
  w->intermediate = config.intermediate;
  w->max_positions = config.max_positions;
  w->eps = config.eps;
  e->max_tokens_ = config.max_tokens;

  e->precision_ = options.precision;
  if (e->precision_ == EmbedPrecision::kAuto) {
    e->precision_ = kernels::FastBf16Gemm() ? EmbedPrecision::kBf16 : EmbedPrecision::kF32;
  }
  Loader load(lookup, weights_file, GemmPrecisionFor(e->precision_));
  const int64_t h = w->hidden;
  ENGRAM_TRY_ASSIGN(w->word, load.Get("embeddings.word_embeddings.weight", {config.vocab, h}));
  ENGRAM_TRY_ASSIGN(w->position, load.Get("embeddings.position_embeddings.weight",
                                          {w->max_positions, h}));
  WeightTensor types;
  ENGRAM_TRY_ASSIGN(types, load.Get("embeddings.token_type_embeddings.weight",
                                    {config.type_vocab, h}));
  w->token_type0.resize(h);
  kernels::DequantizeRow(types.type, types.data, w->token_type0.data(), h);
  ENGRAM_TRY_ASSIGN(w->embed_norm, load.LayerNorm("embeddings.LayerNorm", h));
  for (int i = 0; i < w->layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Weights::Layer l;
    ENGRAM_TRY_ASSIGN(l.qkv, load.Linear({p + "attention.self.query", p + "attention.self.key",
                                          p + "attention.self.value"},
                                         h, h));
    ENGRAM_TRY_ASSIGN(l.out, load.Linear({p + "attention.output.dense"}, h, h));
    ENGRAM_TRY_ASSIGN(l.attn_norm, load.LayerNorm(p + "attention.output.LayerNorm", h));
    ENGRAM_TRY_ASSIGN(l.up, load.Linear({p + "intermediate.dense"}, w->intermediate, h));
    ENGRAM_TRY_ASSIGN(l.down, load.Linear({p + "output.dense"}, h, w->intermediate));
    ENGRAM_TRY_ASSIGN(l.ffn_norm, load.LayerNorm(p + "output.LayerNorm", h));
    w->layer.push_back(std::move(l));
  }
  e->weights_ = std::move(w);
  e->team_ = std::make_unique<ComputeTeam>(static_cast<size_t>(std::max(0, options.n_threads)));
  return e;
}

Result<std::unique_ptr<BertEmbedder>> BertEmbedder::OpenOrDefault(
    const std::string& dir, const BertEmbedderOptions& options) {
  if (!dir.empty()) {
    // A lock model's name (--model all-minilm-l6-v2) becomes its folder.
    Result<std::string> resolved = ResolveModelArgument(dir, "embedder");
    if (!resolved.ok()) return resolved.status();
    return Open(*resolved, options);
  }
  Result<fs::path> path = DefaultModelPath("embedder");
  if (!path.ok()) return path.status();
  return Open(fs::is_directory(*path) ? path->string() : path->parent_path().string(), options);
}

Result<retrieval::EmbeddingBatch> BertEmbedder::Embed(std::span<const std::string> texts) {
  std::lock_guard<std::mutex> lock(mu_);
  const Weights& w = *weights_;
  const int64_t h = w.hidden;
  retrieval::EmbeddingBatch out;
  out.dim = w.hidden;
  if (texts.empty()) return out;

  // Token ids of every text, cut to max_tokens_ (keeping [SEP] last, as HF truncation does).
  std::vector<int32_t> ids;
  std::vector<int64_t> starts;
  for (const std::string& text : texts) {
    // Special-token text such as "[MASK]" becomes its token, as HF tokenizers do by default.
    std::vector<int32_t> t = tokenizer_->Encode(text, {.add_special = true, .parse_special = true});
    const bool cut = static_cast<int>(t.size()) > max_tokens_;
    if (cut) {
      const int32_t last = t.back();
      t.resize(static_cast<size_t>(max_tokens_));
      t.back() = last;
    }
    starts.push_back(static_cast<int64_t>(ids.size()));
    ids.insert(ids.end(), t.begin(), t.end());
    out.tokens.push_back(static_cast<int32_t>(t.size()));
    out.truncated.push_back(cut ? 1 : 0);
  }
  starts.push_back(static_cast<int64_t>(ids.size()));
  const int64_t n = static_cast<int64_t>(ids.size());

  // Embeddings.
  std::vector<float> x(n * h), qkv(n * 3 * h), attn(n * h), tmp(n * h);
  std::vector<float> up(n * static_cast<int64_t>(w.intermediate));
  const TensorType word_type = w.word.type, pos_type = w.position.type;
  const size_t word_row = w.word.row_bytes(), pos_row = w.position.row_bytes();
  // Rows [t0, t1) of x: each token's position is its index within its own text.
  auto parallel_tokens = [&](auto&& body) {
    team_->ParallelFor(0, static_cast<size_t>(n), 16, [&](size_t t0, size_t t1) {
      body(static_cast<int64_t>(t0), static_cast<int64_t>(t1));
    });
  };
  parallel_tokens([&](int64_t t0, int64_t t1) {
    std::vector<float> row(h);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t position = t - *(std::upper_bound(starts.begin(), starts.end(), t) - 1);
      float* xt = x.data() + t * h;
      kernels::DequantizeRow(word_type, w.word.data + static_cast<size_t>(ids[t]) * word_row, xt, h);
      kernels::DequantizeRow(pos_type, w.position.data + static_cast<size_t>(position) * pos_row,
                             row.data(), h);
      for (int64_t i = 0; i < h; ++i) row[i] += w.token_type0[i];
      kernels::LayerNorm(xt, row.data(), w.embed_norm.weight.data(), w.embed_norm.bias.data(), h,
                         w.eps);
    }
  });
  const kernels::GemmIsa isa = kernels::ActiveGemmIsa();
  std::vector<float> packed;
  auto linear = [&](const Matrix& m, const float* input, float* output) {
    const kernels::PackedMatrix& w = m.weight;
    const int64_t tile = kernels::GemmTokenTile(isa, w);
    packed.resize(kernels::GemmTokensFloats(isa, w, n));
    const size_t tiles = static_cast<size_t>((n + tile - 1) / tile);
    team_->ParallelFor(0, tiles, 4, [&](size_t j0, size_t j1) {
      kernels::PackGemmTokens(isa, w, input, static_cast<size_t>(w.cols()),
                              static_cast<int64_t>(j0) * tile,
                              std::min<int64_t>(n, static_cast<int64_t>(j1) * tile),
                              packed.data());
    });
    team_->ParallelFor(0, static_cast<size_t>(w.panels()), 1, [&](size_t p0, size_t p1) {
      kernels::GemmPacked(isa, w, packed.data(), n, static_cast<int64_t>(p0),
                          static_cast<int64_t>(p1), output, static_cast<size_t>(w.rows()),
                          m.bias.data());
    });
  };
  // x = LayerNorm(x + tmp), the residual of both sublayers.
  auto add_and_norm = [&](const Norm& norm) {
    parallel_tokens([&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        kernels::LayerNorm(x.data() + t * h, tmp.data() + t * h, norm.weight.data(),
                           norm.bias.data(), h, w.eps);
      }
    });
  };
  const int heads = w.heads;
  const int dim = w.hidden / w.heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  const size_t texts_n = starts.size() - 1;
  for (const Weights::Layer& l : w.layer) {
    linear(l.qkv, x.data(), qkv.data());
    // Each text attends to its own tokens only (what the padding mask does in a padded batch).
    team_->ParallelFor(0, texts_n * heads, 1, [&](size_t lo, size_t hi) {
      thread_local std::vector<float> scratch;
      for (size_t task = lo; task < hi; ++task) {
        const size_t s = task / heads;
        const int head = static_cast<int>(task % heads);
        const int64_t begin = starts[s], count = starts[s + 1] - starts[s];
        scratch.resize(kernels::AttendDenseScratchFloats(count, dim));
        const float* row0 = qkv.data() + begin * 3 * h + head * dim;
        kernels::AttendDense(row0, 3 * h, row0 + h, 3 * h, row0 + 2 * h, 3 * h, count, count, dim,
                             scale, scratch.data(), attn.data() + begin * h + head * dim, h);
      }
    });
    linear(l.out, attn.data(), tmp.data());
    add_and_norm(l.attn_norm);
    linear(l.up, x.data(), up.data());
    team_->ParallelFor(0, static_cast<size_t>(n), 16, [&](size_t t0, size_t t1) {
      kernels::GeluErf(up.data() + t0 * w.intermediate,
                       static_cast<int64_t>(t1 - t0) * w.intermediate);
    });
    linear(l.down, up.data(), tmp.data());
    add_and_norm(l.ffn_norm);
  }
  // Mean over each text's tokens, then L2 normalisation.
  out.values.assign(texts.size() * h, 0.0f);
  for (size_t s = 0; s + 1 < starts.size(); ++s) {
    float* e = out.values.data() + s * h;
    const int64_t count = starts[s + 1] - starts[s];
    for (int64_t t = starts[s]; t < starts[s + 1]; ++t) {
      for (int64_t i = 0; i < h; ++i) e[i] += x[t * h + i];
    }
    double norm = 0.0;
    for (int64_t i = 0; i < h; ++i) {
      e[i] /= static_cast<float>(count);
      norm += static_cast<double>(e[i]) * e[i];
    }
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12)) : 0.0f;
    for (int64_t i = 0; i < h; ++i) e[i] *= inv;
  }
  return out;
}

}  // namespace engram::inference
