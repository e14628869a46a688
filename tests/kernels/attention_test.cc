// Attention pieces against a double-precision softmax attention; merging pieces over disjoint
// key ranges equals attending all keys at once.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/half.h"

namespace engram::kernels {
namespace {

struct Cache {
  std::vector<uint8_t> keys, values;
  std::vector<float> k_f, v_f;  // the values as stored (after f16 rounding)
  KvRows Keys(TensorType t, int dim) const { return {keys.data(), dim * (t == TensorType::kF16 ? 2u : 4u), t}; }
  KvRows Values(TensorType t, int dim) const { return {values.data(), dim * (t == TensorType::kF16 ? 2u : 4u), t}; }
};

Cache MakeCache(TensorType type, int64_t n, int dim, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Cache c;
  const size_t es = type == TensorType::kF16 ? 2 : 4;
  c.keys.resize(n * dim * es);
  c.values.resize(n * dim * es);
  for (int which = 0; which < 2; ++which) {
    std::vector<uint8_t>& bytes = which ? c.values : c.keys;
    std::vector<float>& f = which ? c.v_f : c.k_f;
    f.resize(n * dim);
    for (int64_t i = 0; i < n * dim; ++i) {
      float v = normal(rng) * 2.0f;
      if (type == TensorType::kF16) {
        const uint16_t h = Fp32ToFp16(v);
        std::memcpy(&bytes[i * 2], &h, 2);
        v = Fp16ToFp32(h);
      } else {
        std::memcpy(&bytes[i * 4], &v, 4);
      }
      f[i] = v;
    }
  }
  return c;
}

// Softmax attention in double, with llama.cpp's roundings for an f16 cache: the query rounded to
// f16 for f16 keys, the normalised weights rounded to f16 for f16 values.
std::vector<double> Reference(std::vector<float> q, int group, int dim, float scale,
                              const Cache& c, int64_t begin, int64_t end, TensorType type) {
  auto round16 = [&](double v) {
    return type == TensorType::kF16 ? Fp16ToFp32(Fp32ToFp16(static_cast<float>(v))) : v;
  };
  for (float& v : q) v = static_cast<float>(round16(v));
  std::vector<double> out(group * dim, 0.0);
  for (int g = 0; g < group; ++g) {
    std::vector<double> s;
    double max = -1e300;
    for (int64_t j = begin; j < end; ++j) {
      double dot = 0.0;
      for (int d = 0; d < dim; ++d) dot += static_cast<double>(q[g * dim + d]) * c.k_f[j * dim + d];
      s.push_back(dot * scale);
      max = std::max(max, s.back());
    }
    double sum = 0.0;
    for (double& e : s) sum += (e = std::exp(e - max));
    for (int64_t j = begin; j < end; ++j) {
      const double p = round16(s[j - begin] / sum);
      for (int d = 0; d < dim; ++d) out[g * dim + d] += p * c.v_f[j * dim + d];
    }
  }
  return out;
}

TEST(AttentionTest, PiecesMatchTheReferenceAndMergeExactly) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 40, 128}) {
      for (int group : {1, 3, 4, 7}) {
        const int64_t n = 301;
        const Cache c = MakeCache(type, n, dim, rng);
        std::vector<float> q(group * dim);
        for (float& v : q) v = normal(rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
        const std::vector<double> expected = Reference(q, group, dim, scale, c, 0, n, type);
        // Pieces are merged in f32 after rounding inside each: compare them with the f32 cache
        // reference at a tolerance that covers the f16 steps.
        const double merge_tolerance = type == TensorType::kF16 ? 2e-3 : 2e-5;
        for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
          if (!KernelIsaAvailable(isa)) continue;
          std::vector<float> scratch(group * (n + dim)), m(group), l(group), out(group * dim);
          AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim),
                            c.Values(type, dim), 0, n, scratch.data(), {m.data(), l.data(), out.data()});
          for (int i = 0; i < group * dim; ++i) {
            ASSERT_NEAR(out[i], expected[i], 2e-5) << KernelIsaName(isa) << " dim " << dim;
          }
          // Three pieces (one empty), merged.
          std::vector<float> m2(group), l2(group), o2(group * dim), merged(group * dim);
          AttentionPiece a{m.data(), l.data(), merged.data()}, b{m2.data(), l2.data(), o2.data()};
          AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim), c.Values(type, dim),
                            0, 100, scratch.data(), a);
          AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim), c.Values(type, dim),
                            100, 100, scratch.data(), b);
          MergeAttention(a, b, group, dim);
          AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim), c.Values(type, dim),
                            100, n, scratch.data(), b);
          MergeAttention(a, b, group, dim);
          for (int i = 0; i < group * dim; ++i) ASSERT_NEAR(merged[i], expected[i], merge_tolerance);
        }
      }
    }
  }
}

// The block kernel of prefill gives what attending token by token gives, for every block shape,
// causal offset and cache type (and falls back for shapes it does not take).
TEST(AttentionTest, CausalBlocksMatchTokenByToken) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 32, 40}) {
      for (int group : {1, 3, 4, 5}) {
        const int max_tokens = AttendCausalBlockTokens(group);
        for (int tokens = 1; tokens <= max_tokens; ++tokens) {
          for (int64_t pos0 : {0, 1, 37, 130}) {
            const int64_t n = pos0 + tokens;
            const Cache c = MakeCache(type, n, dim, rng);
            const size_t stride = static_cast<size_t>(group * dim + 8);  // padded rows
            std::vector<float> q(tokens * stride);
            for (float& v : q) v = normal(rng);
            const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
            std::vector<float> scratch(AttendCausalScratchFloats(tokens, group, dim, n));
            std::vector<float> out(tokens * stride, NAN);
            AttendCausal(q.data(), stride, tokens, group, dim, scale, c.Keys(type, dim),
                         c.Values(type, dim), pos0, scratch.data(), out.data(), stride);
            for (int t = 0; t < tokens; ++t) {
              std::vector<float> one(group * (pos0 + t + 1 + dim)), m(group), l(group),
                  expected(group * dim);
              AttendPartialWith(KernelIsa::kScalar, q.data() + t * stride, group, dim, scale,
                                c.Keys(type, dim), c.Values(type, dim), 0, pos0 + t + 1,
                                one.data(), {m.data(), l.data(), expected.data()});
              for (int i = 0; i < group * dim; ++i) {
                // f16 weights can round the other way after a different summation order.
                ASSERT_NEAR(out[t * stride + i], expected[i], type == TensorType::kF16 ? 2e-3 : 2e-5)
                    << "dim " << dim << " group " << group << " tokens " << tokens << " pos0 "
                    << pos0 << " token " << t;
              }
            }
          }
        }
      }
    }
  }
}

TEST(AttentionTest, SwiGluMatchesTheFormula) {
  std::vector<float> g, u, out(1001);
  for (int i = 0; i < 1001; ++i) {
    g.push_back((i - 500) * 0.05f);
    u.push_back(1.0f + i * 0.001f);
  }
  SwiGlu(g.data(), u.data(), out.data(), 1001);
  for (int i = 0; i < 1001; ++i) {
    const double expected = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    ASSERT_NEAR(out[i], expected, 1e-5 * (1.0 + std::fabs(expected))) << g[i];
  }
}

}  // namespace
}  // namespace engram::kernels
