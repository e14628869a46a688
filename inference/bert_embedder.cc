#include "inference/bert_embedder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kernels/attention.h"
#include "kernels/half.h"
#include "kernels/matmul.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Matrix {  // a Linear layer: rows = outputs, cols = inputs (PyTorch's [out, in])
  TensorType type = TensorType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  std::vector<float> bias;
};

struct Norm {
  std::vector<float> weight, bias;
};

Result<json> ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("embedder: cannot read '" + path.string() +
                            "'; run scripts/fetch_models.sh for the default embedder");
  }
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("embedder: '" + path.string() + "' is not a JSON object");
  }
  return j;
}

Result<TensorType> TypeOf(const SafetensorsTensor& t) {
  switch (t.dtype) {
    case SafetensorsDtype::kF32: return TensorType::kF32;
    case SafetensorsDtype::kF16: return TensorType::kF16;
    case SafetensorsDtype::kBF16: return TensorType::kBF16;
    default:
      return Status::NotSupported("embedder: tensor '" + t.name + "' has dtype " +
                                  std::string(SafetensorsDtypeName(t.dtype)) +
                                  "; weights must be F32, F16 or BF16");
  }
}

class Loader {
 public:
  explicit Loader(const SafetensorsFile& file) : file_(file) {}

  Result<const SafetensorsTensor*> Get(const std::string& name, std::vector<int64_t> shape) {
    const SafetensorsTensor* t = file_.Find(name);
    if (t == nullptr) {
      return Status::InvalidArgument("embedder: tensor '" + name + "' is missing (file '" +
                                     file_.path() + "')");
    }
    if (t->shape != shape) {
      return Status::InvalidArgument("embedder: tensor '" + name + "' has an unexpected shape (file '" +
                                     file_.path() + "')");
    }
    Result<TensorType> type = TypeOf(*t);
    if (!type.ok()) return type.status();
    return t;
  }

  Result<std::vector<float>> Vector(const std::string& name, int64_t n) {
    Result<const SafetensorsTensor*> t = Get(name, {n});
    if (!t.ok()) return t.status();
    std::vector<float> v(static_cast<size_t>(n));
    kernels::DequantizeRow(*TypeOf(**t), (*t)->data, v.data(), n);
    return v;
  }

  Result<Matrix> Linear(const std::string& prefix, int64_t out, int64_t in) {
    Result<const SafetensorsTensor*> t = Get(prefix + ".weight", {out, in});
    if (!t.ok()) return t.status();
    Matrix m;
    m.type = *TypeOf(**t);
    m.data = (*t)->data;
    m.rows = out;
    m.cols = in;
    m.row_bytes = (*t)->bytes / static_cast<size_t>(out);
    Result<std::vector<float>> bias = Vector(prefix + ".bias", out);
    if (!bias.ok()) return bias.status();
    m.bias = std::move(*bias);
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
  const SafetensorsFile& file_;
};

#define ENGRAM_TRY_ASSIGN(lhs, expr)                      \
  do {                                                    \
    auto try_result_ = (expr);                            \
    if (!try_result_.ok()) return try_result_.status();   \
    lhs = std::move(*try_result_);                        \
  } while (0)

void LayerNormRow(float* x, const Norm& n, int64_t dim, float eps) {
  double mean = 0.0;
  for (int64_t i = 0; i < dim; ++i) mean += x[i];
  mean /= dim;
  double var = 0.0;
  for (int64_t i = 0; i < dim; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= dim;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
  for (int64_t i = 0; i < dim; ++i) {
    x[i] = (x[i] - static_cast<float>(mean)) * inv * n.weight[i] + n.bias[i];
  }
}

}  // namespace

struct BertEmbedder::Weights {
  int hidden = 0, layers = 0, heads = 0, intermediate = 0, max_positions = 0;
  float eps = 1e-12f;
  const SafetensorsTensor* word = nullptr;
  const SafetensorsTensor* position = nullptr;
  std::vector<float> token_type0;  // type 0 row: every text is one segment
  Norm embed_norm;
  struct Layer {
    Matrix q, k, v, out, up, down;
    Norm attn_norm, ffn_norm;
  };
  std::vector<Layer> layer;
};

BertEmbedder::~BertEmbedder() = default;

int BertEmbedder::Dim() const { return weights_->hidden; }

Result<std::unique_ptr<BertEmbedder>> BertEmbedder::Open(const std::string& dir_in,
                                                         const BertEmbedderOptions& options) {
  const fs::path dir(dir_in);
  if (!fs::is_directory(dir)) {
    return Status::NotFound("embedder: model directory '" + dir_in +
                            "' does not exist; run scripts/fetch_models.sh for the default "
                            "embedder, or pass a sentence-transformers model directory");
  }
  json config;
  ENGRAM_TRY_ASSIGN(config, ReadJson(dir / "config.json"));
  if (config.value("model_type", "") != "bert" || config.value("hidden_act", "gelu") != "gelu") {
    return Status::NotSupported("embedder: '" + (dir / "config.json").string() +
                                "' is not a BERT model with GELU (model_type " +
                                config.value("model_type", "?") + ")");
  }
  std::unique_ptr<BertEmbedder> e(new BertEmbedder());
  e->name_ = dir.filename().string();
  auto w = std::make_unique<Weights>();
  w->hidden = config.value("hidden_size", 0);
  w->layers = config.value("num_hidden_layers", 0);
  w->heads = config.value("num_attention_heads", 0);
  w->intermediate = config.value("intermediate_size", 0);
  w->max_positions = config.value("max_position_embeddings", 512);
  w->eps = config.value("layer_norm_eps", 1e-12f);
  if (w->hidden <= 0 || w->layers <= 0 || w->heads <= 0 || w->hidden % w->heads != 0 ||
      w->intermediate <= 0) {
    return Status::InvalidArgument("embedder: inconsistent sizes in '" +
                                   (dir / "config.json").string() + "'");
  }
  e->max_tokens_ = w->max_positions;
  if (fs::exists(dir / "sentence_bert_config.json")) {
    json st;
    ENGRAM_TRY_ASSIGN(st, ReadJson(dir / "sentence_bert_config.json"));
    e->max_tokens_ = std::min(w->max_positions, st.value("max_seq_length", w->max_positions));
  }
  if (fs::exists(dir / "1_Pooling" / "config.json")) {
    json pooling;
    ENGRAM_TRY_ASSIGN(pooling, ReadJson(dir / "1_Pooling" / "config.json"));
    if (!pooling.value("pooling_mode_mean_tokens", false)) {
      return Status::NotSupported("embedder: only mean pooling is supported ('" +
                                  (dir / "1_Pooling" / "config.json").string() + "')");
    }
  }
  const fs::path weights_path = dir / "model.safetensors";
  if (!fs::exists(weights_path)) {
    return Status::NotFound("embedder: '" + weights_path.string() +
                            "' is missing; run scripts/fetch_models.sh");
  }
  ENGRAM_TRY_ASSIGN(e->file_, SafetensorsFile::Open(weights_path.string()));
  ENGRAM_TRY_ASSIGN(e->tokenizer_, Tokenizer::Load(dir_in));

  Loader load(*e->file_);
  const int64_t h = w->hidden;
  const int64_t vocab = config.value("vocab_size", 0);
  ENGRAM_TRY_ASSIGN(w->word, load.Get("embeddings.word_embeddings.weight", {vocab, h}));
  ENGRAM_TRY_ASSIGN(w->position, load.Get("embeddings.position_embeddings.weight",
                                          {w->max_positions, h}));
  const SafetensorsTensor* types = nullptr;
  ENGRAM_TRY_ASSIGN(types, load.Get("embeddings.token_type_embeddings.weight",
                                    {config.value("type_vocab_size", 2), h}));
  w->token_type0.resize(h);
  kernels::DequantizeRow(*TypeOf(*types), types->data, w->token_type0.data(), h);
  ENGRAM_TRY_ASSIGN(w->embed_norm, load.LayerNorm("embeddings.LayerNorm", h));
  for (int i = 0; i < w->layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Weights::Layer l;
    ENGRAM_TRY_ASSIGN(l.q, load.Linear(p + "attention.self.query", h, h));
    ENGRAM_TRY_ASSIGN(l.k, load.Linear(p + "attention.self.key", h, h));
    ENGRAM_TRY_ASSIGN(l.v, load.Linear(p + "attention.self.value", h, h));
    ENGRAM_TRY_ASSIGN(l.out, load.Linear(p + "attention.output.dense", h, h));
    ENGRAM_TRY_ASSIGN(l.attn_norm, load.LayerNorm(p + "attention.output.LayerNorm", h));
    ENGRAM_TRY_ASSIGN(l.up, load.Linear(p + "intermediate.dense", w->intermediate, h));
    ENGRAM_TRY_ASSIGN(l.down, load.Linear(p + "output.dense", h, w->intermediate));
    ENGRAM_TRY_ASSIGN(l.ffn_norm, load.LayerNorm(p + "output.LayerNorm", h));
    w->layer.push_back(std::move(l));
  }
  e->weights_ = std::move(w);
  e->team_ = std::make_unique<ComputeTeam>(static_cast<size_t>(std::max(0, options.n_threads)));
  return e;
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
  std::vector<float> x(n * h), q(n * h), k(n * h), v(n * h), attn(n * h), tmp(n * h);
  std::vector<float> up(n * static_cast<int64_t>(w.intermediate));
  Result<TensorType> word_type = TypeOf(*w.word);
  Result<TensorType> pos_type = TypeOf(*w.position);
  std::vector<float> row(h);
  for (size_t s = 0; s + 1 < starts.size(); ++s) {
    for (int64_t t = starts[s]; t < starts[s + 1]; ++t) {
      float* xt = x.data() + t * h;
      kernels::DequantizeRow(*word_type, w.word->data + static_cast<size_t>(ids[t]) * (w.word->bytes / w.word->shape[0]),
                             xt, h);
      kernels::DequantizeRow(*pos_type,
                             w.position->data + static_cast<size_t>(t - starts[s]) * (w.position->bytes / w.position->shape[0]),
                             row.data(), h);
      for (int64_t i = 0; i < h; ++i) xt[i] += row[i] + w.token_type0[i];
      LayerNormRow(xt, w.embed_norm, h, w.eps);
    }
  }
  std::vector<uint8_t> acts;
  auto linear = [&](const Matrix& m, const float* input, float* output) {
    acts.resize(kernels::ActivationRowBytes(m.type, m.cols) * static_cast<size_t>(n));
    kernels::PrepareActivations(m.type, input, n, m.cols, m.cols, acts.data());
    team_->ParallelFor(0, static_cast<size_t>(m.rows), 16, [&](size_t r0, size_t r1) {
      kernels::MatMulRows(m.type, m.data, m.row_bytes, m.cols, acts.data(), n,
                          static_cast<int64_t>(r0), static_cast<int64_t>(r1), output,
                          static_cast<size_t>(m.rows));
    });
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < m.rows; ++i) output[t * m.rows + i] += m.bias[i];
    }
  };
  const int heads = w.heads;
  const int dim = w.hidden / w.heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (const Weights::Layer& l : w.layer) {
    linear(l.q, x.data(), q.data());
    linear(l.k, x.data(), k.data());
    linear(l.v, x.data(), v.data());
    // Each text attends to its own tokens only (what the padding mask does in a padded batch).
    team_->ParallelFor(0, static_cast<size_t>(n * heads), 8, [&](size_t lo, size_t hi) {
      thread_local std::vector<float> scratch;
      for (size_t task = lo; task < hi; ++task) {
        const int64_t t = static_cast<int64_t>(task) / heads;
        const int head = static_cast<int>(task % heads);
        const size_t s = std::upper_bound(starts.begin(), starts.end(), t) - starts.begin() - 1;
        const int64_t begin = starts[s], end = starts[s + 1];
        scratch.resize(static_cast<size_t>(end - begin + dim + 2));
        const kernels::KvRows keys{k.data() + begin * h + head * dim, h * sizeof(float),
                                   TensorType::kF32};
        const kernels::KvRows values{v.data() + begin * h + head * dim, h * sizeof(float),
                                     TensorType::kF32};
        float stats[2];
        kernels::AttendPartial(q.data() + t * h + head * dim, 1, dim, scale, keys, values, 0,
                               end - begin, scratch.data(),
                               {stats, stats + 1, attn.data() + t * h + head * dim});
      }
    });
    linear(l.out, attn.data(), tmp.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < h; ++i) x[t * h + i] += tmp[t * h + i];
      LayerNormRow(x.data() + t * h, l.attn_norm, h, w.eps);
    }
    linear(l.up, x.data(), up.data());
    for (float& u : up) u = 0.5f * u * (1.0f + std::erf(u * 0.70710678118654752f));  // erf GELU
    linear(l.down, up.data(), tmp.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < h; ++i) x[t * h + i] += tmp[t * h + i];
      LayerNormRow(x.data() + t * h, l.ffn_norm, h, w.eps);
    }
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
