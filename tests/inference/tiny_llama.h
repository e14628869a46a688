// A tiny llama/qwen2 model with random f32 weights, written as GGUF bytes, plus a plain
// double-precision forward pass over the same weights: the reference the engine's logits are
// compared with in unit tests (no model file, no peer needed).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/inference/gguf_builder.h"

namespace engram::inference::testing {

struct TinyLlamaSpec {
  std::string arch = "llama";  // "llama" (normal rope) or "qwen2" (neox rope, q/k/v biases)
  int n_layer = 2, n_embd = 64, n_head = 4, n_kv_head = 2, n_ff = 96, n_vocab = 40;
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_output = true;
  uint32_t seed = 7;
};

struct TinyLlama {
  TinyLlamaSpec spec;
  int head_dim() const { return spec.n_embd / spec.n_head; }
  // Row-major [rows][cols] matrices, as GGUF stores a [cols, rows] tensor.
  struct Layer {
    std::vector<float> attn_norm, wq, wk, wv, wo, bq, bk, bv, ffn_norm, gate, up, down;
  };
  std::vector<float> embd, output, output_norm;
  std::vector<Layer> layers;
  std::vector<uint8_t> gguf;

  static TinyLlama Make(const TinyLlamaSpec& spec) {
    TinyLlama m;
    m.spec = spec;
    std::mt19937 rng(spec.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto random = [&](size_t n, float scale) {
      std::vector<float> v(n);
      for (float& x : v) x = normal(rng) * scale;
      return v;
    };
    auto norm_weights = [&](size_t n) {
      std::vector<float> v(n);
      for (float& x : v) x = 1.0f + 0.1f * normal(rng);
      return v;
    };
    const int E = spec.n_embd, D = m.head_dim(), Q = spec.n_head * D, KV = spec.n_kv_head * D;
    const float s_in = 1.0f / std::sqrt(static_cast<float>(E));
    m.embd = random(static_cast<size_t>(spec.n_vocab) * E, 1.0f);
    m.output = spec.tied_output ? m.embd : random(static_cast<size_t>(spec.n_vocab) * E, s_in);
    m.output_norm = norm_weights(E);
    for (int l = 0; l < spec.n_layer; ++l) {
      Layer L;
      L.attn_norm = norm_weights(E);
      L.wq = random(static_cast<size_t>(Q) * E, s_in);
      L.wk = random(static_cast<size_t>(KV) * E, s_in);
      L.wv = random(static_cast<size_t>(KV) * E, s_in);
      L.wo = random(static_cast<size_t>(E) * Q, 1.0f / std::sqrt(static_cast<float>(Q)));
      if (spec.arch == "qwen2") {
        L.bq = random(Q, 0.5f);
        L.bk = random(KV, 0.5f);
        L.bv = random(KV, 0.5f);
      }
      L.ffn_norm = norm_weights(E);
      L.gate = random(static_cast<size_t>(spec.n_ff) * E, s_in);
      L.up = random(static_cast<size_t>(spec.n_ff) * E, s_in);
      L.down = random(static_cast<size_t>(E) * spec.n_ff,
                      1.0f / std::sqrt(static_cast<float>(spec.n_ff)));
      m.layers.push_back(std::move(L));
    }
    m.gguf = m.Write();
    return m;
  }

  // GGUF v3 bytes holding the weights as f32 tensors.
  std::vector<uint8_t> Write() const {
    struct T {
      std::string name;
      std::vector<uint64_t> dims;
      const std::vector<float>* data;
    };
    const uint64_t E = spec.n_embd, D = head_dim(), Q = spec.n_head * D, KV = spec.n_kv_head * D;
    std::vector<T> tensors = {{"token_embd.weight", {E, (uint64_t)spec.n_vocab}, &embd},
                              {"output_norm.weight", {E}, &output_norm}};
    if (!spec.tied_output) tensors.push_back({"output.weight", {E, (uint64_t)spec.n_vocab}, &output});
    for (int l = 0; l < spec.n_layer; ++l) {
      const Layer& L = layers[l];
      const std::string p = "blk." + std::to_string(l) + ".";
      tensors.push_back({p + "attn_norm.weight", {E}, &L.attn_norm});
      tensors.push_back({p + "attn_q.weight", {E, Q}, &L.wq});
      tensors.push_back({p + "attn_k.weight", {E, KV}, &L.wk});
      tensors.push_back({p + "attn_v.weight", {E, KV}, &L.wv});
      tensors.push_back({p + "attn_output.weight", {Q, E}, &L.wo});
      if (!L.bq.empty()) {
        tensors.push_back({p + "attn_q.bias", {Q}, &L.bq});
        tensors.push_back({p + "attn_k.bias", {KV}, &L.bk});
        tensors.push_back({p + "attn_v.bias", {KV}, &L.bv});
      }
      tensors.push_back({p + "ffn_norm.weight", {E}, &L.ffn_norm});
      tensors.push_back({p + "ffn_gate.weight", {E, (uint64_t)spec.n_ff}, &L.gate});
      tensors.push_back({p + "ffn_up.weight", {E, (uint64_t)spec.n_ff}, &L.up});
      tensors.push_back({p + "ffn_down.weight", {(uint64_t)spec.n_ff, E}, &L.down});
    }
    GgufBuilder b;
    const std::string& a = spec.arch;
    b.Header(tensors.size(), 9)
        .KvStr("general.architecture", a)
        .KvU32(a + ".block_count", spec.n_layer)
        .KvU32(a + ".embedding_length", spec.n_embd)
        .KvU32(a + ".feed_forward_length", spec.n_ff)
        .KvU32(a + ".attention.head_count", spec.n_head)
        .KvU32(a + ".attention.head_count_kv", spec.n_kv_head)
        .KvF32(a + ".attention.layer_norm_rms_epsilon", spec.rms_eps)
        .KvF32(a + ".rope.freq_base", spec.rope_base)
        .KvU32(a + ".context_length", 256);
    uint64_t offset = 0;
    for (const T& t : tensors) {
      b.Tensor(t.name, t.dims, 0, offset);
      offset += (t.data->size() * 4 + 31) / 32 * 32;
    }
    b.PadTo(32);
    for (const T& t : tensors) {
      b.Raw(t.data->data(), t.data->size() * 4);
      b.PadTo(32);
    }
    return b.bytes;
  }

  // Logits of every position of `tokens`, computed from scratch in double precision.
  std::vector<std::vector<double>> ReferenceLogits(const std::vector<int32_t>& tokens) const {
    const int E = spec.n_embd, D = head_dim(), H = spec.n_head, KVH = spec.n_kv_head;
    const int Q = H * D, KV = KVH * D, F = spec.n_ff;
    const size_t n = tokens.size();
    auto matvec = [](const std::vector<float>& w, const std::vector<double>& x, int rows) {
      const size_t cols = x.size();
      std::vector<double> y(rows, 0.0);
      for (int r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) y[r] += static_cast<double>(w[r * cols + c]) * x[c];
      }
      return y;
    };
    auto rmsnorm = [&](const std::vector<double>& x, const std::vector<float>& w) {
      double ss = 0.0;
      for (double v : x) ss += v * v;
      const double scale = 1.0 / std::sqrt(ss / x.size() + spec.rms_eps);
      std::vector<double> y(x.size());
      for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
      return y;
    };
    auto rope = [&](std::vector<double>& v, int heads, size_t pos) {
      const int half = D / 2;
      for (int h = 0; h < heads; ++h) {
        for (int i = 0; i < half; ++i) {
          const double theta = pos * std::pow(static_cast<double>(spec.rope_base), -2.0 * i / D);
          const bool neox = spec.arch == "qwen2";
          const int a = h * D + (neox ? i : 2 * i), b = h * D + (neox ? i + half : 2 * i + 1);
          const double x0 = v[a], x1 = v[b];
          v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
          v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
        }
      }
    };
    std::vector<std::vector<double>> x(n, std::vector<double>(E));
    for (size_t t = 0; t < n; ++t) {
      for (int i = 0; i < E; ++i) x[t][i] = embd[static_cast<size_t>(tokens[t]) * E + i];
    }
    for (const Layer& L : layers) {
      std::vector<std::vector<double>> q(n), k(n), v(n);
      for (size_t t = 0; t < n; ++t) {
        const std::vector<double> h = rmsnorm(x[t], L.attn_norm);
        q[t] = matvec(L.wq, h, Q);
        k[t] = matvec(L.wk, h, KV);
        v[t] = matvec(L.wv, h, KV);
        for (int i = 0; i < Q && !L.bq.empty(); ++i) q[t][i] += L.bq[i];
        for (int i = 0; i < KV && !L.bk.empty(); ++i) k[t][i] += L.bk[i], v[t][i] += L.bv[i];
        rope(q[t], H, t);
        rope(k[t], KVH, t);
      }
      for (size_t t = 0; t < n; ++t) {
        std::vector<double> attn(Q, 0.0);
        for (int h = 0; h < H; ++h) {
          const int kvh = h / (H / KVH);
          std::vector<double> s(t + 1);
          double max = -1e300;
          for (size_t j = 0; j <= t; ++j) {
            double dot = 0.0;
            for (int d = 0; d < D; ++d) dot += q[t][h * D + d] * k[j][kvh * D + d];
            s[j] = dot / std::sqrt(static_cast<double>(D));
            max = std::max(max, s[j]);
          }
          double sum = 0.0;
          for (double& e : s) sum += (e = std::exp(e - max));
          for (size_t j = 0; j <= t; ++j) {
            for (int d = 0; d < D; ++d) attn[h * D + d] += s[j] / sum * v[j][kvh * D + d];
          }
        }
        const std::vector<double> o = matvec(L.wo, attn, E);
        for (int i = 0; i < E; ++i) x[t][i] += o[i];
        const std::vector<double> h = rmsnorm(x[t], L.ffn_norm);
        const std::vector<double> g = matvec(L.gate, h, F), u = matvec(L.up, h, F);
        std::vector<double> a(F);
        for (int i = 0; i < F; ++i) a[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        const std::vector<double> down = matvec(L.down, a, E);
        for (int i = 0; i < E; ++i) x[t][i] += down[i];
      }
    }
    std::vector<std::vector<double>> logits(n);
    for (size_t t = 0; t < n; ++t) logits[t] = matvec(output, rmsnorm(x[t], output_norm), spec.n_vocab);
    return logits;
  }
};

}  // namespace engram::inference::testing
