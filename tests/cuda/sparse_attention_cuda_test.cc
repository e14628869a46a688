// The sparse decode kernels of kernels/cuda/sparse_ops.h against the CPU: pieces over ranges and
// gathered positions against kernels::AttendPartial / AttendGathered, MergePieces against
// kernels::MergeAttention (with a piece written by the host: co-execution), RefreshPageBounds
// against PagedKvCache's bounds (exact), SelectPages and SelectTopKeys against the same scores
// computed on the CPU (kernels::GroupKeyScores for keys) and a partial sort.
//
// Tolerances. Piece outputs as tests/cuda/attention_cuda_test.cc: |gpu - cpu| <= 2e-3 · max|v| +
// 1e-4 (the CPU rounds normalised weights to f16, the GPU keeps f32: <= 2^-11 · max|v| each).
// A piece's max score: both sides use the f16 query and keys with f32 sums, so they agree to
// f32 rounding (1e-4 relative is generous); its sum of exp(score - max) likewise (__expf adds
// ~1e-6 relative). Selections: the GPU's scores differ from the CPU's by f32 summation order
// (~1e-6 relative), so the selected set must equal the CPU's top set whenever the CPU's k-th
// and (k+1)-th scores are further apart than kScoreTolerance (random data: almost always);
// otherwise every selected item must score within kScoreTolerance of the CPU's k-th.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/sparse_ops.h"
#include "kernels/half.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/cuda/host_paged_cache.h"

namespace engram::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::DeviceVector;
using testing::HostCache;
using testing::Shape;

// SmolLM2 and Llama-3-8B.
const Shape kShapes[] = {{64, 3, 3}, {128, 4, 8}};

constexpr int kBlockShift = 4;
constexpr int kBlockSize = 1 << kBlockShift;
constexpr float kUnwritten = 777.0f;
constexpr float kScoreTolerance = 1e-3f;

// Random queries (scores of a few units after scaling), rows padded to catch stride mix-ups.
struct Queries {
  std::vector<float> q;
  int64_t stride = 0;
};

Queries MakeQueries(const Shape& s, size_t rows, std::mt19937& rng) {
  Queries q;
  q.stride = s.n_head() * s.head_dim + 8;
  std::uniform_real_distribution<float> value(-4.0f, 4.0f);
  q.q.resize(rows * q.stride);
  for (float& x : q.q) x = value(rng);
  return q;
}

// The cache, queries and per-row arrays on the device, and the structs the kernels take.
struct DeviceSetup {
  DeviceVector<uint16_t> pool;
  DeviceVector<int32_t> tables, table_of_row, begin, end;
  DeviceVector<float> q;
  PagedLayer layer;
  AttentionRows rows;

  DeviceSetup(const HostCache& cache, const Queries& queries, const std::vector<int32_t>& seqs,
              const std::vector<int32_t>& begins, const std::vector<int32_t>& ends)
      : pool(cache.pool.empty() ? std::vector<uint16_t>(8) : cache.pool),
        tables(cache.tables),
        table_of_row(seqs),
        begin(begins),
        end(ends),
        q(queries.q) {
    layer.base = pool.get();
    layer.n_kv_head = cache.shape.n_kv_head;
    layer.head_dim = cache.shape.head_dim;
    layer.block_shift = kBlockShift;
    rows.q = q.get();
    rows.q_stride = queries.stride;
    rows.rows = static_cast<int64_t>(seqs.size());
    rows.table_of_row = table_of_row.get();
    rows.tables = tables.get();
    rows.table_stride = cache.table_stride;
    rows.key_begin = begin.get();
    rows.key_end = end.get();
  }
};

// A CPU piece for the `group` queries of (row r, KV head h): per query head_dim + 2 floats as
// the GPU lays them out. positions null: the range [begin, end).
std::vector<float> CpuPiece(const HostCache& cache, const Queries& q, int r, int seq, int h,
                            float scale, const int32_t* positions, int begin, int end) {
  const Shape& s = cache.shape;
  const int count = end - begin;
  std::vector<float> max(s.group), sum(s.group), out(static_cast<size_t>(s.group) * s.head_dim);
  std::vector<float> scratch(static_cast<size_t>(s.group) * (count + s.head_dim) + 1);
  const float* qr = q.q.data() + r * q.stride + static_cast<int64_t>(h) * s.group * s.head_dim;
  const AttentionPiece piece{max.data(), sum.data(), out.data()};
  if (positions == nullptr) {
    AttendPartial(qr, s.group, s.head_dim, scale, cache.Rows(seq, h, 0), cache.Rows(seq, h, 1),
                  begin, end, scratch.data(), piece);
  } else {
    AttendGathered(qr, s.group, s.head_dim, scale, cache.Rows(seq, h, 0), cache.Rows(seq, h, 1),
                   positions + begin, count, scratch.data(), piece);
  }
  std::vector<float> laid(static_cast<size_t>(s.group) * (s.head_dim + 2));
  for (int g = 0; g < s.group; ++g) {
    float* p = laid.data() + g * (s.head_dim + 2);
    p[0] = count > 0 ? max[g] : -INFINITY;
    p[1] = count > 0 ? sum[g] : 0.0f;
    for (int d = 0; d < s.head_dim; ++d) p[2 + d] = count > 0 ? out[g * s.head_dim + d] : 0.0f;
  }
  return laid;
}

// Where piece p of (row r, query head j) starts.
size_t PieceAt(const Shape& s, int r, int j, int n_pieces, int p) {
  return ((static_cast<size_t>(r) * s.n_head() + j) * n_pieces + p) * (s.head_dim + 2);
}

// Compares a GPU piece with a CPU one (tolerances at the top); empty pieces exactly.
void ExpectPiece(const float* got, const float* want, const HostCache& cache,
                 const std::string& what) {
  const int d = cache.shape.head_dim;
  if (want[1] == 0.0f) {
    EXPECT_EQ(got[0], -INFINITY) << what;
    EXPECT_EQ(got[1], 0.0f) << what;
    for (int i = 0; i < d; ++i) EXPECT_EQ(got[2 + i], 0.0f) << what << " dim " << i;
    return;
  }
  EXPECT_NEAR(got[0], want[0], 1e-4f * (1.0f + std::fabs(want[0]))) << what << " max";
  EXPECT_NEAR(got[1], want[1], 1e-4f * want[1] + 1e-6f) << what << " sum";
  const float tolerance = 2e-3f * cache.max_abs_value + 1e-4f;
  int bad = 0;
  for (int i = 0; i < d; ++i) bad += !(std::fabs(got[2 + i] - want[2 + i]) <= tolerance);
  EXPECT_EQ(bad, 0) << what << ": output dims off (first: gpu " << got[2] << " cpu " << want[2]
                    << ")";
}

// The split [s_begin, s_end) of `splits` equal ranges of [0, len), as the kernels split.
std::pair<int, int> Split(int len, int splits, int s) {
  const int chunk = (len + splits - 1) / splits;
  return {std::min(s * chunk, len), std::min((s + 1) * chunk, len)};
}

// Checks that `got` (indices into scores) is the top k of `scores` (see the top).
void ExpectTopSet(const std::vector<float>& scores, std::vector<int> got, int k,
                  const std::string& what) {
  const int n = static_cast<int>(scores.size());
  const int want_count = std::min(k, n);
  ASSERT_EQ(static_cast<int>(got.size()), want_count) << what;
  if (want_count == 0) return;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + want_count, order.end(),
                    [&](int a, int b) { return scores[a] > scores[b]; });
  std::sort(got.begin(), got.end());
  EXPECT_TRUE(std::adjacent_find(got.begin(), got.end()) == got.end()) << what << ": repeats";
  const float kth = scores[order[want_count - 1]];
  const bool clear = want_count == n ||
                     kth - scores[order[want_count]] > kScoreTolerance * (1.0f + std::fabs(kth));
  if (clear) {
    std::vector<int> want(order.begin(), order.begin() + want_count);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << what;
    return;
  }
  for (int i : got) {
    ASSERT_TRUE(i >= 0 && i < n) << what;
    EXPECT_GE(scores[i], kth - kScoreTolerance * (1.0f + std::fabs(kth))) << what << " item " << i;
  }
}

class SparseAttentionCudaTest : public CudaKernelTest {
 protected:
  // Runs SelectPages for the rows (row r in sequence r % lengths.size()) and checks each
  // (row, KV head) against the CPU's page scores.
  void CheckSelectPages(const Shape& s, const std::vector<int>& lengths,
                        const std::vector<int32_t>& page_begin,
                        const std::vector<int32_t>& page_end, const std::vector<int32_t>& key_end,
                        int pages, std::mt19937& rng);
  // Runs SelectTopKeys (row r in sequence r, the first candidate_counts[r] of its positions
  // shuffled) and checks each (row, KV head) against kernels::GroupKeyScores.
  void CheckSelectTopKeys(const Shape& s, const std::vector<int>& lengths,
                          const std::vector<int>& candidate_counts, int k, std::mt19937& rng);
};

// Rows: 0 attends [5, 700) of sequence 0, 1 [0, 1000) of sequence 1, 2 nothing.
TEST_F(SparseAttentionCudaTest, RangePiecesMatchAttendPartial) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(11);
    const HostCache cache = testing::MakeCache(s, kBlockShift, {700, 1000}, rng);
    const std::vector<int32_t> seqs = {0, 1, 0}, begins = {5, 0, 30}, ends = {700, 1000, 30};
    const Queries q = MakeQueries(s, seqs.size(), rng);
    DeviceSetup dev(cache, q, seqs, begins, ends);
    const int n_pieces = 5, first = 1, splits = 3;
    const size_t floats = PieceFloats(3, s.n_head(), s.head_dim, n_pieces);
    DeviceVector<float> pieces(std::vector<float>(floats, kUnwritten));
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    AttendRangePieces(dev.layer, dev.rows, s.group, scale, pieces.get(), n_pieces, first, splits,
                      stream());
    Sync();
    const std::vector<float> got = pieces.Download();
    for (int r = 0; r < 3; ++r) {
      for (int h = 0; h < s.n_kv_head; ++h) {
        for (int split = 0; split < splits; ++split) {
          const auto [lo, hi] = Split(ends[r] - begins[r], splits, split);
          const std::vector<float> want =
              CpuPiece(cache, q, r, seqs[r], h, scale, nullptr, begins[r] + lo, begins[r] + hi);
          for (int g = 0; g < s.group; ++g) {
            const int j = h * s.group + g;
            ExpectPiece(got.data() + PieceAt(s, r, j, n_pieces, first + split),
                        want.data() + g * (s.head_dim + 2), cache,
                        Name(s) + " row " + std::to_string(r) + " head " + std::to_string(j) +
                            " split " + std::to_string(split));
          }
        }
        for (int g = 0; g < s.group; ++g) {  // pieces 0 and 4 are not ours
          for (int p : {0, 4}) {
            EXPECT_EQ(got[PieceAt(s, r, h * s.group + g, n_pieces, p)], kUnwritten) << Name(s);
          }
        }
      }
    }
  }
}

// Gathered: per (row, KV head) a random subset of [0, key_end) in random order; one list empty.
TEST_F(SparseAttentionCudaTest, GatheredPiecesMatchAttendGathered) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(12);
    const HostCache cache = testing::MakeCache(s, kBlockShift, {900, 500}, rng);
    const std::vector<int32_t> seqs = {0, 1}, begins = {0, 0}, ends = {900, 433};
    const Queries q = MakeQueries(s, seqs.size(), rng);
    DeviceSetup dev(cache, q, seqs, begins, ends);
    const int max_count = 700, n_pieces = 3, splits = 3;
    std::vector<int32_t> positions(seqs.size() * s.n_kv_head * max_count, -1);
    std::vector<int32_t> counts(seqs.size() * s.n_kv_head);
    for (size_t r = 0; r < seqs.size(); ++r) {
      for (int h = 0; h < s.n_kv_head; ++h) {
        std::vector<int32_t> all(ends[r]);
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), rng);
        const size_t at = r * s.n_kv_head + h;
        counts[at] = r == 1 && h == 1 ? 0 : std::min<int>(ends[r], 100 + 150 * h + 7 * r);
        std::copy(all.begin(), all.begin() + counts[at], positions.begin() + at * max_count);
      }
    }
    DeviceVector<int32_t> d_positions(positions), d_counts(counts);
    const size_t floats = PieceFloats(2, s.n_head(), s.head_dim, n_pieces);
    DeviceVector<float> pieces(std::vector<float>(floats, kUnwritten));
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    AttendGatheredPieces(dev.layer, dev.rows, d_positions.get(), d_counts.get(), max_count, s.group,
                         scale, pieces.get(), n_pieces, 0, splits, stream());
    Sync();
    const std::vector<float> got = pieces.Download();
    for (int r = 0; r < 2; ++r) {
      for (int h = 0; h < s.n_kv_head; ++h) {
        const size_t at = static_cast<size_t>(r) * s.n_kv_head + h;
        for (int split = 0; split < splits; ++split) {
          const auto [lo, hi] = Split(counts[at], splits, split);
          const std::vector<float> want =
              CpuPiece(cache, q, r, seqs[r], h, scale, positions.data() + at * max_count, lo, hi);
          for (int g = 0; g < s.group; ++g) {
            const int j = h * s.group + g;
            ExpectPiece(got.data() + PieceAt(s, r, j, n_pieces, split),
                        want.data() + g * (s.head_dim + 2), cache,
                        Name(s) + " gathered row " + std::to_string(r) + " head " +
                            std::to_string(j) + " split " + std::to_string(split));
          }
        }
      }
    }
  }
}

// Pieces 0, 1: the GPU over [0, 600) in two splits; piece 2: the CPU over [600, 1000), uploaded
// into the same buffer (co-execution); piece 3: empty. Reference: the CPU's pieces merged by
// MergeAttention.
TEST_F(SparseAttentionCudaTest, MergePiecesMatchesMergeAttentionWithAHostPiece) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(13);
    const HostCache cache = testing::MakeCache(s, kBlockShift, {1000}, rng);
    const std::vector<int32_t> seqs = {0, 0}, begins = {0, 0}, ends = {600, 600};
    const Queries q = MakeQueries(s, seqs.size(), rng);
    DeviceSetup dev(cache, q, seqs, begins, ends);
    const int n_pieces = 4;
    const size_t floats = PieceFloats(2, s.n_head(), s.head_dim, n_pieces);
    DeviceVector<float> gpu_pieces(std::vector<float>(floats, kUnwritten));
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    AttendRangePieces(dev.layer, dev.rows, s.group, scale, gpu_pieces.get(), n_pieces, 0, 2,
                      stream());
    Sync();
    std::vector<float> host = gpu_pieces.Download();
    const int64_t out_stride = s.n_head() * s.head_dim + 4;
    std::vector<float> want(2 * out_stride, kUnwritten);
    for (int r = 0; r < 2; ++r) {
      for (int h = 0; h < s.n_kv_head; ++h) {
        std::vector<float> merged = CpuPiece(cache, q, r, 0, h, scale, nullptr, 0, 300);
        const std::vector<float> second = CpuPiece(cache, q, r, 0, h, scale, nullptr, 300, 600);
        const std::vector<float> host_piece =
            CpuPiece(cache, q, r, 0, h, scale, nullptr, 600, 1000);
        for (int g = 0; g < s.group; ++g) {
          const int j = h * s.group + g, w = s.head_dim + 2;
          std::copy_n(host_piece.data() + g * w, w, host.data() + PieceAt(s, r, j, n_pieces, 2));
          float* empty = host.data() + PieceAt(s, r, j, n_pieces, 3);
          std::fill(empty, empty + w, 0.0f);
          empty[0] = -INFINITY;
          // The CPU's merge of its own three pieces, one query at a time.
          float* into = merged.data() + g * w;
          for (const std::vector<float>* other : {&second, &host_piece}) {
            const float* o = other->data() + g * w;
            float om = o[0], os = o[1];
            std::vector<float> oo(o + 2, o + w);
            MergeAttention({into, into + 1, into + 2}, {&om, &os, oo.data()}, 1, s.head_dim);
          }
          std::copy_n(into + 2, s.head_dim, want.data() + r * out_stride + j * s.head_dim);
        }
      }
    }
    DeviceVector<float> pieces(host);
    DeviceVector<float> out(std::vector<float>(2 * out_stride, kUnwritten));
    MergePieces(pieces.get(), 2, s.n_head(), s.head_dim, n_pieces, out.get(), out_stride, stream());
    Sync();
    const std::vector<float> got = out.Download();
    const float tolerance = 2e-3f * cache.max_abs_value + 1e-4f;
    for (size_t i = 0; i < got.size(); ++i) {
      if (want[i] == kUnwritten) {
        EXPECT_EQ(got[i], kUnwritten) << Name(s) << " padding " << i;
      } else {
        EXPECT_NEAR(got[i], want[i], tolerance) << Name(s) << " at " << i;
      }
    }
  }
}

// Bounds of blocks with full, partial, one and no rows; the other blocks' bounds untouched.
TEST_F(SparseAttentionCudaTest, RefreshPageBoundsMatchesTheCacheExactly) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(14);
    const HostCache cache = testing::MakeCache(s, kBlockShift, {100}, rng);  // 7 + 2 blocks
    const std::vector<int32_t> blocks = {3, 0, 8, 5}, rows_in_block = {16, 5, 0, 1};
    const size_t floats = PageBoundsFloats(cache.blocks, s.n_kv_head, s.head_dim);
    std::vector<float> want(floats, kUnwritten);
    for (size_t i = 0; i < blocks.size(); ++i) {
      for (int h = 0; h < s.n_kv_head; ++h) {
        float* lo =
            want.data() + (static_cast<size_t>(blocks[i]) * s.n_kv_head + h) * 2 * s.head_dim;
        for (int d = 0; d < s.head_dim; ++d) {  // as PagedKvCache::RecomputeBounds
          lo[d] = INFINITY;
          lo[s.head_dim + d] = -INFINITY;
          for (int row = 0; row < rows_in_block[i]; ++row) {
            lo[d] = std::min(lo[d], cache.Key(blocks[i], h, row, d));
            lo[s.head_dim + d] = std::max(lo[s.head_dim + d], cache.Key(blocks[i], h, row, d));
          }
        }
      }
    }
    DeviceVector<uint16_t> pool(cache.pool);
    DeviceVector<int32_t> d_blocks(blocks), d_rows(rows_in_block);
    DeviceVector<float> bounds(std::vector<float>(floats, kUnwritten));
    PagedLayer layer;
    layer.base = pool.get();
    layer.n_kv_head = s.n_kv_head;
    layer.head_dim = s.head_dim;
    layer.block_shift = kBlockShift;
    RefreshPageBounds(layer, d_blocks.get(), d_rows.get(), 4, bounds.get(), stream());
    Sync();
    const std::vector<float> got = bounds.Download();
    int bad = 0;
    for (size_t i = 0; i < floats; ++i) bad += !(got[i] == want[i]);
    EXPECT_EQ(bad, 0) << Name(s) << ": bounds differ";
  }
}

// Page scores as the header defines them: max over the group of Σ_d max(q·min, q·max).
std::vector<float> CpuPageScores(const Shape& s, const std::vector<float>& bounds,
                                 const int32_t* table, const float* q_heads, int page_begin,
                                 int page_end, int h) {
  std::vector<float> scores;
  for (int page = page_begin; page < page_end; ++page) {
    const float* lo =
        bounds.data() + (static_cast<size_t>(table[page]) * s.n_kv_head + h) * 2 * s.head_dim;
    float best = -INFINITY;
    for (int g = 0; g < s.group; ++g) {
      float sum = 0.0f;
      for (int d = 0; d < s.head_dim; ++d) {
        const float qd = q_heads[g * s.head_dim + d];
        sum += std::max(qd * lo[d], qd * lo[s.head_dim + d]);
      }
      best = std::max(best, sum);
    }
    scores.push_back(best);
  }
  return scores;
}

// Random bounds (min <= max) for `blocks` physical blocks; SelectPages reads no keys.
std::vector<float> RandomBounds(const Shape& s, int64_t blocks, std::mt19937& rng) {
  std::vector<float> bounds(PageBoundsFloats(blocks, s.n_kv_head, s.head_dim));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (size_t at = 0; at < bounds.size(); at += 2 * s.head_dim) {
    for (int d = 0; d < s.head_dim; ++d) {
      const float a = value(rng), b = value(rng);
      bounds[at + d] = std::min(a, b);
      bounds[at + s.head_dim + d] = std::max(a, b);
    }
  }
  return bounds;
}

void SparseAttentionCudaTest::CheckSelectPages(const Shape& s, const std::vector<int>& lengths,
                                               const std::vector<int32_t>& page_begin,
                                               const std::vector<int32_t>& page_end,
                                               const std::vector<int32_t>& key_end, int pages,
                                               std::mt19937& rng) {
  HostCache cache;  // tables only: no keys are read
  cache.shape = s;
  for (int len : lengths) {
    cache.table_stride = std::max<int64_t>(cache.table_stride, (len + kBlockSize - 1) / kBlockSize);
  }
  const int64_t blocks = cache.table_stride * static_cast<int64_t>(lengths.size());
  std::vector<int32_t> physical(blocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  cache.tables = physical;
  const std::vector<float> bounds = RandomBounds(s, blocks, rng);
  const size_t rows = page_begin.size();
  for (size_t r = 0; r < rows; ++r) {  // every page has a position below key_end
    ASSERT_LT((page_end[r] - 1) << kBlockShift, key_end[r]);
  }
  std::vector<int32_t> seqs(rows);
  for (size_t r = 0; r < rows; ++r) seqs[r] = static_cast<int32_t>(r % lengths.size());
  const Queries q = MakeQueries(s, rows, rng);
  DeviceSetup dev(cache, q, seqs, std::vector<int32_t>(rows, 0), key_end);
  DeviceVector<float> d_bounds(bounds);
  DeviceVector<int32_t> d_begin(page_begin), d_end(page_end);
  const int max_count = pages * kBlockSize + 3;
  DeviceVector<int32_t> positions(std::vector<int32_t>(rows * s.n_kv_head * max_count, -7));
  DeviceVector<int32_t> counts(std::vector<int32_t>(rows * s.n_kv_head, -1));
  SelectPages(dev.layer, d_bounds.get(), dev.rows, d_begin.get(), d_end.get(), s.group, pages,
              positions.get(), counts.get(), max_count, stream());
  Sync();
  if (HasFatalFailure()) return;
  const std::vector<int32_t> got = positions.Download(), got_counts = counts.Download();
  for (size_t r = 0; r < rows; ++r) {
    const int32_t* table = cache.tables.data() + seqs[r] * cache.table_stride;
    for (int h = 0; h < s.n_kv_head; ++h) {
      const std::string what =
          Name(s) + " row " + std::to_string(r) + " kv head " + std::to_string(h);
      const std::vector<float> scores =
          CpuPageScores(s, bounds, table, q.q.data() + r * q.stride + h * s.group * s.head_dim,
                        page_begin[r], page_end[r], h);
      const size_t at = r * s.n_kv_head + h;
      const int count = got_counts[at];
      ASSERT_TRUE(count >= 0 && count <= max_count) << what << " count " << count;
      // Positions back to pages: each chosen page gives its positions below key_end.
      std::vector<int> chosen;
      std::vector<int> per_page(scores.size(), 0);
      for (int i = 0; i < count; ++i) {
        const int pos = got[at * max_count + i];
        const int page = (pos >> kBlockShift) - page_begin[r];
        ASSERT_TRUE(pos >= 0 && pos < key_end[r] && page >= 0 &&
                    page < static_cast<int>(scores.size()))
            << what << " position " << pos;
        if (per_page[page]++ == 0) chosen.push_back(page);
      }
      for (int page : chosen) {
        const int first = (page_begin[r] + page) << kBlockShift;
        EXPECT_EQ(per_page[page], std::min(kBlockSize, key_end[r] - first)) << what;
      }
      EXPECT_EQ(got[at * max_count + max_count - 1], -7) << what << ": wrote past the pages";
      ExpectTopSet(scores, chosen, pages, what);
    }
  }
}

TEST_F(SparseAttentionCudaTest, SelectPagesMatchesCpuScores) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(15);
    // Row 0: pages [1, 63) of 1000 positions (the last partly filled), the best 10. Row 1:
    // all 38 pages of 600 positions (fewer than asked). Row 2: no pages.
    CheckSelectPages(s, {1000, 600, 1000}, {1, 0, 2}, {63, 38, 2}, {1000, 600, 1000}, 40, rng);
    if (HasFatalFailure()) return;
    CheckSelectPages(s, {1000, 600}, {1, 0}, {63, 38}, {1000, 600}, 10, rng);
    if (HasFatalFailure()) return;
  }
}

// 60000 pages (960k positions): past the scores shared memory holds, so later pages are
// rescored in every pass.
TEST_F(SparseAttentionCudaTest, SelectPagesOverManyPages) {
  std::mt19937 rng(16);
  CheckSelectPages(kShapes[0], {960000}, {0}, {60000}, {959990}, 3000, rng);
}

void SparseAttentionCudaTest::CheckSelectTopKeys(const Shape& s, const std::vector<int>& lengths,
                                                 const std::vector<int>& candidate_counts, int k,
                                                 std::mt19937& rng) {
  const HostCache cache = testing::MakeCache(s, kBlockShift, lengths, rng);
  const size_t rows = lengths.size();
  std::vector<int32_t> seqs(rows);
  std::iota(seqs.begin(), seqs.end(), 0);
  const Queries q = MakeQueries(s, rows, rng);
  std::vector<int32_t> ends(lengths.begin(), lengths.end());
  DeviceSetup dev(cache, q, seqs, std::vector<int32_t>(rows, 0), ends);
  const int max_candidates = *std::max_element(lengths.begin(), lengths.end()) + 1;
  std::vector<int32_t> candidates(rows * s.n_kv_head * max_candidates, -1);
  std::vector<int32_t> counts(rows * s.n_kv_head);
  for (size_t r = 0; r < rows; ++r) {
    for (int h = 0; h < s.n_kv_head; ++h) {
      const size_t at = r * s.n_kv_head + h;
      std::vector<int32_t> all(lengths[r]);
      std::iota(all.begin(), all.end(), 0);
      std::shuffle(all.begin(), all.end(), rng);
      counts[at] = std::min(candidate_counts[r], lengths[r]);
      std::copy_n(all.begin(), counts[at], candidates.begin() + at * max_candidates);
    }
  }
  DeviceVector<int32_t> d_candidates(candidates), d_counts(counts);
  const int max_selected = k + 5;
  DeviceVector<int32_t> selected(std::vector<int32_t>(rows * s.n_kv_head * max_selected, -7));
  DeviceVector<int32_t> selected_counts(std::vector<int32_t>(rows * s.n_kv_head, -1));
  SelectTopKeys(dev.layer, dev.rows, d_candidates.get(), d_counts.get(), max_candidates, s.group, k,
                selected.get(), selected_counts.get(), max_selected, stream());
  Sync();
  if (HasFatalFailure()) return;
  const std::vector<int32_t> got = selected.Download(), got_counts = selected_counts.Download();
  for (size_t r = 0; r < rows; ++r) {
    for (int h = 0; h < s.n_kv_head; ++h) {
      const size_t at = r * s.n_kv_head + h;
      const std::string what = Name(s) + " row " + std::to_string(r) + " kv head " +
                               std::to_string(h) + " k " + std::to_string(k);
      std::vector<float> scores(counts[at]);
      GroupKeyScores(q.q.data() + r * q.stride + h * s.group * s.head_dim, s.group, s.head_dim,
                     cache.Rows(seqs[r], h, 0), candidates.data() + at * max_candidates, 0,
                     counts[at], scores.data());
      ASSERT_EQ(got_counts[at], std::min(k, counts[at])) << what;
      // Back from positions to candidate indices (candidates are distinct).
      std::vector<int> index_of(lengths[r], -1);
      for (int i = 0; i < counts[at]; ++i) index_of[candidates[at * max_candidates + i]] = i;
      std::vector<int> chosen;
      for (int i = 0; i < got_counts[at]; ++i) {
        const int pos = got[at * max_selected + i];
        ASSERT_TRUE(pos >= 0 && pos < lengths[r] && index_of[pos] >= 0) << what << " " << pos;
        chosen.push_back(index_of[pos]);
      }
      EXPECT_EQ(got[at * max_selected + max_selected - 1], -7) << what << ": wrote past k";
      ExpectTopSet(scores, chosen, k, what);
    }
  }
}

TEST_F(SparseAttentionCudaTest, SelectTopKeysMatchesGroupKeyScores) {
  for (const Shape& s : kShapes) {
    std::mt19937 rng(17);
    // Row 0: 2000 of 3000 positions; row 1: 50 candidates (fewer than k); row 2: none.
    CheckSelectTopKeys(s, {3000, 400, 100}, {2000, 50, 0}, 300, rng);
    if (HasFatalFailure()) return;
    CheckSelectTopKeys(s, {3000}, {3000}, 1, rng);
    if (HasFatalFailure()) return;
    // Nearly all chosen: the k-th score is negative (the order of negative floats; a max over
    // the group is negative for about 1/8 or 1/16 of the keys).
    CheckSelectTopKeys(s, {2500}, {2000}, 1950, rng);
    if (HasFatalFailure()) return;
  }
}

// 60000 candidates, k 4096: past the scores shared memory holds.
TEST_F(SparseAttentionCudaTest, SelectTopKeysOverManyCandidates) {
  std::mt19937 rng(18);
  CheckSelectTopKeys(kShapes[0], {60000}, {60000}, 4096, rng);
}

}  // namespace
}  // namespace engram::kernels::cuda
