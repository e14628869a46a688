// EpisodicStore recall beyond the plain combined score: pseudo-relevance feedback for BM25 and
// the dated text the store embeds (episodic_index_text_test.cc covers the index text). Embeddings
// are the deterministic test vectors (tests/memory/test_vectors.h); `engram eval memory` measures
// what these do on LoCoMo.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "memory/episodic_store.h"
#include "tests/memory/test_vectors.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using testing::VectorFor;

constexpr int64_t kDay = 24LL * 3600 * 1000;
constexpr int64_t kMay8th2023 = 1683504000000;  // 2023-05-08T00:00:00Z

// Recall without feedback; each test turns on what it checks.
RecallOptions Plain() {
  RecallOptions o;
  o.feedback_terms = 0;
  return o;
}

class EpisodicRecallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engram-recall-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    StoreOptions options;
    options.embedder = &embedder_;
    // BM25 over each turn's text alone, so that feedback's arithmetic is exact.
    options.index_context_turns = 0;
    options.index_date = false;
    auto store = EpisodicStore::Open(dir_.string(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  uint64_t Add(const std::string& session, const std::string& text, int64_t time_ms,
               int64_t expires_ms = 0) {
    Episode e;
    e.session = session;
    e.text = text;
    e.timestamp_ms = time_ms;
    e.expires_ms = expires_ms;
    Result<uint64_t> id = store_->Append("ns", e);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  // Unrelated turns in other sessions, so that idf is positive for the words under test.
  void AddFiller() {
    const char* filler[] = {"lunch was pasta today",  "the train was late again",
                            "a new phone arrived",    "rain all week long",
                            "the cat sleeps all day", "we painted the fence"};
    int64_t t = kMay8th2023 + 30 * kDay;
    for (const char* text : filler) Add("filler", text, t += 1000);
  }
  // Recall by BM25 alone (plus feedback as set), every component exposed.
  std::vector<RecalledEpisode> Bm25Recall(const std::string& query, RecallOptions o = Plain()) {
    o.relevance_weight = 0;
    o.bm25_weight = 1;
    o.recency_weight = 0;
    o.importance_weight = 0;
    o.k = 20;
    o.now_ms = kMay8th2023 + 100 * kDay;
    Result<std::vector<RecalledEpisode>> r = store_->Recall("ns", query, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<RecalledEpisode>();
  }
  static const RecalledEpisode* Find(const std::vector<RecalledEpisode>& hits, uint64_t id) {
    for (const RecalledEpisode& h : hits) {
      if (h.episode.id == id) return &h;
    }
    return nullptr;
  }

  testing::TextEmbedder embedder_;
  fs::path dir_;
  std::unique_ptr<EpisodicStore> store_;
};

TEST_F(EpisodicRecallTest, FeedbackFindsWhatTheBestHitsShareButTheQueryLacks) {
  AddFiller();
  Add("s1", "Caroline went hiking near the glacier lake", kMay8th2023);
  Add("s1", "the glacier lake was freezing, Caroline said", kMay8th2023 + 1000);
  const uint64_t related = Add("s2", "photos of the glacier from the trip", kMay8th2023 + kDay);
  EXPECT_EQ(Find(Bm25Recall("hiking lake"), related), nullptr);

  RecallOptions o = Plain();
  o.feedback_terms = 20;  // every term of the two hits (few documents: idf is low for all)
  o.feedback_episodes = 2;
  o.feedback_weight = 0.5;
  const std::vector<RecalledEpisode> expanded = Bm25Recall("hiking lake", o);
  ASSERT_NE(Find(expanded, related), nullptr);
  EXPECT_GT(Find(expanded, related)->bm25, 0.0);
  EXPECT_NE(expanded[0].episode.id, related);  // the feedback ranks below what was asked
}

// In a namespace of a few episodes the feedback hits would be all of it: feedback stays off
// until it holds 4 × feedback_episodes.
TEST_F(EpisodicRecallTest, FeedbackWaitsForANamespaceLargerThanItsHits) {
  Add("s1", "my sister Ana lives in Porto", kMay8th2023);
  Add("s1", "I had pancakes for breakfast", kMay8th2023 + 1000);
  RecallOptions o = Plain();
  o.feedback_terms = 25;
  o.feedback_episodes = 1;
  const auto bm25 = [](const std::vector<RecalledEpisode>& hits) {
    std::vector<std::pair<uint64_t, double>> out;
    for (const RecalledEpisode& h : hits) out.push_back({h.episode.id, h.bm25});
    return out;
  };
  EXPECT_EQ(bm25(Bm25Recall("sister Ana", o)), bm25(Bm25Recall("sister Ana")));
  o.feedback_episodes = 2;  // 4 × 2 > 2 episodes
  EXPECT_EQ(bm25(Bm25Recall("sister Ana", o)), bm25(Bm25Recall("sister Ana")));
  AddFiller();  // 8 episodes: feedback runs, and scores the pancakes turn by Ana's words
  o.feedback_episodes = 1;
  EXPECT_NE(bm25(Bm25Recall("sister Ana", o)), bm25(Bm25Recall("sister Ana")));
}

// Dense feedback (Rocchio): relevance is the cosine with the query vector plus the weight times
// the mean embedding of the best BM25 hits, normalised; checked against that arithmetic.
TEST_F(EpisodicRecallTest, DenseFeedbackMovesTheQueryTowardTheBestBm25Hits) {
  AddFiller();
  const std::string hit = "Caroline went hiking near the glacier lake";
  const uint64_t hit_id = Add("s1", hit, kMay8th2023);
  const uint64_t other = Add("s2", "photos from the trip", kMay8th2023 + kDay);
  const std::vector<float> q = VectorFor("a question"), a = VectorFor(hit);
  RecallOptions o = Plain();
  o.bm25_weight = 1;
  o.recency_weight = o.importance_weight = 0;
  o.k = 20;
  o.query_embedding = q;
  o.feedback_episodes = 1;
  for (double weight : {0.0, 0.5, 2.0}) {
    o.dense_feedback_weight = weight;
    Result<std::vector<RecalledEpisode>> hits = store_->Recall("ns", "hiking", o);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    std::vector<double> moved(q.size());
    double norm = 0;
    for (size_t d = 0; d < q.size(); ++d) {
      moved[d] = q[d] + weight * a[d];
      norm += moved[d] * moved[d];
    }
    for (const auto& [id, text] :
         {std::pair{hit_id, hit}, std::pair{other, std::string("photos from the trip")}}) {
      const std::vector<float> e = VectorFor(text);
      double want = 0;
      for (size_t d = 0; d < q.size(); ++d) want += moved[d] / std::sqrt(norm) * e[d];
      const RecalledEpisode* r = Find(*hits, id);
      ASSERT_NE(r, nullptr) << weight << " " << text;
      EXPECT_NEAR(r->relevance, want, 1e-5) << weight << " " << text;
    }
  }
}

TEST_F(EpisodicRecallTest, TheStoreEmbedsTheDatedTextWhenAsked) {
  Episode e;
  e.session = "s1";
  e.text = "my sister Ana lives in Porto";
  e.timestamp_ms = kMay8th2023 + 13 * 3600 * 1000;
  EXPECT_EQ(EmbeddingText(e), "[8 May 2023] my sister Ana lives in Porto");
  EXPECT_EQ(EmbeddingText(e, /*with_date=*/false), e.text);
  // By default the store embeds the text; with embed_date, the dated text.
  StoreOptions dated;
  dated.embedder = &embedder_;
  dated.embed_date = true;
  Result<std::unique_ptr<EpisodicStore>> other =
      EpisodicStore::Open((dir_ / "dated").string(), dated);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  for (auto [store, embedded] : {std::pair{store_.get(), e.text},
                                 std::pair{other->get(), EmbeddingText(e)}}) {
    Result<uint64_t> id = store->Append("ns", e);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    RecallOptions o;
    o.k = 1;
    o.bm25_weight = o.recency_weight = o.importance_weight = 0;
    o.query_embedding = VectorFor(embedded);
    Result<std::vector<RecalledEpisode>> hits = store->Recall("ns", "", o);
    ASSERT_TRUE(hits.ok() && hits->size() == 1);
    EXPECT_EQ((*hits)[0].episode.id, *id);
    EXPECT_NEAR((*hits)[0].relevance, 1.0, 1e-5) << embedded;
  }
}

TEST_F(EpisodicRecallTest, BadFeedbackOptionsAreRefused) {
  Add("s1", "hello", kMay8th2023);
  auto refused = [&](RecallOptions o, const std::string& field) {
    o.query_embedding = VectorFor("hello");
    Result<std::vector<RecalledEpisode>> r = store_->Recall("ns", "hello", o);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().ToString();
  };
  RecallOptions o;
  o.feedback_terms = -1;
  refused(o, "feedback_terms");
  o = {};
  o.feedback_episodes = 0;
  refused(o, "feedback_episodes");
  o = {};
  o.feedback_weight = -0.5;
  refused(o, "feedback_weight");
  o = {};
  o.feedback_weight = std::numeric_limits<double>::quiet_NaN();
  refused(o, "feedback_weight");
  o = {};
  o.dense_feedback_weight = -1;
  refused(o, "dense_feedback_weight");
}

}  // namespace
}  // namespace engram::memory
