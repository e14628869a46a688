// Attention pieces against a double-precision softmax attention; merging pieces over disjoint
// key ranges equals attending all keys at once.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

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

// Softmax attention in double over the cache rows `rows`, with llama.cpp's roundings for an f16
// cache: the query rounded to f16 for f16 keys, the normalised weights rounded to f16 for f16
// values.
std::vector<double> ReferenceRows(std::vector<float> q, int group, int dim, float scale,
                                  const Cache& c, const std::vector<int32_t>& rows,
                                  TensorType type) {
  auto round16 = [&](double v) {
    return type == TensorType::kF16 ? Fp16ToFp32(Fp32ToFp16(static_cast<float>(v))) : v;
  };
  for (float& v : q) v = static_cast<float>(round16(v));
  std::vector<double> out(group * dim, 0.0);
  for (int g = 0; g < group; ++g) {
    std::vector<double> s;
    double max = -1e300;
    for (int32_t j : rows) {
      double dot = 0.0;
      for (int d = 0; d < dim; ++d) dot += static_cast<double>(q[g * dim + d]) * c.k_f[j * dim + d];
      s.push_back(dot * scale);
      max = std::max(max, s.back());
    }
    double sum = 0.0;
    for (double& e : s) sum += (e = std::exp(e - max));
    for (size_t i = 0; i < rows.size(); ++i) {
      const double p = round16(s[i] / sum);
      for (int d = 0; d < dim; ++d) out[g * dim + d] += p * c.v_f[rows[i] * dim + d];
    }
  }
  return out;
}

std::vector<int32_t> Iota(int64_t begin, int64_t end) {
  std::vector<int32_t> rows(end - begin);
  std::iota(rows.begin(), rows.end(), static_cast<int32_t>(begin));
  return rows;
}

std::vector<double> Reference(std::vector<float> q, int group, int dim, float scale,
                              const Cache& c, int64_t begin, int64_t end, TensorType type) {
  return ReferenceRows(std::move(q), group, dim, scale, c, Iota(begin, end), type);
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

// Sliding windows (Gemma 3's local layers) and wide heads (256): the block kernel gives what
// attending each token's own window gives.
TEST(AttentionTest, CausalWindowBlocksMatchTokenByToken) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 256}) {
      for (int group : {1, 4}) {
        const int tokens = AttendCausalBlockTokens(group);
        for (int64_t window : {0, 1, 5, 40}) {
          for (int64_t pos0 : {0, 3, 37, 130}) {
            const int64_t n = pos0 + tokens;
            const Cache c = MakeCache(type, n, dim, rng);
            const size_t stride = static_cast<size_t>(group * dim + 8);
            std::vector<float> q(tokens * stride);
            for (float& v : q) v = normal(rng);
            const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
            std::vector<float> scratch(AttendCausalScratchFloats(tokens, group, dim, n));
            std::vector<float> out(tokens * stride, NAN);
            AttendCausalWindow(q.data(), stride, tokens, group, dim, scale, c.Keys(type, dim),
                               c.Values(type, dim), pos0, window, scratch.data(), out.data(),
                               stride);
            for (int t = 0; t < tokens; ++t) {
              const int64_t end = pos0 + t + 1;
              const int64_t begin = window > 0 ? std::max<int64_t>(0, end - window) : 0;
              std::vector<float> one(group * (end + dim)), m(group), l(group),
                  expected(group * dim);
              AttendPartialWith(KernelIsa::kScalar, q.data() + t * stride, group, dim, scale,
                                c.Keys(type, dim), c.Values(type, dim), begin, end, one.data(),
                                {m.data(), l.data(), expected.data()});
              for (int i = 0; i < group * dim; ++i) {
                ASSERT_NEAR(out[t * stride + i], expected[i], type == TensorType::kF16 ? 2e-3 : 2e-5)
                    << "dim " << dim << " group " << group << " window " << window << " pos0 "
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

// Gemma's GeGLU: the tanh GELU of the gate (through llama.cpp's f16 table: within f16 rounding
// of the formula) times up; exact past ±10.
TEST(AttentionTest, GeluTanhGluMatchesTheFormula) {
  std::vector<float> g, u, out(1201);
  for (int i = 0; i < 1201; ++i) {
    g.push_back((i - 600) * 0.02f);  // -12 .. 12
    u.push_back(0.5f + i * 0.001f);
  }
  GeluTanhGlu(g.data(), u.data(), out.data(), 1201);
  for (int i = 0; i < 1201; ++i) {
    const double x = g[i];
    const double gelu = 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    const double expected = gelu * u[i];
    if (std::fabs(x) >= 10.0) {
      EXPECT_NEAR(out[i], x <= -10.0 ? 0.0 : x * u[i], 1e-6) << "x " << x;
    } else {
      // Input and output rounded to f16 (11 significant bits): relative error below ~2^-10
      // of the input's scale.
      EXPECT_NEAR(out[i], expected, 2e-3 * (std::fabs(x) + 0.01) * u[i] + 1e-6) << "x " << x;
    }
  }
}

// The rows of a contiguous buffer (n rows of row_bytes) copied into a paged layout, as a paged KV
// cache holds them: blocks of 2^shift rows, padded rows, physical blocks in shuffled order with
// unused blocks and gaps between them. Everything that is not a row is 0xff bytes (NaN in f16 and
// f32), so a wrong address shows up in the results.
struct Paged {
  std::vector<uint8_t> bytes;
  std::vector<int32_t> table;
  size_t row_stride = 0, block_stride = 0;
  int shift = 0;
  TensorType type = TensorType::kF16;
  KvRows Rows() const {
    return {bytes.data(), row_stride, type, table.data(), block_stride, shift};
  }
};

Paged MakePaged(const std::vector<uint8_t>& rows, int64_t n, size_t row_bytes, TensorType type,
                int shift, std::mt19937& rng) {
  Paged p;
  p.type = type;
  p.shift = shift;
  p.row_stride = row_bytes + 16;
  const int64_t per_block = int64_t{1} << shift;
  p.block_stride = per_block * p.row_stride + 48;
  const int64_t blocks = (n + per_block - 1) / per_block;
  std::vector<int32_t> physical(blocks + 3);  // three blocks stay unused
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  p.table.assign(physical.begin(), physical.begin() + blocks);
  p.bytes.assign(physical.size() * p.block_stride, 0xff);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t* dst = p.bytes.data() + p.table[i >> shift] * p.block_stride +
                   (i & (per_block - 1)) * p.row_stride;
    std::memcpy(dst, rows.data() + i * row_bytes, row_bytes);
  }
  return p;
}

size_t ElementBytes(TensorType type) { return type == TensorType::kF16 ? 2 : 4; }

// Same bits, NaNs and infinities included.
void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(float)), 0)
        << what << " [" << i << "]: " << a[i] << " vs " << b[i];
  }
}

struct PieceBuffers {
  std::vector<float> max, sum, out;
  PieceBuffers(int group, int dim) : max(group, NAN), sum(group, NAN), out(group * dim, NAN) {}
  AttentionPiece Piece() { return {max.data(), sum.data(), out.data()}; }
  void ExpectSameBitsAs(const PieceBuffers& o, const std::string& what) const {
    ExpectSameBits(max, o.max, (what + " max").c_str());
    ExpectSameBits(sum, o.sum, (what + " sum").c_str());
    ExpectSameBits(out, o.out, (what + " out").c_str());
  }
};

// Kernels reach rows only through KvRows::Row, so a paged cache gives the contiguous cache's bits
// on every path (piece, causal block, and their fallbacks).
TEST(AttentionTest, PagedRowsGiveTheBitsOfContiguousRows) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int dim = 64;
  const int64_t n = 301;
  const float scale = 0.125f;
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    const Cache c = MakeCache(type, n, dim, rng);
    for (int shift : {2, 4}) {
      const Paged pk = MakePaged(c.keys, n, dim * ElementBytes(type), type, shift, rng);
      const Paged pv = MakePaged(c.values, n, dim * ElementBytes(type), type, shift, rng);
      for (int group : {1, 3}) {
        std::vector<float> q(group * dim);
        for (float& v : q) v = normal(rng);
        for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
          if (!KernelIsaAvailable(isa)) continue;
          const std::string what = std::string(KernelIsaName(isa)) + " shift " +
                                   std::to_string(shift) + " group " + std::to_string(group);
          std::vector<float> scratch(group * (n + dim));
          for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, n}, {37, 250}, {5, 6}}) {
            PieceBuffers flat(group, dim), paged(group, dim);
            AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim),
                              c.Values(type, dim), begin, end, scratch.data(), flat.Piece());
            AttendPartialWith(isa, q.data(), group, dim, scale, pk.Rows(), pv.Rows(), begin, end,
                              scratch.data(), paged.Piece());
            paged.ExpectSameBitsAs(flat, what + " partial " + std::to_string(begin));
          }
          // Causal blocks: the block kernel's shape, and one it leaves to the per-token path.
          for (int tokens : {AttendCausalBlockTokens(group), 13}) {
            for (int64_t pos0 : {int64_t{0}, int64_t{130}, n - tokens}) {
              const size_t stride = group * dim;
              std::vector<float> qt(tokens * stride);
              for (float& v : qt) v = normal(rng);
              std::vector<float> cs(AttendCausalScratchFloats(tokens, group, dim, pos0 + tokens));
              std::vector<float> flat(tokens * stride, NAN), paged(tokens * stride, NAN);
              AttendCausalWith(isa, qt.data(), stride, tokens, group, dim, scale,
                               c.Keys(type, dim), c.Values(type, dim), pos0, cs.data(),
                               flat.data(), stride);
              AttendCausalWith(isa, qt.data(), stride, tokens, group, dim, scale, pk.Rows(),
                               pv.Rows(), pos0, cs.data(), paged.data(), stride);
              ExpectSameBits(paged, flat, (what + " causal").c_str());
            }
          }
        }
      }
    }
  }
}

// Gathering every row of a range, in order, is AttendPartial over the range, bit for bit.
TEST(AttentionTest, GatheringARangeGivesTheBitsOfAttendPartial) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 301;
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 40, 128, 36}) {  // 36: the AVX2 path falls back
      const Cache c = MakeCache(type, n, dim, rng);
      const Paged pk = MakePaged(c.keys, n, dim * ElementBytes(type), type, 3, rng);
      const Paged pv = MakePaged(c.values, n, dim * ElementBytes(type), type, 3, rng);
      for (int group : {1, 3, 4, 7}) {
        std::vector<float> q(group * dim);
        for (float& v : q) v = normal(rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
        for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
          if (!KernelIsaAvailable(isa)) continue;
          std::vector<float> scratch(group * (n + dim));
          for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, n}, {100, 117}, {3, 3}}) {
            const std::string what = std::string(KernelIsaName(isa)) + " dim " +
                                     std::to_string(dim) + " group " + std::to_string(group) +
                                     " rows " + std::to_string(begin) + ".." + std::to_string(end);
            const std::vector<int32_t> rows = Iota(begin, end);
            PieceBuffers partial(group, dim), gathered(group, dim);
            AttendPartialWith(isa, q.data(), group, dim, scale, c.Keys(type, dim),
                              c.Values(type, dim), begin, end, scratch.data(), partial.Piece());
            AttendGatheredWith(isa, q.data(), group, dim, scale, c.Keys(type, dim),
                               c.Values(type, dim), rows.data(), end - begin, scratch.data(),
                               gathered.Piece());
            gathered.ExpectSameBitsAs(partial, what);
            PieceBuffers paged(group, dim);
            AttendGatheredWith(isa, q.data(), group, dim, scale, pk.Rows(), pv.Rows(), rows.data(),
                               end - begin, scratch.data(), paged.Piece());
            paged.ExpectSameBitsAs(partial, what + " paged");
            if (begin == end) {
              for (int g = 0; g < group; ++g) {
                ASSERT_EQ(gathered.max[g], -std::numeric_limits<float>::infinity());
                ASSERT_EQ(gathered.sum[g], 0.0f);
              }
              for (float v : gathered.out) ASSERT_EQ(v, 0.0f);
            }
          }
        }
      }
    }
  }
}

// A shuffled subset of rows matches softmax attention over that subset; its piece merged with the
// piece of the other rows (gathered too, or a recent window plus gathered rows) is attention over
// all rows.
TEST(AttentionTest, GatheredSubsetsMatchTheReferenceAndMerge) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 517;
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 40, 128}) {
      const Cache c = MakeCache(type, n, dim, rng);
      const Paged pk = MakePaged(c.keys, n, dim * ElementBytes(type), type, 4, rng);
      const Paged pv = MakePaged(c.values, n, dim * ElementBytes(type), type, 4, rng);
      for (int group : {1, 3, 4, 7}) {
        std::vector<float> q(group * dim);
        for (float& v : q) v = normal(rng);
        const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
        std::vector<int32_t> all = Iota(0, n);
        std::shuffle(all.begin(), all.end(), rng);
        const int64_t k = 123;
        const std::vector<int32_t> subset(all.begin(), all.begin() + k);
        const std::vector<int32_t> rest(all.begin() + k, all.end());
        const std::vector<double> expected = ReferenceRows(q, group, dim, scale, c, subset, type);
        const std::vector<double> full = Reference(q, group, dim, scale, c, 0, n, type);
        const double merge_tolerance = type == TensorType::kF16 ? 2e-3 : 2e-5;
        for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
          if (!KernelIsaAvailable(isa)) continue;
          for (bool paged : {false, true}) {
            const KvRows keys = paged ? pk.Rows() : c.Keys(type, dim);
            const KvRows values = paged ? pv.Rows() : c.Values(type, dim);
            const std::string what = std::string(KernelIsaName(isa)) +
                                     (type == TensorType::kF16 ? " f16" : " f32") + " dim " +
                                     std::to_string(dim) + " group " + std::to_string(group) +
                                     (paged ? " paged" : "");
            std::vector<float> scratch(group * (n + dim));
            PieceBuffers a(group, dim), b(group, dim);
            AttendGatheredWith(isa, q.data(), group, dim, scale, keys, values, subset.data(), k,
                               scratch.data(), a.Piece());
            // An f16 weight can round the other way than the double reference's (one f16 step of
            // a weight times a value).
            for (int i = 0; i < group * dim; ++i) {
              ASSERT_NEAR(a.out[i], expected[i], type == TensorType::kF16 ? 2e-3 : 2e-5) << what;
            }
            AttendGatheredWith(isa, q.data(), group, dim, scale, keys, values, rest.data(),
                               n - k, scratch.data(), b.Piece());
            MergeAttention(a.Piece(), b.Piece(), group, dim);
            for (int i = 0; i < group * dim; ++i) {
              ASSERT_NEAR(a.out[i], full[i], merge_tolerance) << what;
            }
            // A window of recent rows as a range, the older rows gathered (shuffled).
            const int64_t window = 64;
            std::vector<int32_t> older = Iota(0, n - window);
            std::shuffle(older.begin(), older.end(), rng);
            PieceBuffers w(group, dim), o(group, dim);
            AttendPartialWith(isa, q.data(), group, dim, scale, keys, values, n - window, n,
                              scratch.data(), w.Piece());
            AttendGatheredWith(isa, q.data(), group, dim, scale, keys, values, older.data(),
                               n - window, scratch.data(), o.Piece());
            MergeAttention(w.Piece(), o.Piece(), group, dim);
            for (int i = 0; i < group * dim; ++i) {
              ASSERT_NEAR(w.out[i], full[i], merge_tolerance) << what << " window";
            }
          }
        }
      }
    }
  }
}

// GroupKeyScores is the largest unscaled, unrounded dot product of the group's queries with each
// key, for listed rows and ranges, contiguous and paged.
TEST(AttentionTest, GroupKeyScoresMatchTheReference) {
  std::mt19937 rng(19);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 389;
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int dim : {64, 40, 128, 36}) {  // 36: the AVX2 path falls back
      const Cache c = MakeCache(type, n, dim, rng);
      const Paged pk = MakePaged(c.keys, n, dim * ElementBytes(type), type, 2, rng);
      for (int group : {1, 2, 3, 4, 5, 7, 8}) {
        std::vector<float> q(group * dim);
        for (float& v : q) v = normal(rng) * 0.7f;  // not f16 values: no rounding expected
        std::vector<int32_t> listed = Iota(0, n);
        std::shuffle(listed.begin(), listed.end(), rng);
        listed.resize(200);
        const int64_t begin = 50, count = 300;
        for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
          if (!KernelIsaAvailable(isa)) continue;
          for (bool paged : {false, true}) {
            const KvRows keys = paged ? pk.Rows() : c.Keys(type, dim);
            for (bool gathered : {true, false}) {
              const int64_t m = gathered ? static_cast<int64_t>(listed.size()) : count;
              std::vector<float> out(m + 1, NAN);
              GroupKeyScoresWith(isa, q.data(), group, dim, keys,
                                 gathered ? listed.data() : nullptr, begin, m, out.data());
              ASSERT_TRUE(std::isnan(out[m])) << "wrote past the end";
              for (int64_t j = 0; j < m; ++j) {
                const int64_t row = gathered ? listed[j] : begin + j;
                double best = -1e300, magnitude = 0.0;
                for (int g = 0; g < group; ++g) {
                  double dot = 0.0, abs = 0.0;
                  for (int d = 0; d < dim; ++d) {
                    const double term = static_cast<double>(q[g * dim + d]) * c.k_f[row * dim + d];
                    dot += term;
                    abs += std::fabs(term);
                  }
                  best = std::max(best, dot);
                  magnitude = std::max(magnitude, abs);
                }
                ASSERT_NEAR(out[j], best, 1e-5 * (1.0 + magnitude))
                    << KernelIsaName(isa) << " dim " << dim << " group " << group
                    << (paged ? " paged" : "") << (gathered ? " listed" : " range") << " j " << j;
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace engram::kernels
