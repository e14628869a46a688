#include "inference/paged_kv_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "kernels/half.h"

namespace engram::inference {
namespace {

namespace fs = std::filesystem;

constexpr KvCacheShape kShape{.n_layer = 2, .n_kv_head = 3, .head_dim = 8};
constexpr int kWidth = 3 * 8;  // n_kv_head * head_dim

// Deterministic pseudo-random entries in [-4, 4], different per seed, layer, position and index
// (and not representable in f16 in general, so f16 rounding is exercised).
float Entry(int seed, int layer, int64_t pos, int j, int which) {
  uint32_t h = static_cast<uint32_t>(seed) * 2654435761u;
  h ^= static_cast<uint32_t>(layer * 97 + which * 7) * 40503u;
  h ^= static_cast<uint32_t>(pos) * 2246822519u;
  h ^= static_cast<uint32_t>(j) * 3266489917u;
  h ^= h >> 15;
  h *= 668265263u;
  h ^= h >> 13;
  return (static_cast<float>(h % 80001u) - 40000.0f) / 10000.3f;
}

float Rounded(TensorType type, float x) {
  return type == TensorType::kF16 ? kernels::Fp16ToFp32(kernels::Fp32ToFp16(x)) : x;
}

float ReadAt(const kernels::KvRows& rows, int64_t pos, int i) {
  const uint8_t* row = rows.Row(pos);
  if (rows.type == TensorType::kF16) {
    uint16_t h;
    std::memcpy(&h, row + i * 2, 2);
    return kernels::Fp16ToFp32(h);
  }
  float f;
  std::memcpy(&f, row + i * 4, 4);
  return f;
}

// Stores positions [begin, end) of every layer with entries of `seed`.
void StoreRange(PagedKvCache& c, SequenceId seq, int64_t begin, int64_t end, int seed) {
  std::vector<float> k(kWidth), v(kWidth);
  for (int layer = 0; layer < kShape.n_layer; ++layer) {
    for (int64_t pos = begin; pos < end; ++pos) {
      for (int j = 0; j < kWidth; ++j) {
        k[j] = Entry(seed, layer, pos, j, 0);
        v[j] = Entry(seed, layer, pos, j, 1);
      }
      c.Store(seq, layer, pos, k.data(), v.data());
    }
  }
}

// Reserve, store and commit positions [length, end).
void Append(PagedKvCache& c, SequenceId seq, int64_t end, int seed) {
  const int64_t begin = c.length(seq);
  ASSERT_TRUE(c.Reserve(seq, end).ok());
  StoreRange(c, seq, begin, end, seed);
  c.Commit(seq, end);
}

// Which seed wrote each position of a sequence.
using Origins = std::vector<int>;

// Rows [0, origins.size()) of every layer and head hold the entries of their seed.
void ExpectRows(const PagedKvCache& c, SequenceId seq, const Origins& origins) {
  ASSERT_EQ(c.length(seq), static_cast<int64_t>(origins.size()));
  for (int layer = 0; layer < kShape.n_layer; ++layer) {
    for (int h = 0; h < kShape.n_kv_head; ++h) {
      const kernels::KvRows keys = c.Keys(seq, layer, h);
      const kernels::KvRows values = c.Values(seq, layer, h);
      for (size_t pos = 0; pos < origins.size(); ++pos) {
        for (int d = 0; d < kShape.head_dim; ++d) {
          const int j = h * kShape.head_dim + d;
          ASSERT_EQ(ReadAt(keys, pos, d), Rounded(c.type(), Entry(origins[pos], layer, pos, j, 0)))
              << "layer " << layer << " head " << h << " pos " << pos << " dim " << d;
          ASSERT_EQ(ReadAt(values, pos, d),
                    Rounded(c.type(), Entry(origins[pos], layer, pos, j, 1)))
              << "layer " << layer << " head " << h << " pos " << pos << " dim " << d;
        }
      }
    }
  }
}

// The key bounds of every block of the sequence are exactly the per-channel min and max of the
// (rounded) keys of the block's positions.
void ExpectExactBounds(const PagedKvCache& c, SequenceId seq, const Origins& origins) {
  const int bs = c.block_size();
  const int64_t n_blocks = (static_cast<int64_t>(origins.size()) + bs - 1) / bs;
  for (int layer = 0; layer < kShape.n_layer; ++layer) {
    for (int h = 0; h < kShape.n_kv_head; ++h) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float* lo = c.KeyMin(seq, layer, h, b);
        const float* hi = c.KeyMax(seq, layer, h, b);
        for (int d = 0; d < kShape.head_dim; ++d) {
          float want_lo = std::numeric_limits<float>::infinity();
          float want_hi = -want_lo;
          for (int64_t pos = b * bs; pos < std::min<int64_t>((b + 1) * bs, origins.size()); ++pos) {
            const float x =
                Rounded(c.type(), Entry(origins[pos], layer, pos, h * kShape.head_dim + d, 0));
            want_lo = std::min(want_lo, x);
            want_hi = std::max(want_hi, x);
          }
          ASSERT_EQ(lo[d], want_lo) << "layer " << layer << " head " << h << " block " << b;
          ASSERT_EQ(hi[d], want_hi) << "layer " << layer << " head " << h << " block " << b;
        }
      }
    }
  }
}

std::vector<float> CopyBounds(const PagedKvCache& c, SequenceId seq) {
  std::vector<float> out;
  const int64_t n_blocks = (c.length(seq) + c.block_size() - 1) / c.block_size();
  for (int layer = 0; layer < kShape.n_layer; ++layer) {
    for (int h = 0; h < kShape.n_kv_head; ++h) {
      for (int64_t b = 0; b < n_blocks; ++b) {
        out.insert(out.end(), c.KeyMin(seq, layer, h, b),
                   c.KeyMin(seq, layer, h, b) + kShape.head_dim);
        out.insert(out.end(), c.KeyMax(seq, layer, h, b),
                   c.KeyMax(seq, layer, h, b) + kShape.head_dim);
      }
    }
  }
  return out;
}

// All row bytes of positions [0, length), keys then values, in order.
std::vector<uint8_t> CopyRows(const PagedKvCache& c, SequenceId seq) {
  std::vector<uint8_t> out;
  const size_t row = static_cast<size_t>(kShape.head_dim) * (c.type() == TensorType::kF16 ? 2 : 4);
  for (int layer = 0; layer < kShape.n_layer; ++layer) {
    for (int h = 0; h < kShape.n_kv_head; ++h) {
      for (const kernels::KvRows& rows : {c.Keys(seq, layer, h), c.Values(seq, layer, h)}) {
        for (int64_t pos = 0; pos < c.length(seq); ++pos) {
          out.insert(out.end(), rows.Row(pos), rows.Row(pos) + row);
        }
      }
    }
  }
  return out;
}

std::unique_ptr<PagedKvCache> MakeCache(int block_size, int64_t max_positions,
                                        TensorType type = TensorType::kF16,
                                        KvCacheShape shape = kShape) {
  auto cache = PagedKvCache::Create(
      shape, {.block_size = block_size, .max_positions = max_positions, .type = type});
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::move(*cache) : nullptr;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("engram_paged_kv_cache_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// ---- layout and rows ---------------------------------------------------------------------------

TEST(PagedKvCacheTest, SizesFollowShapeAndBlockSize) {
  auto cache = MakeCache(16, 100, TensorType::kF16);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->block_size(), 16);
  EXPECT_EQ(cache->total_blocks(), 7);  // 100 positions rounded up to whole blocks
  EXPECT_EQ(cache->free_blocks(), 7);
  EXPECT_EQ(cache->bytes_per_position(), 2u * 2 * 3 * 8 * 2);
  EXPECT_EQ(cache->block_bytes(), cache->bytes_per_position() * 16);
  auto f32 = MakeCache(1, 5, TensorType::kF32);
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->total_blocks(), 5);
  EXPECT_EQ(f32->bytes_per_position(), 2u * 2 * 3 * 8 * 4);
  EXPECT_EQ(f32->block_bytes(), f32->bytes_per_position());
}

TEST(PagedKvCacheTest, StoresRowsAndExactKeyBoundsPerBlock) {
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int bs : {1, 16, 64}) {
      SCOPED_TRACE(std::string(TensorTypeName(type)) + " blocks of " + std::to_string(bs));
      auto cache = MakeCache(bs, 300, type);
      ASSERT_NE(cache, nullptr);
      PagedKvCache& c = *cache;
      Result<SequenceId> seq = c.NewSequence();
      ASSERT_TRUE(seq.ok());
      EXPECT_EQ(c.length(*seq), 0);
      // Two forward passes with lengths that are not multiples of the block size.
      Append(c, *seq, 37, 1);
      Append(c, *seq, 101, 1);
      ExpectRows(c, *seq, Origins(101, 1));
      ExpectExactBounds(c, *seq, Origins(101, 1));
      EXPECT_EQ(c.free_blocks(), c.total_blocks() - (101 + bs - 1) / bs);

      const kernels::KvRows keys = c.Keys(*seq, 1, 2);
      EXPECT_EQ(keys.type, type);
      EXPECT_EQ(keys.row_stride, 8u * (type == TensorType::kF16 ? 2 : 4));
      // Each layer keeps its part of every block together: one layer's share of a block apart.
      EXPECT_EQ(keys.block_stride, c.block_bytes() / c.shape().n_layer);
      EXPECT_EQ(1 << keys.block_shift, bs);
      ASSERT_NE(keys.blocks, nullptr);
    }
  }
}

// What a GPU mirror of the pool relies on: the block table, copy-on-write copies reported as
// (from, to), and rows written through the raw block view reading back (bounds refreshed).
TEST(PagedKvCacheTest, MirrorApiReportsCopiesAndTakesRawRows) {
  auto cache = MakeCache(16, 300, TensorType::kF16);
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  Result<SequenceId> parent = c.NewSequence();
  ASSERT_TRUE(parent.ok());
  Append(c, *parent, 40, 1);  // blocks 0..2, the last partly filled
  ASSERT_EQ(c.BlockTable(*parent).size(), 3u);
  Result<SequenceId> child = c.Fork(*parent, 40);
  ASSERT_TRUE(child.ok());
  EXPECT_TRUE(std::equal(c.BlockTable(*child).begin(), c.BlockTable(*child).end(),
                         c.BlockTable(*parent).begin()));
  const int32_t shared_tail = c.BlockTable(*child)[2];
  std::vector<PagedKvCache::BlockCopy> copies;
  ASSERT_TRUE(c.Reserve(*child, 41, &copies).ok());  // writes into the shared tail: a copy
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].from, shared_tail);
  EXPECT_EQ(copies[0].to, c.BlockTable(*child)[2]);
  EXPECT_NE(copies[0].to, shared_tail);
  copies.clear();
  ASSERT_TRUE(c.Reserve(*child, 60, &copies).ok());  // private now, plus a new block
  EXPECT_TRUE(copies.empty());

  // Raw rows: the parent's blocks copied into a second cache, whose bounds are then refreshed.
  auto mirror = MakeCache(16, 300, TensorType::kF16);
  ASSERT_NE(mirror, nullptr);
  Result<SequenceId> seq = mirror->NewSequence();
  ASSERT_TRUE(seq.ok());
  ASSERT_TRUE(mirror->Reserve(*seq, 40).ok());
  mirror->Commit(*seq, 40);
  ASSERT_EQ(mirror->layer_block_bytes(), c.layer_block_bytes());
  for (size_t b = 0; b < 3; ++b) {
    for (int layer = 0; layer < kShape.n_layer; ++layer) {
      std::memcpy(mirror->MutableLayerBlock(mirror->BlockTable(*seq)[b], layer),
                  c.LayerBlockData(c.BlockTable(*parent)[b], layer), c.layer_block_bytes());
    }
  }
  mirror->RefreshBounds(*seq);
  ExpectRows(*mirror, *seq, Origins(40, 1));
  ExpectExactBounds(*mirror, *seq, Origins(40, 1));
}

TEST(PagedKvCacheTest, EmptyBlockBoundsAreInfinite) {
  auto cache = MakeCache(16, 64);
  ASSERT_NE(cache, nullptr);
  SequenceId seq = *cache->NewSequence();
  ASSERT_TRUE(cache->Reserve(seq, 20).ok());
  const float* lo = cache->KeyMin(seq, 0, 0, 1);
  const float* hi = cache->KeyMax(seq, 0, 0, 1);
  for (int d = 0; d < kShape.head_dim; ++d) {
    EXPECT_EQ(lo[d], std::numeric_limits<float>::infinity());
    EXPECT_EQ(hi[d], -std::numeric_limits<float>::infinity());
  }
}

TEST(PagedKvCacheTest, ConcurrentStoresIntoOneBlockKeepExactBounds) {
  auto cache = MakeCache(64, 64, TensorType::kF32);
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  SequenceId seq = *c.NewSequence();
  ASSERT_TRUE(c.Reserve(seq, 64).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, seq, t] {
      std::vector<float> k(kWidth), v(kWidth);
      for (int layer = 0; layer < kShape.n_layer; ++layer) {
        for (int64_t pos = t; pos < 64; pos += 4) {
          for (int j = 0; j < kWidth; ++j) {
            k[j] = Entry(5, layer, pos, j, 0);
            v[j] = Entry(5, layer, pos, j, 1);
          }
          c.Store(seq, layer, pos, k.data(), v.data());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  c.Commit(seq, 64);
  ExpectRows(c, seq, Origins(64, 5));
  ExpectExactBounds(c, seq, Origins(64, 5));
}

// ---- sequences and sharing ---------------------------------------------------------------------

TEST(PagedKvCacheTest, SequenceIdsAreReusedAndFreeReturnsBlocks) {
  auto cache = MakeCache(16, 256);
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  SequenceId a = *c.NewSequence();
  SequenceId b = *c.NewSequence();
  EXPECT_NE(a, b);
  Append(c, a, 50, 1);
  Append(c, b, 17, 2);
  EXPECT_EQ(c.free_blocks(), 16 - 4 - 2);
  c.Free(a);
  EXPECT_FALSE(c.Has(a));
  EXPECT_TRUE(c.Has(b));
  EXPECT_FALSE(c.Has(-1));
  EXPECT_FALSE(c.Has(1000));
  EXPECT_EQ(c.free_blocks(), 16 - 2);
  EXPECT_EQ(*c.NewSequence(), a);  // the freed slot
  c.Free(a);
  c.Free(a);  // freeing twice is harmless
  ExpectRows(c, b, Origins(17, 2));
  c.Free(b);
  EXPECT_EQ(c.free_blocks(), c.total_blocks());
}

TEST(PagedKvCacheTest, ForkSharesBlocksUntilTheForkWrites) {
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    SCOPED_TRACE(TensorTypeName(type));
    auto cache = MakeCache(16, 256, type);
    ASSERT_NE(cache, nullptr);
    PagedKvCache& c = *cache;
    SequenceId parent = *c.NewSequence();
    Append(c, parent, 40, 1);
    const std::vector<uint8_t> parent_rows = CopyRows(c, parent);
    const std::vector<float> parent_bounds = CopyBounds(c, parent);
    const int64_t free_before = c.free_blocks();

    // Fork in the middle of block 1: blocks 0 and 1 are shared, nothing is copied yet.
    Result<SequenceId> child = c.Fork(parent, 20);
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    EXPECT_EQ(c.free_blocks(), free_before);
    EXPECT_EQ(c.length(*child), 20);
    EXPECT_EQ(c.Keys(*child, 0, 0).Row(5), c.Keys(parent, 0, 0).Row(5));  // same memory
    ExpectRows(c, *child, Origins(20, 1));

    // The child writes positions 20..33: block 1 is copied, block 2 is new.
    Append(c, *child, 34, 2);
    EXPECT_EQ(c.free_blocks(), free_before - 2);
    EXPECT_NE(c.Keys(*child, 0, 0).Row(17), c.Keys(parent, 0, 0).Row(17));
    EXPECT_EQ(c.Keys(*child, 0, 0).Row(5), c.Keys(parent, 0, 0).Row(5));  // block 0 still shared
    Origins child_origins(34, 2);
    std::fill(child_origins.begin(), child_origins.begin() + 20, 1);
    ExpectRows(c, *child, child_origins);
    // The copy's bounds cover only the child's rows, not the parent's rows 20..31 of block 1.
    ExpectExactBounds(c, *child, child_origins);
    // The parent sees exactly what it saw before.
    EXPECT_EQ(CopyRows(c, parent), parent_rows);
    EXPECT_EQ(CopyBounds(c, parent), parent_bounds);
    ExpectExactBounds(c, parent, Origins(40, 1));
  }
}

TEST(PagedKvCacheTest, ParentWritesAfterForkDoNotChangeTheFork) {
  auto cache = MakeCache(16, 256);
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  SequenceId parent = *c.NewSequence();
  // The parent reserves past its committed length, inside its last block, before the fork.
  ASSERT_TRUE(c.Reserve(parent, 48).ok());
  StoreRange(c, parent, 0, 40, 1);
  c.Commit(parent, 40);
  SequenceId child = *c.Fork(parent, 40);  // shares all 3 blocks, block 2 partly filled
  const std::vector<uint8_t> child_rows = CopyRows(c, child);
  const std::vector<float> child_bounds = CopyBounds(c, child);
  const int64_t free_before = c.free_blocks();

  // The parent's next pass must Reserve again; that copies the shared block 2.
  Append(c, parent, 48, 3);
  EXPECT_EQ(c.free_blocks(), free_before - 1);
  Append(c, parent, 70, 3);
  Origins parent_origins(70, 3);
  std::fill(parent_origins.begin(), parent_origins.begin() + 40, 1);
  ExpectRows(c, parent, parent_origins);
  ExpectExactBounds(c, parent, parent_origins);

  EXPECT_EQ(CopyRows(c, child), child_rows);
  EXPECT_EQ(CopyBounds(c, child), child_bounds);
  ExpectExactBounds(c, child, Origins(40, 1));

  // Freeing the parent leaves the child's blocks alone.
  c.Free(parent);
  EXPECT_EQ(CopyRows(c, child), child_rows);
  c.Free(child);
  EXPECT_EQ(c.free_blocks(), c.total_blocks());
}

TEST(PagedKvCacheTest, ForkRejectsUnknownParentsAndLongLengths) {
  auto cache = MakeCache(16, 64);
  ASSERT_NE(cache, nullptr);
  SequenceId a = *cache->NewSequence();
  Append(*cache, a, 10, 1);
  EXPECT_EQ(cache->Fork(a, 11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Fork(a, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Fork(7, 0).status().code(), StatusCode::kInvalidArgument);
  Result<SequenceId> empty = cache->Fork(a, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(cache->length(*empty), 0);
  Append(*cache, *empty, 5, 2);
  ExpectRows(*cache, a, Origins(10, 1));
  ExpectRows(*cache, *empty, Origins(5, 2));
}

TEST(PagedKvCacheTest, ReserveFailsWhenThePoolIsFullAndChangesNothing) {
  auto cache = MakeCache(16, 64);  // 4 blocks
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  SequenceId a = *c.NewSequence();
  Append(c, a, 40, 1);  // 3 blocks
  SequenceId b = *c.Fork(a, 40);
  EXPECT_EQ(c.free_blocks(), 1);
  const std::vector<uint8_t> rows = CopyRows(c, b);

  // 64 positions need block 3 and a copy of the shared block 2: two blocks, one free.
  Status s = c.Reserve(b, 64);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(s.message(), "2 more blocks of 16 positions")) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "1 free")) << s.ToString();
  EXPECT_EQ(c.free_blocks(), 1);
  EXPECT_EQ(c.length(b), 40);
  EXPECT_EQ(CopyRows(c, b), rows);
  EXPECT_EQ(c.Keys(b, 0, 0).Row(35), c.Keys(a, 0, 0).Row(35));  // still shared

  // Within the block it already has, only the copy is needed: that fits.
  Append(c, b, 48, 2);
  EXPECT_EQ(c.free_blocks(), 0);
  SequenceId d = *c.NewSequence();
  EXPECT_EQ(c.Reserve(d, 1).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(c.Reserve(d, 0).ok());
  Origins b_origins(48, 2);
  std::fill(b_origins.begin(), b_origins.begin() + 40, 1);
  ExpectRows(c, b, b_origins);
  ExpectRows(c, a, Origins(40, 1));
}

TEST(PagedKvCacheTest, TruncateReleasesBlocksAndRecomputesBounds) {
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    SCOPED_TRACE(TensorTypeName(type));
    auto cache = MakeCache(16, 128, type);
    ASSERT_NE(cache, nullptr);
    PagedKvCache& c = *cache;
    SequenceId seq = *c.NewSequence();
    Append(c, seq, 50, 1);
    EXPECT_EQ(c.free_blocks(), 8 - 4);
    c.Truncate(seq, 20);
    EXPECT_EQ(c.length(seq), 20);
    EXPECT_EQ(c.free_blocks(), 8 - 2);
    ExpectRows(c, seq, Origins(20, 1));
    ExpectExactBounds(c, seq, Origins(20, 1));  // block 1 now holds only positions 16..19
    c.Truncate(seq, 30);                        // never grows
    EXPECT_EQ(c.length(seq), 20);

    // Rewrite the dropped positions with other entries.
    Append(c, seq, 35, 2);
    Origins origins(35, 2);
    std::fill(origins.begin(), origins.begin() + 20, 1);
    ExpectRows(c, seq, origins);
    ExpectExactBounds(c, seq, origins);

    // Committing a shorter length truncates as well.
    c.Commit(seq, 32);
    EXPECT_EQ(c.length(seq), 32);
    EXPECT_EQ(c.free_blocks(), 8 - 2);
    c.Truncate(seq, 0);
    EXPECT_EQ(c.length(seq), 0);
    EXPECT_EQ(c.free_blocks(), c.total_blocks());
  }
}

TEST(PagedKvCacheTest, TruncatingIntoASharedBlockKeepsTheOtherHolderIntact) {
  auto cache = MakeCache(16, 128);
  ASSERT_NE(cache, nullptr);
  PagedKvCache& c = *cache;
  SequenceId a = *c.NewSequence();
  Append(c, a, 40, 1);
  SequenceId b = *c.Fork(a, 40);
  const std::vector<uint8_t> b_rows = CopyRows(c, b);
  const std::vector<float> b_bounds = CopyBounds(c, b);
  c.Truncate(a, 20);  // into shared block 1
  ExpectRows(c, a, Origins(20, 1));
  // A's bounds of the shared block stay a superset of its rows (still an upper bound).
  for (int d = 0; d < kShape.head_dim; ++d) {
    for (int64_t pos = 16; pos < 20; ++pos) {
      const float x = Rounded(c.type(), Entry(1, 0, pos, d, 0));
      EXPECT_LE(c.KeyMin(a, 0, 0, 1)[d], x);
      EXPECT_GE(c.KeyMax(a, 0, 0, 1)[d], x);
    }
  }
  // Writing A's new tail copies the block and makes its bounds exact again.
  Append(c, a, 30, 2);
  Origins origins(30, 2);
  std::fill(origins.begin(), origins.begin() + 20, 1);
  ExpectRows(c, a, origins);
  ExpectExactBounds(c, a, origins);
  EXPECT_EQ(CopyRows(c, b), b_rows);
  EXPECT_EQ(CopyBounds(c, b), b_bounds);
}

// ---- files -------------------------------------------------------------------------------------

TEST(PagedKvCacheTest, SaveAndLoadRoundTripBitwise) {
  TempDir dir;
  for (TensorType type : {TensorType::kF32, TensorType::kF16}) {
    for (int bs : {1, 16}) {
      SCOPED_TRACE(std::string(TensorTypeName(type)) + " blocks of " + std::to_string(bs));
      auto source = MakeCache(bs, 256, type);
      auto target = MakeCache(bs, 128, type);
      ASSERT_NE(source, nullptr);
      ASSERT_NE(target, nullptr);
      SequenceId seq = *source->NewSequence();
      Append(*source, seq, 37, 4);
      const std::string path = dir.File("cache.kv");
      ASSERT_TRUE(source->Save(seq, path, "model-a").ok());
      EXPECT_FALSE(fs::exists(path + ".tmp"));

      SequenceId other = *target->NewSequence();  // the load gets a fresh id
      Append(*target, other, 3, 9);
      Result<SequenceId> loaded = target->Load(path, "model-a");
      ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
      EXPECT_NE(*loaded, other);
      EXPECT_EQ(target->length(*loaded), 37);
      EXPECT_EQ(CopyRows(*target, *loaded), CopyRows(*source, seq));
      EXPECT_EQ(CopyBounds(*target, *loaded), CopyBounds(*source, seq));
      ExpectExactBounds(*target, *loaded, Origins(37, 4));

      // The loaded sequence is an ordinary one: it can grow.
      Append(*target, *loaded, 50, 5);
      Origins origins(50, 5);
      std::fill(origins.begin(), origins.begin() + 37, 4);
      ExpectRows(*target, *loaded, origins);
      ExpectExactBounds(*target, *loaded, origins);

      // Saving again over the file replaces it; the same sequence saves the same bytes.
      const std::string first = ReadFile(path);
      ASSERT_TRUE(source->Save(seq, path, "model-a").ok());
      EXPECT_EQ(ReadFile(path), first);
    }
  }
}

TEST(PagedKvCacheTest, SavedFilesDependOnlyOnTheSequence) {
  // Rows past the end of the last block (here: left over from a longer past) are not saved.
  TempDir dir;
  auto a = MakeCache(16, 128);
  auto b = MakeCache(16, 64);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  SequenceId long_seq = *a->NewSequence();
  Append(*a, long_seq, 48, 1);
  a->Truncate(long_seq, 37);
  SequenceId short_seq = *b->NewSequence();
  Append(*b, short_seq, 37, 1);
  ASSERT_TRUE(a->Save(long_seq, dir.File("a.kv"), "m").ok());
  ASSERT_TRUE(b->Save(short_seq, dir.File("b.kv"), "m").ok());
  EXPECT_EQ(ReadFile(dir.File("a.kv")), ReadFile(dir.File("b.kv")));
}

TEST(PagedKvCacheTest, SavesAndLoadsAnEmptySequence) {
  TempDir dir;
  auto cache = MakeCache(16, 64);
  ASSERT_NE(cache, nullptr);
  SequenceId seq = *cache->NewSequence();
  const std::string path = dir.File("empty.kv");
  ASSERT_TRUE(cache->Save(seq, path, "m").ok());
  Result<SequenceId> loaded = cache->Load(path, "m");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(cache->length(*loaded), 0);
  EXPECT_EQ(cache->free_blocks(), cache->total_blocks());
  EXPECT_EQ(cache->Save(99, path, "m").code(), StatusCode::kInvalidArgument);
}

class PagedKvCacheFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = MakeCache(16, 128);
    ASSERT_NE(cache_, nullptr);
    seq_ = *cache_->NewSequence();
    Append(*cache_, seq_, 37, 1);
    path_ = dir_.File("cache.kv");
    ASSERT_TRUE(cache_->Save(seq_, path_, "llama-fp-1").ok());
    bytes_ = ReadFile(path_);
    free_before_ = cache_->free_blocks();
  }

  // Loads path_ into cache_ (or `into`) and checks that a failure changed nothing.
  Status LoadFails(PagedKvCache* into = nullptr, std::string_view fingerprint = "llama-fp-1") {
    PagedKvCache& c = into != nullptr ? *into : *cache_;
    const int64_t free_before = c.free_blocks();
    Result<SequenceId> r = c.Load(path_, fingerprint);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(c.free_blocks(), free_before);
    return r.ok() ? Status::OK() : r.status();
  }

  TempDir dir_;
  std::unique_ptr<PagedKvCache> cache_;
  SequenceId seq_ = 0;
  std::string path_;
  std::string bytes_;
  int64_t free_before_ = 0;
};

TEST_F(PagedKvCacheFileTest, RefusesAnotherModel) {
  Status s = LoadFails(nullptr, "qwen-fp-2");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "llama-fp-1")) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "qwen-fp-2")) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
}

TEST_F(PagedKvCacheFileTest, RefusesAnotherShapeTypeOrBlockSize) {
  auto other_shape = MakeCache(16, 128, TensorType::kF16, {2, 3, 16});
  auto other_type = MakeCache(16, 128, TensorType::kF32);
  auto other_blocks = MakeCache(32, 128);
  for (PagedKvCache* c : {other_shape.get(), other_type.get(), other_blocks.get()}) {
    ASSERT_NE(c, nullptr);
    Status s = LoadFails(c);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(s.message(), "was made for")) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
  }
}

TEST_F(PagedKvCacheFileTest, RefusesATruncatedFile) {
  for (size_t cut : {size_t{1}, size_t{5}, size_t{33}, bytes_.size() / 2, size_t{60}}) {
    WriteFile(path_, bytes_.substr(0, bytes_.size() - cut));
    Status s = LoadFails();
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), "truncated")) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
  }
  WriteFile(path_, bytes_.substr(0, bytes_.size() - 3));
  Status s = LoadFails();
  EXPECT_TRUE(Contains(s.message(), "expected " + std::to_string(bytes_.size()) + " bytes"))
      << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "found " + std::to_string(bytes_.size() - 3))) << s.ToString();
}

TEST_F(PagedKvCacheFileTest, RefusesTrailingBytes) {
  WriteFile(path_, bytes_ + "x");
  Status s = LoadFails();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_TRUE(Contains(s.message(), "trailing bytes")) << s.ToString();
}

TEST_F(PagedKvCacheFileTest, RefusesAFlippedByte) {
  // A byte of a block's rows, one of the last block's key bounds, one of the checksum itself.
  for (size_t at : {bytes_.size() / 2, bytes_.size() - 40, bytes_.size() - 1}) {
    std::string damaged = bytes_;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    WriteFile(path_, damaged);
    Status s = LoadFails();
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), "checksum")) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
  }
}

TEST_F(PagedKvCacheFileTest, ReportsMissingAndForeignFiles) {
  const std::string missing = dir_.File("missing.kv");
  Result<SequenceId> r = cache_->Load(missing, "llama-fp-1");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), missing)) << r.status().ToString();

  for (const std::string& garbage :
       {std::string("hello, this is not a kv cache at all, but it is long enough"),
        std::string("ENGRAM"), std::string()}) {
    WriteFile(path_, garbage);
    Status s = LoadFails();
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
    EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
  }
  // Right magic, cut inside the header.
  WriteFile(path_, bytes_.substr(0, 20));
  Status s = LoadFails();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_TRUE(Contains(s.message(), "truncated")) << s.ToString();

  // A version from the future.
  std::string future = bytes_;
  future[8] = 2;
  WriteFile(path_, future);
  EXPECT_EQ(LoadFails().code(), StatusCode::kNotSupported);
}

TEST_F(PagedKvCacheFileTest, RefusesWhenThePoolIsFull) {
  auto small = MakeCache(16, 32);  // 2 blocks; the file needs 3
  ASSERT_NE(small, nullptr);
  Status s = LoadFails(small.get());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(s.message(), path_)) << s.ToString();
  EXPECT_EQ(small->free_blocks(), 2);
  // No sequence was created either: the first new one gets id 0.
  EXPECT_FALSE(small->Has(0));
  EXPECT_EQ(*small->NewSequence(), 0);
}

TEST_F(PagedKvCacheFileTest, SaveReportsAnUnwritablePath) {
  Status s = cache_->Save(seq_, dir_.File("no/such/dir/cache.kv"), "llama-fp-1");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "no/such/dir/cache.kv")) << s.ToString();
}

// ---- creation errors ---------------------------------------------------------------------------

TEST(PagedKvCacheTest, CreateRejectsBadShapesSizesAndTypes) {
  auto code = [](KvCacheShape shape, PagedKvCacheOptions options) {
    return PagedKvCache::Create(shape, options).status().code();
  };
  EXPECT_EQ(code({0, 1, 8}, {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({1, -1, 8}, {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({1, 1, 0}, {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(kShape, {.max_positions = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(kShape, {.max_positions = -5}), StatusCode::kInvalidArgument);
  for (int bs : {12, 0, -16, 2048, 3}) {
    auto r = PagedKvCache::Create(kShape, {.block_size = bs});
    ASSERT_FALSE(r.ok()) << bs;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(r.status().message(), "power of two")) << r.status().ToString();
  }
  EXPECT_TRUE(PagedKvCache::Create(kShape, {.block_size = 1024, .max_positions = 1}).ok());

  auto q = PagedKvCache::Create(kShape, {.type = TensorType::kQ4_0});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(q.status().message(), "use f16 or f32")) << q.status().ToString();

  // Sizes that would overflow or could never be reserved are refused up front.
  for (int64_t positions : {int64_t{1} << 40, std::numeric_limits<int64_t>::max()}) {
    auto huge = PagedKvCache::Create({30, 3, 64}, {.max_positions = positions});
    ASSERT_FALSE(huge.ok());
    EXPECT_TRUE(Contains(huge.status().message(), "1 TiB")) << huge.status().ToString();
  }
  auto wide = PagedKvCache::Create({1 << 30, 1 << 30, 1 << 30}, {.max_positions = 1});
  EXPECT_EQ(wide.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace engram::inference
