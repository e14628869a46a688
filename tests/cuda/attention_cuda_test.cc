// The paged-KV-cache kernels of kernels/cuda/attention.cu against the CPU (kernels/attention.h):
// StoreKv bit for bit against Fp32ToFp16, AttendDecode and AttendPrefill within f16 tolerance
// against AttendPartial / AttendCausalWindow over KvRows that walk the same host layout.
//
// Tolerance of attention outputs: |gpu - cpu| <= 2e-3 · max|v| + 1e-4 per element. Both sides
// use the same f16 queries (rounded) and keys with f32 dot products, so scores agree to f32
// rounding. The weights differ: the CPU rounds each normalised softmax weight to f16 (relative
// error <= 2^-11), decode keeps f32 weights, prefill rounds unnormalised weights to f16 (another
// <= 2^-11). An output is a weighted mean of values, so each side is off by at most
// 2^-11 · max|v| ≈ 4.9e-4 · max|v|, together < 1e-3 · max|v|; the rest is f32 summation order and
// __expf (~1e-6 relative), covered by the 2x margin and the 1e-4 floor for outputs near zero.
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
#include "kernels/half.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/cuda/host_paged_cache.h"

namespace engram::kernels::cuda {
namespace {

using testing::CudaKernelTest;
using testing::DeviceVector;
using testing::HostCache;
using testing::MakeCache;
using testing::Shape;

// SmolLM2, Llama-3-8B, Gemma 3 (as the brief lists them).
const Shape kModelShapes[] = {{64, 3, 3}, {128, 4, 8}, {256, 4, 1}};
// Plus the other kernel instantiations: head_dim 32, groups 1, 2 and 5..8 (padded to 8).
const Shape kMoreShapes[] = {{32, 1, 2}, {64, 2, 2}, {128, 6, 2}, {64, 8, 1}};

// Query rows: row r attends keys [begin, end) of sequence seq.
struct RowSpec {
  int seq;
  int begin;
  int end;
};

struct Queries {
  std::vector<float> q;
  int64_t q_stride = 0;
  int64_t out_stride = 0;
};

// Random queries with scores of a few units (scale · q·k has a standard deviation near 1.3),
// so the softmax is neither flat nor one-hot. Strides are padded to catch stride mix-ups.
Queries MakeQueries(const Shape& shape, size_t rows, std::mt19937& rng) {
  Queries q;
  q.q_stride = shape.n_head() * shape.head_dim + 8;
  q.out_stride = shape.n_head() * shape.head_dim + 4;
  std::uniform_real_distribution<float> value(-4.0f, 4.0f);
  q.q.resize(rows * q.q_stride);
  for (float& x : q.q) x = value(rng);
  return q;
}

// The CPU's answer, per row and KV head with AttendPartial; laid out with q.out_stride.
std::vector<float> ReferenceByRow(const HostCache& cache, const std::vector<RowSpec>& rows,
                                  const Queries& q, float scale) {
  const Shape& s = cache.shape;
  std::vector<float> out(rows.size() * q.out_stride, 0.0f);
  std::vector<float> stats(2 * s.group), scratch;
  for (size_t r = 0; r < rows.size(); ++r) {
    const RowSpec& row = rows[r];
    scratch.assign(static_cast<size_t>(s.group) * (row.end - row.begin + s.head_dim) + 1, 0.0f);
    for (int h = 0; h < s.n_kv_head; ++h) {
      const int64_t head = static_cast<int64_t>(h) * s.group * s.head_dim;
      AttendPartial(q.q.data() + r * q.q_stride + head, s.group, s.head_dim, scale,
                    cache.Rows(row.seq, h, 0), cache.Rows(row.seq, h, 1), row.begin, row.end,
                    scratch.data(),
                    {stats.data(), stats.data() + s.group, out.data() + r * q.out_stride + head});
    }
  }
  return out;
}

constexpr float kUnwritten = 12345.0f;  // the output's padding must keep it

// Compares the heads of every row within the tolerance (see the top) and checks that the
// padding between rows was left alone.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const HostCache& cache, const Queries& q, size_t rows, const std::string& what) {
  const int64_t width = cache.shape.n_head() * cache.shape.head_dim;
  const float tolerance = 2e-3f * cache.max_abs_value + 1e-4f;
  float worst = 0.0f;
  int64_t worst_at = -1, bad = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < q.out_stride; ++i) {
      const int64_t at = static_cast<int64_t>(r) * q.out_stride + i;
      if (i >= width) {
        if (got[at] != kUnwritten) ++bad;
        continue;
      }
      float err = std::fabs(got[at] - want[at]);
      if (std::isnan(err)) err = INFINITY;
      if (err > tolerance) ++bad;
      if (worst_at < 0 || err > worst) {
        worst = err;
        worst_at = at;
      }
    }
  }
  if (worst_at < 0) return;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements off; worst |gpu - cpu| = " << worst
                    << " at row " << worst_at / q.out_stride << " column "
                    << worst_at % q.out_stride << " (gpu " << got[worst_at] << ", cpu "
                    << want[worst_at] << "), tolerance " << tolerance;
}

class AttentionCudaTest : public CudaKernelTest {
 protected:
  // Runs AttendDecode with `splits` (or AttendPrefill when splits is 0) and downloads the
  // output rows.
  std::vector<float> Run(const HostCache& cache, const std::vector<RowSpec>& rows, const Queries& q,
                         float scale, int splits) {
    const Shape& s = cache.shape;
    std::vector<int32_t> table_of_row, begin, end;
    for (const RowSpec& row : rows) {
      table_of_row.push_back(row.seq);
      begin.push_back(row.begin);
      end.push_back(row.end);
    }
    DeviceVector<uint16_t> pool(cache.pool);
    DeviceVector<int32_t> tables(cache.tables), d_table_of_row(table_of_row), d_begin(begin),
        d_end(end);
    DeviceVector<float> d_q(q.q);
    DeviceVector<float> out(std::vector<float>(rows.size() * q.out_stride, kUnwritten));
    const size_t partial_floats =
        splits > 0 ? AttendDecodePartialFloats(rows.size(), s.n_head(), s.head_dim, splits) : 1;
    // A partial left unwritten would dominate the merge (max 1e30) and show.
    DeviceVector<float> partials(std::vector<float>(partial_floats, 1e30f));

    PagedLayer layer;
    layer.base = pool.get();
    layer.n_kv_head = s.n_kv_head;
    layer.head_dim = s.head_dim;
    layer.block_shift = cache.block_shift;
    AttentionRows a;
    a.q = d_q.get();
    a.q_stride = q.q_stride;
    a.out = out.get();
    a.out_stride = q.out_stride;
    a.rows = static_cast<int64_t>(rows.size());
    a.table_of_row = d_table_of_row.get();
    a.tables = tables.get();
    a.table_stride = cache.table_stride;
    a.key_begin = d_begin.get();
    a.key_end = d_end.get();
    if (splits > 0) {
      AttendDecode(layer, a, s.group, scale, partials.get(), splits, stream());
    } else {
      AttendPrefill(layer, a, s.group, scale, stream());
    }
    Sync();
    return out.Download();
  }

  // Runs and compares with ReferenceByRow.
  void Check(const HostCache& cache, const std::vector<RowSpec>& rows, int splits,
             std::mt19937& rng, const std::string& what) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cache.shape.head_dim));
    const Queries q = MakeQueries(cache.shape, rows.size(), rng);
    const std::vector<float> want = ReferenceByRow(cache, rows, q, scale);
    const std::vector<float> got = Run(cache, rows, q, scale, splits);
    if (HasFatalFailure()) return;
    ExpectClose(got, want, cache, q, rows.size(), what);
  }
};

TEST_F(AttentionCudaTest, StoreKvRoundsLikeTheCpu) {
  std::mt19937 rng(1);
  const Shape s{64, 3, 3};
  const HostCache cache = MakeCache(s, 4, {40, 50}, rng);  // 4 + 4 blocks
  const int64_t block_size = int64_t{1} << cache.block_shift;
  const int64_t total_slots =
      static_cast<int64_t>(cache.pool.size() / cache.BlockElems()) * block_size;
  std::vector<int32_t> slots(total_slots);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng);
  // Distinct slots (a repeat would race), including the first position of block 0 and the last
  // position of the last block.
  std::iter_swap(slots.begin(), std::find(slots.begin(), slots.end(), 0));
  std::iter_swap(slots.begin() + 1, std::find(slots.begin(), slots.end(), total_slots - 1));
  slots.resize(21);
  const int64_t rows = static_cast<int64_t>(slots.size());

  const int64_t width = s.n_kv_head * s.head_dim, stride = width + 5;
  std::normal_distribution<float> normal(0.0f, 30.0f);
  std::vector<float> k(rows * stride), v(rows * stride);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  // Ties (round to even), overflow to infinity, subnormals and their underflow.
  const float special[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65520.0f, -65519.0f, 0x1p-20f,
                           0x1p-25f,        -0x1.8p-25f,         0.0f};
  for (size_t i = 0; i < std::size(special); ++i) k[i] = v[stride + i] = special[i];

  std::vector<uint16_t> want = cache.pool;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t block = slots[r] >> cache.block_shift, pos = slots[r] & (block_size - 1);
    for (int h = 0; h < s.n_kv_head; ++h) {
      for (int d = 0; d < s.head_dim; ++d) {
        const int64_t at = block * cache.BlockElems() + (h * block_size + pos) * s.head_dim + d;
        const int64_t value_at = at + s.n_kv_head * block_size * s.head_dim;
        want[at] = Fp32ToFp16(k[r * stride + h * s.head_dim + d]);
        want[value_at] = Fp32ToFp16(v[r * stride + h * s.head_dim + d]);
      }
    }
  }

  DeviceVector<uint16_t> pool(cache.pool);
  DeviceVector<float> d_k(k), d_v(v);
  DeviceVector<int32_t> d_slots(slots);
  PagedLayer layer;
  layer.base = pool.get();
  layer.n_kv_head = s.n_kv_head;
  layer.head_dim = s.head_dim;
  layer.block_shift = cache.block_shift;
  StoreKv(layer, d_k.get(), d_v.get(), stride, rows, d_slots.get(), stream());
  Sync();
  const std::vector<uint16_t> got = pool.Download();
  ASSERT_EQ(got.size(), want.size());
  int64_t bad = 0, first_bad = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && bad++ == 0) first_bad = static_cast<int64_t>(i);
  }
  EXPECT_EQ(bad, 0) << "first difference at element " << first_bad;
}

// One row over a whole sequence, short to the 32k context, split 1, 7 and 64 ways.
TEST_F(AttentionCudaTest, DecodeOneRowMatchesCpu) {
  std::mt19937 rng(2);
  const std::vector<int> lengths = {1, 17, 1000, 32768};
  for (const Shape& s : kModelShapes) {
    const HostCache cache = MakeCache(s, 4, lengths, rng);
    for (size_t seq = 0; seq < lengths.size(); ++seq) {
      for (int splits : {1, 7, 64}) {
        Check(cache, {{static_cast<int>(seq), 0, lengths[seq]}}, splits, rng,
              Name(s) + " length " + std::to_string(lengths[seq]) + " splits " +
                  std::to_string(splits));
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Batched decode: rows of different sequences, lengths and tables; one with a sliding window
// (key_begin > 0); blocks of 32 positions for a change.
TEST_F(AttentionCudaTest, DecodeBatchedRowsMatchCpu) {
  std::mt19937 rng(3);
  const std::vector<int> lengths = {300, 5, 4097, 64, 1};
  const std::vector<RowSpec> rows = {
      {2, 0, 4097}, {0, 0, 300}, {4, 0, 1}, {1, 0, 5}, {3, 64 - 40, 64}};
  std::vector<Shape> shapes(std::begin(kModelShapes), std::end(kModelShapes));
  shapes.insert(shapes.end(), std::begin(kMoreShapes), std::end(kMoreShapes));
  for (const Shape& s : shapes) {
    const HostCache cache = MakeCache(s, 5, lengths, rng);
    for (int splits : {1, 8}) {
      Check(cache, rows, splits, rng, Name(s) + " splits " + std::to_string(splits));
      if (HasFatalFailure()) return;
    }
  }
}

// More splits than keys leaves splits empty (max -inf, sum 0), which the merge must skip; a
// row with no keys at all comes out zero.
TEST_F(AttentionCudaTest, DecodeEmptySplitsAndEmptyRow) {
  std::mt19937 rng(4);
  const Shape s{64, 3, 3};
  const HostCache cache = MakeCache(s, 4, {5, 40}, rng);
  Check(cache, {{0, 0, 5}, {1, 30, 33}, {1, 7, 7}}, 16, rng, "5 and 3 keys in 16 splits");
  Check(cache, {{0, 0, 5}, {1, 7, 7}}, 1, rng, "one split, one empty row");
}

// Prefill of one sequence: 77 rows at positions pos0 .. pos0 + 76, causal, with and without a
// 32-key sliding window; reference AttendCausalWindow (the CPU prefill).
TEST_F(AttentionCudaTest, PrefillCausalMatchesCpu) {
  std::mt19937 rng(5);
  constexpr int kTokens = 77;
  for (const Shape& s : kModelShapes) {
    for (int pos0 : {0, 45}) {
      const HostCache cache = MakeCache(s, 4, {pos0 + kTokens}, rng);
      for (int window : {0, 32}) {
        std::vector<RowSpec> rows;
        for (int t = 0; t < kTokens; ++t) {
          const int end = pos0 + t + 1;
          rows.push_back({0, window > 0 ? std::max(0, end - window) : 0, end});
        }
        const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
        const Queries q = MakeQueries(s, rows.size(), rng);
        std::vector<float> want(rows.size() * q.out_stride, 0.0f);
        std::vector<float> scratch(
            AttendCausalScratchFloats(kTokens, s.group, s.head_dim, pos0 + kTokens));
        for (int h = 0; h < s.n_kv_head; ++h) {
          const int64_t head = static_cast<int64_t>(h) * s.group * s.head_dim;
          AttendCausalWindow(q.q.data() + head, q.q_stride, kTokens, s.group, s.head_dim, scale,
                             cache.Rows(0, h, 0), cache.Rows(0, h, 1), pos0, window, scratch.data(),
                             want.data() + head, q.out_stride);
        }
        const std::vector<float> got = Run(cache, rows, q, scale, /*splits=*/0);
        if (HasFatalFailure()) return;
        ExpectClose(
            got, want, cache, q, rows.size(),
            Name(s) + " pos0 " + std::to_string(pos0) + " window " + std::to_string(window));
      }
    }
  }
}

// Prefill rows from several sequences in one tile (a batched prefill): the kernel runs one
// pass per table; rows alternate between tables in the middle.
TEST_F(AttentionCudaTest, PrefillMixedSequencesMatchCpu) {
  std::mt19937 rng(6);
  const std::vector<int> lengths = {40, 47, 60};
  std::vector<RowSpec> rows;
  for (int t = 0; t < 30; ++t) rows.push_back({0, 0, 10 + t + 1});     // seq 0, positions 10..39
  for (int t = 0; t < 20; ++t) rows.push_back({1 + t % 2, 0, t + 1});  // seqs 1 and 2 alternate
  for (int t = 20; t < 47; ++t) rows.push_back({1, std::max(0, t + 1 - 16), t + 1});  // window
  rows.push_back({2, 59, 59});  // no keys: zeros
  std::vector<Shape> shapes(std::begin(kModelShapes), std::end(kModelShapes));
  shapes.insert(shapes.end(), std::begin(kMoreShapes), std::end(kMoreShapes));
  for (const Shape& s : shapes) {
    const HostCache cache = MakeCache(s, 4, lengths, rng);
    Check(cache, rows, /*splits=*/0, rng, Name(s));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace engram::kernels::cuda
