#include "inference/bert_embedder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/default_models.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/layer_norm.h"
#include "kernels/half.h"
#include "kernels/quant.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Matrix {  // a Linear layer: rows = outputs, cols = inputs (PyTorch's [out, in])
  kernels::PackedMatrix weight;
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
  Loader(const SafetensorsFile& file, kernels::GemmPrecision precision)
      : file_(file), precision_(precision) {}

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

  // Linear layers `prefixes` (each [out, in]) stacked into one matrix of outputs, so q, k and v
  // run as one product.
  Result<Matrix> Linear(std::initializer_list<std::string> prefixes, int64_t out, int64_t in) {
    std::vector<float> weights;
    Matrix m;
    for (const std::string& prefix : prefixes) {
      Result<const SafetensorsTensor*> t = Get(prefix + ".weight", {out, in});
      if (!t.ok()) return t.status();
      const size_t at = weights.size();
      weights.resize(at + static_cast<size_t>(out * in));
      for (int64_t r = 0; r < out; ++r) {
        kernels::DequantizeRow(*TypeOf(**t), (*t)->data + r * ((*t)->bytes / out),
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
  const SafetensorsFile& file_;
  kernels::GemmPrecision precision_;
};

#define ENGRAM_TRY_ASSIGN(lhs, expr)                      \
  do {                                                    \
    auto try_result_ = (expr);                            \
    if (!try_result_.ok()) return try_result_.status();   \
    lhs = std::move(*try_result_);                        \
  } while (0)

}  // namespace

struct BertEmbedder::Weights {
  int hidden = 0, layers = 0, heads = 0, intermediate = 0, max_positions = 0;
  float eps = 1e-12f;
  const SafetensorsTensor* word = nullptr;
  const SafetensorsTensor* position = nullptr;
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
    default: return "auto";
  }
}

Result<EmbedPrecision> ParseEmbedPrecision(std::string_view name) {
  if (name == "auto") return EmbedPrecision::kAuto;
  if (name == "f32") return EmbedPrecision::kF32;
  if (name == "bf16") return EmbedPrecision::kBf16;
  return Status::InvalidArgument("embedder: precision '" + std::string(name) +
                                 "' is not auto, f32 or bf16");
}

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

  e->precision_ = options.precision;
  if (e->precision_ == EmbedPrecision::kAuto) {
    e->precision_ = kernels::FastBf16Gemm() ? EmbedPrecision::kBf16 : EmbedPrecision::kF32;
  }
  Loader load(*e->file_, e->precision_ == EmbedPrecision::kBf16 ? kernels::GemmPrecision::kBf16
                                                                : kernels::GemmPrecision::kF32);
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
  if (!dir.empty()) return Open(dir, options);
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
  const TensorType word_type = *TypeOf(*w.word), pos_type = *TypeOf(*w.position);
  const size_t word_row = w.word->bytes / w.word->shape[0];
  const size_t pos_row = w.position->bytes / w.position->shape[0];
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
      kernels::DequantizeRow(word_type, w.word->data + static_cast<size_t>(ids[t]) * word_row, xt, h);
      kernels::DequantizeRow(pos_type, w.position->data + static_cast<size_t>(position) * pos_row,
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
