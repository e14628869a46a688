// RerankHits: the first N hits rescored as score + weight × the reranker's score, the rest kept
// in order after them; the options are checked and a reranker that scores the wrong number of
// passages is an error, not a silent mix.
#include "retrieval/rerank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace engram::retrieval {
namespace {

// Scores each passage by a fixed table (the ordering logic is under test, not a model).
class TableReranker final : public Reranker {
 public:
  explicit TableReranker(std::map<std::string, double> scores, bool drop_one = false)
      : scores_(std::move(scores)), drop_one_(drop_one) {}
  std::string_view Name() const override { return "table"; }
  Result<std::vector<double>> Score(std::string_view,
                                    std::span<const std::string> passages) override {
    std::vector<double> out;
    for (const std::string& p : passages) out.push_back(scores_.at(p));
    if (drop_one_) out.pop_back();
    return out;
  }

 private:
  std::map<std::string, double> scores_;
  bool drop_one_;
};

std::vector<SearchHit> Hits() {
  std::vector<SearchHit> hits;
  for (const auto& [text, score] : std::vector<std::pair<std::string, double>>{
           {"a", 1.0}, {"b", 0.9}, {"c", 0.8}, {"d", 0.7}}) {
    SearchHit h;
    h.text = text;
    h.score = score;
    hits.push_back(h);
  }
  return hits;
}

TEST(RerankTest, TheFirstCandidatesAreRescoredAndTheRestKeepTheirOrder) {
  TableReranker reranker({{"a", 0.0}, {"b", 0.1}, {"c", 0.5}, {"d", 9.0}});
  auto r = RerankHits("q", Hits(), reranker, {.candidates = 3, .weight = 1.0});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> order;
  for (const SearchHit& h : *r) order.push_back(h.text);
  // c: 0.8 + 0.5 = 1.3, a: 1.0, b: 1.0 (a first: a stable sort keeps ties in search order); d
  // is past the candidates, so its 9.0 is never asked for and it stays last.
  EXPECT_EQ(order, (std::vector<std::string>{"c", "a", "b", "d"}));
  EXPECT_DOUBLE_EQ((*r)[0].score, 1.3);
  EXPECT_DOUBLE_EQ((*r)[0].rerank_score, 0.5);
  EXPECT_DOUBLE_EQ((*r)[3].score, 0.7);
  EXPECT_DOUBLE_EQ((*r)[3].rerank_score, 0.0);
}

TEST(RerankTest, WeightZeroKeepsTheSearchOrder) {
  TableReranker reranker({{"a", 0.0}, {"b", 5.0}, {"c", 9.0}, {"d", 1.0}});
  auto r = RerankHits("q", Hits(), reranker, {.candidates = 4, .weight = 0.0});
  ASSERT_TRUE(r.ok());
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ((*r)[i].text, Hits()[i].text);
}

TEST(RerankTest, FewerHitsThanCandidatesAndNoHitsAreFine) {
  TableReranker reranker({{"a", 0.0}, {"b", 5.0}, {"c", 0.0}, {"d", 0.0}});
  auto r = RerankHits("q", Hits(), reranker, {.candidates = 100, .weight = 1.0});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].text, "b");
  auto none = RerankHits("q", {}, reranker, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(RerankTest, BadOptionsAndAShortScoreListAreErrors) {
  TableReranker reranker({{"a", 0.0}, {"b", 0.0}, {"c", 0.0}, {"d", 0.0}});
  for (const RerankOptions& o :
       {RerankOptions{.candidates = 0}, RerankOptions{.candidates = kMaxRerankCandidates + 1},
        RerankOptions{.weight = -1.0}, RerankOptions{.weight = std::nan("")},
        RerankOptions{.weight = INFINITY}}) {
    auto r = RerankHits("q", Hits(), reranker, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  TableReranker short_list({{"a", 0.0}, {"b", 0.0}, {"c", 0.0}, {"d", 0.0}}, /*drop_one=*/true);
  auto r = RerankHits("q", Hits(), short_list, {.candidates = 3});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace engram::retrieval
