// EpisodicStore's index text: BM25 indexes each turn with its session date and the turns before
// it (StoreOptions::index_context_turns, ::index_date), and every write re-indexes the turns
// whose context it changes. The strongest check: after any mix of writes, a store's BM25 scores
// equal those of a store built afresh from its live episodes.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "memory/episodic_store.h"
#include "tests/memory/raw_db.h"
#include "tests/memory/test_vectors.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using testing::RawDb;
using testing::TextEmbedder;

constexpr int64_t kMay8th2023 = 1683504000000;  // 2023-05-08T00:00:00Z
constexpr int64_t kDay = 24LL * 3600 * 1000;

class EpisodicIndexTextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("engram-index-text-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
  }
  void TearDown() override { fs::remove_all(base_); }

  std::unique_ptr<EpisodicStore> Open(const std::string& name, int turns, bool date,
                                      retrieval::Stemming stemming = StoreOptions{}.stemming) {
    StoreOptions options;
    options.embedder = &embedder_;
    options.sync = false;
    options.index_context_turns = turns;
    options.index_date = date;
    options.stemming = stemming;
    auto store = EpisodicStore::Open((base_ / name).string(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  static uint64_t Add(EpisodicStore& store, const std::string& session, const std::string& text,
                      int64_t time_ms) {
    Episode e;
    e.session = session;
    e.text = text;
    e.timestamp_ms = time_ms;
    Result<uint64_t> id = store.Append("ns", e);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  // Unrelated turns in another session, so that idf is positive for the words under test.
  static void AddFiller(EpisodicStore& store) {
    int64_t t = kMay8th2023 + 300 * kDay;
    for (const char* text :
         {"lunch was pasta today", "the train was late again", "a new phone arrived",
          "rain all week long", "the cat sleeps all day", "we painted the fence"}) {
      Add(store, "filler", text, t += 1000);
    }
  }
  static EpisodeChanges Retext(const std::string& text) {
    EpisodeChanges c;
    c.text = text;
    return c;
  }
  // BM25 alone, without feedback: each hit's text and BM25 score.
  static std::map<std::string, double> Bm25(const EpisodicStore& store, const std::string& query) {
    RecallOptions o;
    o.relevance_weight = 0;
    o.recency_weight = 0;
    o.importance_weight = 0;
    o.feedback_terms = 0;
    o.k = 1000;
    o.now_ms = kMay8th2023 + 1000 * kDay;
    Result<std::vector<RecalledEpisode>> r = store.Recall("ns", query, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::map<std::string, double> out;
    if (r.ok()) {
      for (const RecalledEpisode& h : *r) out[h.episode.text] = h.bm25;
    }
    return out;
  }
  // A store built afresh from `store`'s live episodes (same sessions, times and texts).
  std::unique_ptr<EpisodicStore> Rebuilt(const EpisodicStore& store, const std::string& name,
                                         int turns, bool date,
                                         const std::vector<std::string>& sessions) {
    auto fresh = Open(name, turns, date);
    for (const std::string& session : sessions) {
      Result<EpisodePage> page =
          store.ListSession("ns", session, {.limit = 10000, .page_token = {}});
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) continue;
      for (const Episode& e : page->episodes) Add(*fresh, e.session, e.text, e.timestamp_ms);
    }
    return fresh;
  }

  TextEmbedder embedder_;
  fs::path base_;
};

TEST_F(EpisodicIndexTextTest, AReplyIsFoundByTheWordsOfTheTurnBeforeIt) {
  for (int turns : {0, 1}) {
    auto store = Open("s" + std::to_string(turns), turns, /*date=*/false);
    AddFiller(*store);
    Add(*store, "s1", "did you go to the support group?", kMay8th2023);
    Add(*store, "s1", "yes, it was so inspiring", kMay8th2023 + 1000);
    Add(*store, "s1", "and then we had dinner", kMay8th2023 + 2000);
    const std::map<std::string, double> hits = Bm25(*store, "support group");
    EXPECT_EQ(hits.count("did you go to the support group?"), 1u);
    EXPECT_EQ(hits.count("yes, it was so inspiring"), turns == 1 ? 1u : 0u) << turns;
    EXPECT_EQ(hits.count("and then we had dinner"), 0u) << "two turns after is out of reach";
  }
}

TEST_F(EpisodicIndexTextTest, TheSessionDateIsIndexedWhenAsked) {
  for (bool date : {false, true}) {
    auto store = Open(date ? "dated" : "plain", 0, date);
    AddFiller(*store);  // 300 days later: another month
    Add(*store, "s1", "we adopted a puppy", kMay8th2023 + 3600 * 1000);
    const std::map<std::string, double> hits = Bm25(*store, "what happened in May 2023?");
    EXPECT_EQ(hits.count("we adopted a puppy"), date ? 1u : 0u);
    EXPECT_EQ(hits.size(), date ? 1u : 0u);
    Result<StoreStats> stats = store->Stats("ns");
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->index_date, date);
    EXPECT_EQ(stats->index_context_turns, 0);
  }
}

TEST_F(EpisodicIndexTextTest, ForgettingATurnTakesItsWordsOutOfTheNextTurns) {
  auto store = Open("s", 2, /*date=*/false);
  AddFiller(*store);
  const uint64_t asked = Add(*store, "s1", "did you go to the support group?", kMay8th2023);
  Add(*store, "s1", "yes, it was so inspiring", kMay8th2023 + 1000);
  Add(*store, "s1", "and then we had dinner", kMay8th2023 + 2000);
  EXPECT_EQ(Bm25(*store, "support group").size(), 3u);
  ASSERT_TRUE(store->Forget("ns", asked).ok());
  EXPECT_TRUE(Bm25(*store, "support group").empty());
  // An update rewrites the context of the turns after it too.
  const std::vector<Episode> turns = store->ListSession("ns", "s1", {})->episodes;
  ASSERT_EQ(turns.size(), 2u);
  ASSERT_TRUE(store->Update("ns", turns[0].id, Retext("the support group met")).ok());
  EXPECT_EQ(Bm25(*store, "support group").size(), 2u);
}

// Appends out of time order, batches across sessions, updates, forgets, a session forgotten
// and a consolidation: every score equals a fresh store's, for several index texts.
TEST_F(EpisodicIndexTextTest, AfterAnyWritesTheIndexEqualsAFreshOne) {
  const std::vector<std::string> words = {"ana",      "porto",  "guitar", "hiking",  "paris", "dog",
                                          "painting", "school", "garden", "concert", "lake"};
  const std::vector<std::string> sessions = {"a", "b", "c"};
  for (auto [turns, date] : {std::pair{2, true}, std::pair{1, false}, std::pair{3, true}}) {
    SCOPED_TRACE(std::to_string(turns) + " turns, date " + std::to_string(date));
    const std::string name = std::to_string(turns) + (date ? "d" : "");
    auto store = Open(name, turns, date);
    std::mt19937 rng(turns * 7 + date);
    const auto text = [&](int i) {
      std::string t = "turn " + std::to_string(i);
      for (int w = 0; w < 3; ++w) t += " " + words[rng() % words.size()];
      return t;
    };
    std::vector<uint64_t> ids;
    for (int i = 0; i < 40; ++i) {
      const std::string& session = sessions[rng() % sessions.size()];
      const int64_t time = kMay8th2023 + static_cast<int64_t>(rng() % 20) * kDay / 4;
      if (i % 10 == 9) {  // a batch over two sessions
        std::vector<Episode> batch(3);
        for (size_t b = 0; b < batch.size(); ++b) {
          batch[b].session = sessions[(i + b) % sessions.size()];
          batch[b].text = text(i * 10 + static_cast<int>(b));
          batch[b].timestamp_ms = time + static_cast<int64_t>(b);
        }
        Result<std::vector<uint64_t>> added = store->AppendBatch("ns", batch);
        ASSERT_TRUE(added.ok()) << added.status().ToString();
        ids.insert(ids.end(), added->begin(), added->end());
      } else {
        ids.push_back(Add(*store, session, text(i), time));
      }
    }
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(store->Update("ns", ids[rng() % ids.size()], Retext(text(1000 + i))).ok());
    }
    ASSERT_TRUE(store->Forget("ns", std::vector<uint64_t>{ids[3], ids[4], ids[17]}).ok());
    const Summarizer summarize = [](std::span<const Episode> e) -> Result<std::string> {
      return "summary of " + std::to_string(e.size()) + " turns about ana and porto";
    };
    Result<uint64_t> summary = store->Consolidate("ns", "b", summarize, {.keep_recent = 3});
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
    auto fresh = Rebuilt(*store, name + "-fresh", turns, date, sessions);
    for (const std::string query : {"ana porto", "guitar hiking lake", "turn 1003 school",
                                    "summary concert", "8 May 2023 dog", "painting garden"}) {
      SCOPED_TRACE(query);
      const std::map<std::string, double> got = Bm25(*store, query), want = Bm25(*fresh, query);
      ASSERT_FALSE(want.empty());
      ASSERT_EQ(got.size(), want.size());
      for (const auto& [t, score] : want) {
        ASSERT_EQ(got.count(t), 1u) << t;
        EXPECT_NEAR(got.at(t), score, 1e-9 * score) << t;
      }
    }
    ASSERT_TRUE(store->ForgetSession("ns", "a").ok());
    fresh = Rebuilt(*store, name + "-fresh-2", turns, date, sessions);
    EXPECT_EQ(Bm25(*store, "ana porto guitar"), Bm25(*fresh, "ana porto guitar"));
  }
}

// A format-3 store (BM25 over each turn's text alone) opens upgraded: re-indexed with the index
// text asked for, and the same as a store made with it; a second open changes nothing.
TEST_F(EpisodicIndexTextTest, AFormat3StoreIsUpgradedInPlace) {
  std::vector<std::pair<std::string, std::string>> turns = {
      {"s1", "did you go to the support group?"},
      {"s1", "yes, it was so inspiring"},
      {"s2", "my sister ana lives in porto"},
      {"s2", "she plays the guitar there"}};
  {
    auto old = Open("old", 0, false);
    AddFiller(*old);
    int64_t t = kMay8th2023;
    for (const auto& [session, text] : turns) Add(*old, session, text, t += 1000);
  }
  {
    RawDb raw(base_ / "old" / "db");
    ASSERT_TRUE(raw.status.ok()) << raw.status.ToString();
    ASSERT_TRUE(raw.db->Put({}, raw.handles[0], "format", "engram-memory 3").ok());
    ASSERT_TRUE(raw.db->Delete({}, raw.handles[0], "index_text").ok());
  }
  auto upgraded = Open("old", 2, true);
  ASSERT_NE(upgraded, nullptr);
  Result<StoreStats> stats = upgraded->Stats("ns");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->index_context_turns, 2);
  EXPECT_TRUE(stats->index_date);
  auto fresh = Open("fresh", 2, true);
  AddFiller(*fresh);
  int64_t t = kMay8th2023;
  for (const auto& [session, text] : turns) Add(*fresh, session, text, t += 1000);
  for (const std::string query : {"support group", "porto guitar", "May 2023"}) {
    EXPECT_EQ(Bm25(*upgraded, query), Bm25(*fresh, query)) << query;
  }
  EXPECT_EQ(Bm25(*upgraded, "support group").count("yes, it was so inspiring"), 1u);
  upgraded.reset();
  auto again = Open("old", 0, false);  // an existing store keeps its own index text
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->Stats("ns")->index_context_turns, 2);
  EXPECT_EQ(Bm25(*again, "support group"), Bm25(*fresh, "support group"));
}

// A format-4 store whose index_text record is missing or unreadable is damaged, not guessed at.
TEST_F(EpisodicIndexTextTest, ADamagedIndexTextRecordIsReportedAsDamaged) {
  for (const char* damage : {"", "{\"context_turns\": 99, \"date\": true}", "not json",
                             "{\"context_turns\": 2, \"date\": true}",
                             "{\"context_turns\": 2, \"date\": true, \"stemming\": \"porter\"}"}) {
    SCOPED_TRACE(damage);
    const std::string name = "damaged-" + std::to_string(std::string(damage).size());
    { Open(name, 2, true); }
    {
      RawDb raw(base_ / name / "db");
      ASSERT_TRUE(raw.status.ok()) << raw.status.ToString();
      const rocksdb::Status st = std::string(damage).empty()
                                     ? raw.db->Delete({}, raw.handles[0], "index_text")
                                     : raw.db->Put({}, raw.handles[0], "index_text", damage);
      ASSERT_TRUE(st.ok());
    }
    StoreOptions options;
    options.embedder = &embedder_;
    auto store = EpisodicStore::Open((base_ / name).string(), options);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
    EXPECT_NE(store.status().message().find("index_text record"), std::string::npos)
        << store.status().ToString();
  }
}

// New stores stem BM25's terms (Snowball english): "painting" finds "we painted the fence". A
// format-4 store (before stemming) is read and written unstemmed, whatever the options say.
TEST_F(EpisodicIndexTextTest, TermsAreStemmedExceptInAFormat4Store) {
  {
    auto store = Open("stemmed", 2, true);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->Stats("ns")->stemming, retrieval::Stemming::kEnglish);
    AddFiller(*store);
    EXPECT_EQ(Bm25(*store, "painting fences").count("we painted the fence"), 1u);
  }
  {
    auto old = Open("old", 2, true, retrieval::Stemming::kNone);
    ASSERT_NE(old, nullptr);
    AddFiller(*old);
    EXPECT_EQ(Bm25(*old, "painting fences").count("we painted the fence"), 0u);
  }
  {
    RawDb raw(base_ / "old" / "db");
    ASSERT_TRUE(raw.status.ok()) << raw.status.ToString();
    ASSERT_TRUE(raw.db->Put({}, raw.handles[0], "format", "engram-memory 4").ok());
    ASSERT_TRUE(
        raw.db->Put({}, raw.handles[0], "index_text", R"({"context_turns": 2, "date": true})").ok());
  }
  auto old = Open("old", 2, true);  // the options ask for stemming; the store keeps its own
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->Stats("ns")->stemming, retrieval::Stemming::kNone);
  Add(*old, "later", "the painting dried", kMay8th2023 + 400 * kDay);
  EXPECT_EQ(Bm25(*old, "painting").size(), 1u);
  EXPECT_EQ(Bm25(*old, "painted").count("we painted the fence"), 1u);
  EXPECT_EQ(Bm25(*old, "painted").count("the painting dried"), 0u);
}

TEST_F(EpisodicIndexTextTest, BadIndexOptionsAreRefused) {
  for (int turns : {-1, kMaxContextTurns + 1}) {
    StoreOptions options;
    options.embedder = &embedder_;
    options.index_context_turns = turns;
    auto store = EpisodicStore::Open((base_ / "bad").string(), options);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(store.status().message().find("index_context_turns"), std::string::npos);
    EXPECT_FALSE(fs::exists(base_ / "bad" / "db"));
  }
}

}  // namespace
}  // namespace engram::memory
