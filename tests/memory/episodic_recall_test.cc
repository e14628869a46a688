// EpisodicStore recall beyond the plain combined score: conversational context (the turns before
// a candidate lend it their BM25), pseudo-relevance feedback for BM25, and the dated text the
// store embeds. Embeddings are the deterministic test vectors (tests/memory/test_vectors.h);
// `engram eval memory` measures what these do on LoCoMo.
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

// Recall without conversational context or feedback; each test turns on what it checks.
RecallOptions Plain() {
  RecallOptions o;
  o.context_weight = 0;
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
  // Recall by BM25 alone (plus context and feedback as set), every component exposed.
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

TEST_F(EpisodicRecallTest, TheTurnAfterAMatchGetsItsBm25AsContext) {
  AddFiller();
  const uint64_t asked = Add("s1", "did you go to the support group?", kMay8th2023);
  const uint64_t answer = Add("s1", "yes, it was so inspiring", kMay8th2023 + 1000);
  const uint64_t later = Add("s1", "and then we had dinner", kMay8th2023 + 2000);

  const std::vector<RecalledEpisode> plain = Bm25Recall("support group");
  ASSERT_NE(Find(plain, asked), nullptr);
  EXPECT_EQ(Find(plain, answer), nullptr);  // no query word of its own
  const double asked_bm25 = Find(plain, asked)->bm25;

  RecallOptions o = Plain();
  o.context_weight = 0.5;
  o.context_turns = 1;
  const std::vector<RecalledEpisode> one = Bm25Recall("support group", o);
  ASSERT_NE(Find(one, answer), nullptr);
  EXPECT_DOUBLE_EQ(Find(one, answer)->bm25, 0.5 * asked_bm25);
  EXPECT_DOUBLE_EQ(Find(one, asked)->bm25, asked_bm25);  // nothing before it
  EXPECT_EQ(Find(one, later), nullptr);                  // two turns after: out of reach
  EXPECT_EQ(one[0].episode.id, asked);

  o.context_turns = 2;
  const std::vector<RecalledEpisode> two = Bm25Recall("support group", o);
  ASSERT_NE(Find(two, later), nullptr);
  EXPECT_DOUBLE_EQ(Find(two, later)->bm25, 0.5 * asked_bm25);
}

TEST_F(EpisodicRecallTest, ForgottenAndExpiredTurnsGiveNoContext) {
  AddFiller();
  const uint64_t asked = Add("s1", "did you go to the support group?", kMay8th2023);
  const uint64_t answer = Add("s1", "yes, it was so inspiring", kMay8th2023 + 1000);
  RecallOptions o = Plain();
  o.context_weight = 1.0;
  o.context_turns = 3;
  ASSERT_NE(Find(Bm25Recall("support group", o), answer), nullptr);
  ASSERT_TRUE(store_->Forget("ns", asked).ok());
  EXPECT_TRUE(Bm25Recall("support group", o).empty());

  // An expired turn steers nothing either (its postings stay until PurgeExpired).
  const uint64_t expiring =
      Add("s2", "the support group meets on fridays", kMay8th2023, kMay8th2023 + kDay);
  const uint64_t reply = Add("s2", "good to know", kMay8th2023 + 1000);
  RecallOptions before_expiry = o;
  before_expiry.now_ms = kMay8th2023 + 1000;
  Result<std::vector<RecalledEpisode>> early = store_->Recall("ns", "support group", [&] {
    RecallOptions r = before_expiry;
    r.relevance_weight = r.recency_weight = r.importance_weight = 0;
    r.bm25_weight = 1;
    return r;
  }());
  ASSERT_TRUE(early.ok());
  EXPECT_NE(Find(*early, reply), nullptr);
  const std::vector<RecalledEpisode> late = Bm25Recall("support group", o);
  EXPECT_EQ(Find(late, expiring), nullptr);
  EXPECT_EQ(Find(late, reply), nullptr);
}

TEST_F(EpisodicRecallTest, ContextFollowsSessionOrderNotIds) {
  AddFiller();
  // Appended out of order: the question comes last but is dated first.
  const uint64_t answer = Add("s1", "yes, it was so inspiring", kMay8th2023 + 1000);
  const uint64_t asked = Add("s1", "did you go to the support group?", kMay8th2023);
  RecallOptions o = Plain();
  o.context_weight = 0.5;
  o.context_turns = 1;
  const std::vector<RecalledEpisode> hits = Bm25Recall("support group", o);
  ASSERT_NE(Find(hits, answer), nullptr);
  EXPECT_DOUBLE_EQ(Find(hits, answer)->bm25, 0.5 * Find(hits, asked)->bm25);
}

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

TEST_F(EpisodicRecallTest, BadContextAndFeedbackOptionsAreRefused) {
  Add("s1", "hello", kMay8th2023);
  auto refused = [&](RecallOptions o, const std::string& field) {
    o.query_embedding = VectorFor("hello");
    Result<std::vector<RecalledEpisode>> r = store_->Recall("ns", "hello", o);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().ToString();
  };
  RecallOptions o;
  o.context_turns = kMaxContextTurns + 1;
  refused(o, "context_turns");
  o = {};
  o.context_weight = std::numeric_limits<double>::quiet_NaN();
  refused(o, "context_weight");
  o = {};
  o.feedback_terms = -1;
  refused(o, "feedback_terms");
  o = {};
  o.feedback_episodes = 0;
  refused(o, "feedback_episodes");
  o = {};
  o.feedback_weight = -0.5;
  refused(o, "feedback_weight");
}

}  // namespace
}  // namespace engram::memory
