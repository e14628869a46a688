// The llama forward pass on CPU. Per batch of tokens: embed; per layer: RMSNorm, q/k/v
// projections (one parallel loop for the three), RoPE, store k/v, causal attention over the
// cache, output projection + residual, RMSNorm, gate/up (one loop), SwiGLU, down + residual;
// final norm and the vocabulary projection. Matrix products go through kernels/matmul.h on the
// weights as stored; each input is prepared (quantized to 8 bits where the weights want it)
// once and shared by every matrix that reads it.
#include "inference/llama_context.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

namespace engram::inference {
namespace {

// Keys per attention piece when one decode step splits its cache between threads (a few KV
// heads alone would leave threads idle).
constexpr int64_t kDecodeKeysPerPiece = 128;

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;  // as GGML: the squares summed in double
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

}  // namespace

// Buffers for one batch of up to n_ubatch tokens, allocated once.
struct LlamaContext::Scratch {
  std::vector<float> x, norm, q, k, v, attn, gate, up, rope_cos, rope_sin;
  // Prepared activations per representation (q8_0, q8_1, f32), valid for `prepared_input`.
  std::vector<uint8_t> acts[3];
  const float* prepared_for[3] = {nullptr, nullptr, nullptr};
  std::vector<float> decode_pieces;  // [kv_head][piece][max | sum | out] for split decode
};

LlamaContext::LlamaContext(std::shared_ptr<const LlamaModel> model, const ContextOptions& options)
    : model_(std::move(model)),
      options_(options),
      team_(static_cast<size_t>(std::max(0, options.n_threads))),
      scratch_(std::make_unique<Scratch>()) {}

LlamaContext::~LlamaContext() = default;

Result<std::unique_ptr<LlamaContext>> LlamaContext::Create(std::shared_ptr<const LlamaModel> model,
                                                           const ContextOptions& options_in) {
  ContextOptions options = options_in;
  const LlamaConfig& c = model->config();
  if (options.n_ctx == 0) options.n_ctx = c.n_ctx_train;
  if (options.n_ctx < 0) {
    return Status::InvalidArgument("context: n_ctx " + std::to_string(options.n_ctx) +
                                   " must be positive");
  }
  if (options.n_ubatch <= 0) options.n_ubatch = 512;
  if (options.n_threads < 0) {
    return Status::InvalidArgument("context: threads " + std::to_string(options.n_threads) +
                                   " must be >= 0 (0 = one per hardware thread)");
  }
  Result<std::unique_ptr<KvCache>> cache = KvCache::Create(
      {c.n_layer, c.n_kv_head, c.head_dim}, {options.n_ctx, options.kv_type});
  if (!cache.ok()) return cache.status();
  std::unique_ptr<LlamaContext> ctx(new LlamaContext(std::move(model), options));
  ctx->cache_ = std::move(*cache);
  Scratch& s = *ctx->scratch_;
  const size_t ub = static_cast<size_t>(options.n_ubatch);
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  s.x.resize(ub * c.n_embd);
  s.norm.resize(ub * std::max<size_t>(c.n_embd, q_dim));
  s.q.resize(ub * q_dim);
  s.k.resize(ub * kv_dim);
  s.v.resize(ub * kv_dim);
  s.attn.resize(ub * q_dim);
  s.gate.resize(ub * c.n_ff);
  s.up.resize(ub * c.n_ff);
  s.rope_cos.resize(ub * c.rope_dim / 2);
  s.rope_sin.resize(ub * c.rope_dim / 2);
  return ctx;
}

Status LlamaContext::Eval(std::span<const int32_t> tokens, LogitsMode mode) {
  const LlamaConfig& c = model_->config();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return Status::InvalidArgument("eval: token " + std::to_string(tokens[i]) + " at index " +
                                     std::to_string(i) + " is outside the vocabulary [0, " +
                                     std::to_string(c.n_vocab) + ")");
    }
  }
  const int64_t start = position();
  if (start + static_cast<int64_t>(tokens.size()) > n_ctx()) {
    return Status::OutOfRange("eval: " + std::to_string(tokens.size()) + " tokens at position " +
                              std::to_string(start) + " do not fit in the context of " +
                              std::to_string(n_ctx()) + " tokens");
  }
  if (tokens.empty()) {
    logits_.clear();
    return Status::OK();
  }
  logits_.resize(static_cast<size_t>(mode == LogitsMode::kAll ? tokens.size() : 1) * c.n_vocab);
  const size_t ub = static_cast<size_t>(options_.n_ubatch);
  for (size_t done = 0; done < tokens.size(); done += ub) {
    const size_t n = std::min(ub, tokens.size() - done);
    const bool last = done + n == tokens.size();
    float* out = nullptr;
    if (mode == LogitsMode::kAll) out = logits_.data() + done * c.n_vocab;
    if (mode == LogitsMode::kLast && last) out = logits_.data();
    EvalBatch(tokens.subspan(done, n), start + static_cast<int64_t>(done), out,
              mode == LogitsMode::kAll);
    cache_->Commit(start + static_cast<int64_t>(done + n));
  }
  return Status::OK();
}

const uint8_t* LlamaContext::Prepare(TensorType weight_type, const float* input, int64_t n,
                                     int64_t k) {
  const TensorType act = kernels::ActivationTypeFor(weight_type);
  const int slot = act == TensorType::kQ8_0 ? 0 : act == TensorType::kQ8_1 ? 1 : 2;
  Scratch& s = *scratch_;
  if (s.prepared_for[slot] == input) return s.acts[slot].data();
  const size_t row_bytes = kernels::ActivationRowBytes(weight_type, k);
  s.acts[slot].resize(row_bytes * static_cast<size_t>(n));
  uint8_t* dst = s.acts[slot].data();
  team_.ParallelFor(0, static_cast<size_t>(n), 8, [&](size_t t0, size_t t1) {
    kernels::PrepareActivations(weight_type, input + t0 * k, static_cast<int64_t>(t1 - t0), k, k,
                                dst + t0 * row_bytes);
  });
  s.prepared_for[slot] = input;
  return dst;
}

void LlamaContext::Linear(std::initializer_list<Product> products, const float* input,
                          int64_t n) {
  Scratch& s = *scratch_;
  for (const float*& p : s.prepared_for) p = nullptr;  // a new input
  const int64_t k = products.begin()->w->cols;
  const uint8_t* acts[3];
  int64_t total_rows = 0;
  size_t i = 0;
  for (const Product& p : products) {
    acts[i++] = Prepare(p.w->type, input, n, k);
    total_rows += p.w->rows;
  }
  // One loop over the rows of all the matrices, so threads never wait between them.
  team_.ParallelFor(0, static_cast<size_t>(total_rows), 16, [&](size_t lo, size_t hi) {
    int64_t offset = 0;
    size_t j = 0;
    for (const Product& p : products) {
      const int64_t r0 = std::max<int64_t>(static_cast<int64_t>(lo), offset) - offset;
      const int64_t r1 = std::min<int64_t>(static_cast<int64_t>(hi), offset + p.w->rows) - offset;
      if (r0 < r1) {
        kernels::MatMulRows(p.w->type, p.w->data, p.w->row_bytes, k, acts[j], n, r0, r1, p.out,
                            static_cast<size_t>(p.w->rows));
      }
      offset += p.w->rows;
      ++j;
    }
  });
}

void LlamaContext::Attention(int layer, int64_t pos0, int64_t n) {
  const LlamaConfig& c = model_->config();
  const int group = c.n_head / c.n_kv_head;
  const int dim = c.head_dim;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  Scratch& s = *scratch_;
  const int64_t n_keys_last = pos0 + n;
  const size_t piece_floats = static_cast<size_t>(group) * (2 + dim);

  if (n == 1 && n_keys_last > kDecodeKeysPerPiece) {
    // One query, a long cache: split the keys so every thread has work, then merge.
    const int64_t pieces = (n_keys_last + kDecodeKeysPerPiece - 1) / kDecodeKeysPerPiece;
    s.decode_pieces.resize(static_cast<size_t>(c.n_kv_head * pieces) * piece_floats);
    team_.ParallelFor(0, static_cast<size_t>(c.n_kv_head * pieces), 1, [&](size_t lo, size_t hi) {
      thread_local std::vector<float> scores;
      scores.resize(static_cast<size_t>(group) * (kDecodeKeysPerPiece + dim));
      for (size_t task = lo; task < hi; ++task) {
        const int h = static_cast<int>(task / pieces);
        const int64_t p = static_cast<int64_t>(task % pieces);
        float* buf = s.decode_pieces.data() + task * piece_floats;
        const int64_t begin = p * kDecodeKeysPerPiece;
        const int64_t end = std::min(n_keys_last, begin + kDecodeKeysPerPiece);
        kernels::AttendPartial(s.q.data() + h * group * dim, group, dim, scale,
                               cache_->Keys(layer, h), cache_->Values(layer, h), begin, end,
                               scores.data(), {buf, buf + group, buf + 2 * group});
      }
    });
    for (int h = 0; h < c.n_kv_head; ++h) {
      float* first = s.decode_pieces.data() + static_cast<size_t>(h * pieces) * piece_floats;
      kernels::AttentionPiece into{first, first + group, first + 2 * group};
      for (int64_t p = 1; p < pieces; ++p) {
        float* buf = first + p * piece_floats;
        kernels::MergeAttention(into, {buf, buf + group, buf + 2 * group}, group, dim);
      }
      std::memcpy(s.attn.data() + h * group * dim, into.out, sizeof(float) * group * dim);
    }
    return;
  }

  // Causal: token t sees positions [0, pos0 + t]. One task per (block of tokens, KV head): the
  // block's queries share every key and value load.
  const int block = kernels::AttendCausalBlockTokens(group);
  const int64_t blocks = (n + block - 1) / block;
  team_.ParallelFor(0, static_cast<size_t>(blocks * c.n_kv_head), 1, [&](size_t lo, size_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(kernels::AttendCausalScratchFloats(block, group, dim, n_keys_last));
    for (size_t task = lo; task < hi; ++task) {
      const int64_t t0 = static_cast<int64_t>(task) / c.n_kv_head * block;
      const int h = static_cast<int>(task % c.n_kv_head);
      const int tokens = static_cast<int>(std::min<int64_t>(block, n - t0));
      const size_t offset = t0 * q_dim + h * group * dim;
      kernels::AttendCausal(s.q.data() + offset, q_dim, tokens, group, dim, scale,
                            cache_->Keys(layer, h), cache_->Values(layer, h), pos0 + t0,
                            scratch.data(), s.attn.data() + offset, q_dim);
    }
  });
}

void LlamaContext::EvalBatch(std::span<const int32_t> tokens, int64_t pos0, float* logits,
                             bool all_logits) {
  const LlamaConfig& c = model_->config();
  Scratch& s = *scratch_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t E = c.n_embd;
  const int64_t q_dim = static_cast<int64_t>(c.n_head) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_head) * c.head_dim;
  const int half = c.rope_dim / 2;

  const WeightMatrix& embd = model_->token_embedding();
  for (int64_t t = 0; t < n; ++t) {
    kernels::DequantizeRow(embd.type, embd.data + static_cast<size_t>(tokens[t]) * embd.row_bytes,
                           s.x.data() + t * E, E);
  }
  // RoPE angles as GGML computes them: theta_i = pos * base^(-2i/dim), the power built by
  // repeated float multiplication, divided by the llama3 frequency factor, times freq_scale.
  const float theta_scale = std::pow(c.rope_freq_base, -2.0f / static_cast<float>(c.rope_dim));
  const std::vector<float>& factors = model_->rope_freq_factors();
  for (int64_t t = 0; t < n; ++t) {
    float theta = static_cast<float>(pos0 + t);
    for (int i = 0; i < half; ++i) {
      float angle = factors.empty() ? theta : theta / factors[i];
      angle *= c.rope_freq_scale;
      s.rope_cos[t * half + i] = std::cos(angle);
      s.rope_sin[t * half + i] = std::sin(angle);
      theta *= theta_scale;
    }
  }
  auto rope = [&](float* v, int64_t stride, int heads) {
    team_.ParallelFor(0, static_cast<size_t>(n), 16, [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) {
        const float* cs = s.rope_cos.data() + t * half;
        const float* sn = s.rope_sin.data() + t * half;
        for (int h = 0; h < heads; ++h) {
          float* x = v + t * stride + static_cast<int64_t>(h) * c.head_dim;
          for (int i = 0; i < half; ++i) {
            const int a = c.rope_style == RopeStyle::kNeox ? i : 2 * i;
            const int b = c.rope_style == RopeStyle::kNeox ? i + half : 2 * i + 1;
            const float x0 = x[a], x1 = x[b];
            x[a] = x0 * cs[i] - x1 * sn[i];
            x[b] = x0 * sn[i] + x1 * cs[i];
          }
        }
      }
    });
  };
  auto norm_rows = [&](const std::vector<float>& weight, int64_t first, int64_t count) {
    team_.ParallelFor(0, static_cast<size_t>(count), 16, [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) {
        RmsNorm(s.x.data() + (first + t) * E, weight.data(), E, c.rms_eps, s.norm.data() + t * E);
      }
    });
  };
  auto add_bias = [&](std::vector<float>& out, const std::vector<float>& bias, int64_t dim) {
    if (bias.empty()) return;
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < dim; ++i) out[t * dim + i] += bias[i];
    }
  };
  auto add_residual = [&]() {
    for (int64_t i = 0; i < n * E; ++i) s.x[i] += s.norm[i];
  };

  for (int l = 0; l < c.n_layer; ++l) {
    const LlamaLayerWeights& w = model_->layers()[l];
    norm_rows(w.attn_norm, 0, n);
    Linear({{&w.wq, s.q.data()}, {&w.wk, s.k.data()}, {&w.wv, s.v.data()}}, s.norm.data(), n);
    add_bias(s.q, w.bq, q_dim);
    add_bias(s.k, w.bk, kv_dim);
    add_bias(s.v, w.bv, kv_dim);
    rope(s.q.data(), q_dim, c.n_head);
    rope(s.k.data(), kv_dim, c.n_kv_head);
    for (int64_t t = 0; t < n; ++t) {
      cache_->Store(l, pos0 + t, s.k.data() + t * kv_dim, s.v.data() + t * kv_dim);
    }
    Attention(l, pos0, n);
    Linear({{&w.wo, s.norm.data()}}, s.attn.data(), n);
    add_residual();
    norm_rows(w.ffn_norm, 0, n);
    Linear({{&w.w_gate, s.gate.data()}, {&w.w_up, s.up.data()}}, s.norm.data(), n);
    team_.ParallelFor(0, static_cast<size_t>(n), 4, [&](size_t t0, size_t t1) {
      kernels::SwiGlu(s.gate.data() + t0 * c.n_ff, s.up.data() + t0 * c.n_ff,
                      s.gate.data() + t0 * c.n_ff, static_cast<int64_t>(t1 - t0) * c.n_ff);
    });
    Linear({{&w.w_down, s.norm.data()}}, s.gate.data(), n);
    add_residual();
  }
  if (logits == nullptr) return;
  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t count = n - first;
  norm_rows(model_->output_norm(), first, count);
  Linear({{&model_->output(), logits}}, s.norm.data(), count);
}

}  // namespace engram::inference
