// A collection's chunk record: the format-6 layout round-trips with its sentence vectors, the
// format-5 layout as before; int8 sentence vectors keep their cosines; damaged records are
// refused without reading past their end.
#include "retrieval/internal/chunk_record.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace engram::retrieval::internal {
namespace {

std::vector<float> UnitVector(std::mt19937& rng, size_t dim) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  double n = 0.0;
  for (float& x : v) n += double(x = normal(rng)) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) d += double(a[i]) * b[i];
  return d;
}

ChunkRecord Sample(std::mt19937& rng, size_t dim, size_t sentences) {
  ChunkRecord r{.document = 7, .begin = 10, .end = 42, .tokens = 9, .terms = 5};
  r.embedding = UnitVector(rng, dim);
  for (size_t s = 0; s < sentences; ++s)
    r.sentences.push_back(QuantizeVector(UnitVector(rng, dim)));
  r.text = "Two sentences here. And the second one.";
  return r;
}

TEST(ChunkRecordTest, BothLayoutsRoundTrip) {
  std::mt19937 rng(1);
  const ChunkRecord r = Sample(rng, 16, 3);
  const std::optional<ChunkRecord> six = ChunkRecord::Decode(r.Encode(true), true);
  ASSERT_TRUE(six);
  EXPECT_EQ(six->document, 7u);
  EXPECT_EQ(six->begin, 10u);
  EXPECT_EQ(six->end, 42u);
  EXPECT_EQ(six->tokens, 9u);
  EXPECT_EQ(six->terms, 5u);
  EXPECT_EQ(six->embedding, r.embedding);
  ASSERT_EQ(six->sentences.size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(six->sentences[s].scale, r.sentences[s].scale);
    EXPECT_EQ(six->sentences[s].codes, r.sentences[s].codes);
  }
  EXPECT_EQ(six->text, r.text);
  // Format 5 has no sentence section: the same record without its sentences.
  const std::optional<ChunkRecord> five = ChunkRecord::Decode(r.Encode(false), false);
  ASSERT_TRUE(five);
  EXPECT_TRUE(five->sentences.empty());
  EXPECT_EQ(five->embedding, r.embedding);
  EXPECT_EQ(five->text, r.text);
  // A chunk without sentences (empty text) in format 6.
  ChunkRecord none = r;
  none.sentences.clear();
  const std::optional<ChunkRecord> empty = ChunkRecord::Decode(none.Encode(true), true);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->sentences.empty());
  EXPECT_EQ(empty->text, r.text);
  EXPECT_FALSE(FindBestSentence(r.embedding, *empty));
}

TEST(ChunkRecordTest, Int8SentenceVectorsKeepTheirCosines) {
  std::mt19937 rng(2);
  const size_t dim = 384;  // all-MiniLM-L6-v2's
  const std::vector<float> query = UnitVector(rng, dim);
  double worst = 0.0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> v = UnitVector(rng, dim);
    // Half the trials lean towards the query, so the cosines are not all near 0.
    if (trial % 2 == 0) {
      for (size_t d = 0; d < dim; ++d) v[d] = 0.6f * v[d] + 0.8f * query[d];
      const double n = std::sqrt(Dot(v, v));
      for (float& x : v) x = static_cast<float>(x / n);
    }
    ChunkRecord r;
    r.embedding = v;
    r.sentences = {QuantizeVector(v)};
    worst = std::max(worst, std::fabs(FindBestSentence(query, r)->cosine - Dot(query, v)));
  }
  EXPECT_LT(worst, 0.005);
}

TEST(ChunkRecordTest, TheBestSentenceWinsAndZeroVectorsScoreZero) {
  const std::vector<float> query = {1.0f, 0.0f, 0.0f};
  ChunkRecord r;
  r.embedding = {0.0f, 1.0f, 0.0f};
  r.sentences = {QuantizeVector(std::vector<float>{0.0f, 0.0f, 1.0f}),
                 QuantizeVector(std::vector<float>{0.6f, 0.8f, 0.0f}),
                 QuantizeVector(std::vector<float>{0.0f, 0.0f, 0.0f})};
  EXPECT_EQ(r.sentences[2].scale, 0.0f);
  const std::optional<BestSentence> best = FindBestSentence(query, r);
  ASSERT_TRUE(best);
  EXPECT_EQ(best->index, 1u);
  EXPECT_NEAR(best->cosine, 0.6, 0.01);
  // Non-finite values quantize to a zero vector rather than to garbage codes.
  const QuantizedVector bad =
      QuantizeVector(std::vector<float>{std::numeric_limits<float>::infinity(), 1.0f});
  EXPECT_EQ(bad.scale, 0.0f);
  EXPECT_EQ(bad.codes, (std::vector<int8_t>{0, 0}));
}

TEST(ChunkRecordTest, DamagedRecordsAreRefused) {
  std::mt19937 rng(3);
  const std::string good = Sample(rng, 8, 2).Encode(true);
  // Every truncation inside the header, the embedding or the sentences is refused.
  const size_t text_at =
      good.size() - std::string("Two sentences here. And the second one.").size();
  for (size_t n = 0; n < text_at; ++n) {
    EXPECT_FALSE(ChunkRecord::Decode(good.substr(0, n), true)) << n;
  }
  // A sentence count far past the record's bytes (it could overflow a multiplication).
  std::string huge = good;
  const uint32_t count = 0xFFFFFFFFu;
  std::memcpy(huge.data() + 36 + 8 * 4, &count, 4);
  EXPECT_FALSE(ChunkRecord::Decode(huge, true));
}

}  // namespace
}  // namespace engram::retrieval::internal
