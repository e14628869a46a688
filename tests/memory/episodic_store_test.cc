// EpisodicStore: namespaces as walls, durability across reopen, recall scoring, update history,
// forget / purge / TTL, consolidation, checkpoints and bad input. Embeddings are passed in
// (deterministic vectors derived from the text), so the store's own logic is what is tested;
// tests/memory/memory_eval_test.cc and `engram eval memory` run it with the real embedder.
#include "memory/episodic_store.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <random>
#include <string>

#include "retrieval/bm25.h"
#include "tests/memory/test_vectors.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using testing::VectorFor;
constexpr int kDim = testing::kTestDim;

Episode Make(const std::string& session, const std::string& text, int64_t time_ms,
             double importance = 0.5) {
  Episode e;
  e.session = session;
  e.role = "user";
  e.text = text;
  e.timestamp_ms = time_ms;
  e.importance = importance;
  e.embedding = VectorFor(text);
  return e;
}

// The plain combined score (the earlier defaults: no feedback), which
// these tests check term by term; tests/memory/episodic_recall_test.cc covers the rest.
RecallOptions ByVector(const std::string& text, int k = 5) {
  RecallOptions o;
  o.bm25_weight = 0.5;
  o.recency_weight = 0.05;
  o.feedback_terms = 0;
  o.k = k;
  o.query_embedding = VectorFor(text);
  o.now_ms = 1'000'000'000'000;
  return o;
}

class EpisodicStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engram-memory-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // BM25 over each turn's text alone unless asked (these tests check the combined score term by
  // term; tests/memory/episodic_index_text_test.cc covers the index text).
  std::unique_ptr<EpisodicStore> Open(const std::string& path = "", int index_turns = 0,
                                      bool index_date = false) {
    StoreOptions options;
    options.dim = kDim;
    options.index_context_turns = index_turns;
    options.index_date = index_date;
    auto store = EpisodicStore::Open(path.empty() ? dir_.string() : path, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  fs::path dir_;
};

TEST_F(EpisodicStoreTest, AppendGetAndRecallByVectorAndBm25) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto a = store->Append("alice", Make("s1", "my sister Ana lives in Porto", 1000));
  auto b = store->Append("alice", Make("s1", "we talked about the weather", 2000));
  ASSERT_TRUE(a.ok() && b.ok());
  // A few more, so that BM25's idf of a rare word is positive (with two episodes it is 0).
  for (const char* text : {"lunch was pasta", "the train was late", "a new phone"}) {
    ASSERT_TRUE(store->Append("alice", Make("s2", text, 3000)).ok());
  }
  EXPECT_NE(*a, *b);
  auto got = store->Get("alice", *a);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->text, "my sister Ana lives in Porto");
  EXPECT_EQ(got->version, 1u);

  auto hits = store->Recall("alice", "where does Ana live", ByVector("my sister Ana lives in Porto"));
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].episode.id, *a);
  EXPECT_NEAR((*hits)[0].relevance, 1.0, 1e-5);
  EXPECT_GT((*hits)[0].bm25, 0.0);  // "ana", "live"... share terms with the query

  // BM25 alone finds it by words, whatever the vectors say.
  RecallOptions bm25_only = ByVector("unrelated");
  bm25_only.relevance_weight = 0;
  bm25_only.recency_weight = 0;
  bm25_only.importance_weight = 0;
  auto lexical = store->Recall("alice", "Porto", bm25_only);
  ASSERT_TRUE(lexical.ok());
  ASSERT_EQ(lexical->size(), 1u);
  EXPECT_EQ((*lexical)[0].episode.id, *a);
}

// BM25 recall prunes long posting lists (MaxScore); its top results must equal a full BM25 over
// the namespace, computed here independently from retrieval/bm25.h, for the text alone and for
// the default index text (the session date, then the two turns before, then the turn).
TEST_F(EpisodicStoreTest, Bm25RecallEqualsFullBm25) {
  for (const bool index_text : {false, true}) {
    SCOPED_TRACE(index_text ? "index text" : "text alone");
    auto store =
        Open((dir_ / (index_text ? "context" : "plain")).string(), index_text ? 2 : 0, index_text);
    ASSERT_NE(store, nullptr);
    std::vector<std::string> texts;
    // "common" is everywhere (its idf is floored), "alpha" and "beta" in a tenth of the
    // episodes, "gamma" in a few: after the rare terms the candidates outscore anything "common"
    // could add, so its list is not scanned.
    for (int i = 0; i < 1000; ++i) {
      std::string t = "common words item" + std::to_string(i);
      if (i % 10 == 0) t += " alpha beta";
      if (i % 20 == 0) t += " alpha";
      if (i % 97 == 0) t += " gamma";
      texts.push_back(t);
      ASSERT_TRUE(store->Append("n", Make("s", t, 1000 + i)).ok());
    }
    // Full BM25 (rank-bm25's Okapi, as the store promises) over each episode's index text.
    std::vector<std::vector<std::string>> docs;
    std::map<std::string, int64_t> df;
    double total = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      std::string indexed = texts[i];
      if (index_text) {
        for (size_t back = 1; back <= 2 && back <= i; ++back)
          indexed = texts[i - back] + " " + indexed;
        indexed = "1 January 1970 " + indexed;  // the date of times 1000 + i ms
      }
      docs.push_back(retrieval::Bm25Terms(indexed, retrieval::Stemming::kEnglish));
      total += docs.back().size();
      std::set<std::string> distinct(docs.back().begin(), docs.back().end());
      for (const std::string& w : distinct) ++df[w];
    }
    retrieval::Bm25Stats stats;
    stats.documents = static_cast<int64_t>(docs.size());
    stats.average_length = total / docs.size();
    for (const auto& [w, d] : df) stats.mean_idf += retrieval::Bm25RawIdf(stats.documents, d);
    stats.mean_idf /= df.size();
    const std::vector<std::string> query =
        retrieval::Bm25Terms("gamma alpha beta common", retrieval::Stemming::kEnglish);
    std::vector<double> want;
    for (const auto& d : docs) {
      double score = 0;
      for (const std::string& q : query) {
        const double tf = static_cast<double>(std::count(d.begin(), d.end(), q));
        if (tf > 0) {
          score +=
              retrieval::Bm25TermScore(retrieval::Bm25Idf(stats, df[q], {}), tf,
                                       static_cast<double>(d.size()), stats.average_length, {});
        }
      }
      want.push_back(score);
    }
    std::sort(want.rbegin(), want.rend());
    RecallOptions o = ByVector("x", 20);
    o.relevance_weight = o.recency_weight = o.importance_weight = 0;
    auto hits = store->Recall("n", "gamma alpha beta common", o);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 20u);
    for (size_t i = 0; i < hits->size(); ++i) EXPECT_NEAR((*hits)[i].bm25, want[i], 1e-9) << i;
  }
}

TEST_F(EpisodicStoreTest, AppendBatchIsAllOrNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<Episode> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(Make("s", "batched " + std::to_string(i), 100 + i));
  auto ids = store->AppendBatch("n", batch);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(store->Get("n", (*ids)[i])->text, batch[i].text);
  batch[3].importance = 2.0;  // one bad episode: nothing of the batch is written
  EXPECT_EQ(store->AppendBatch("n", batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Stats("n")->episodes, 5u);
  EXPECT_EQ(store->Stats("n")->index_vectors, 5u);
}

TEST_F(EpisodicStoreTest, NamespacesAreWalls) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // Ids are per namespace: the secret is tenant-a's second id, which tenant-b never has.
  ASSERT_TRUE(store->Append("tenant-a", Make("s", "a first turn", 999)).ok());
  auto secret = store->Append("tenant-a", Make("s", "the vault code is 4711", 1000));
  ASSERT_TRUE(secret.ok());
  ASSERT_TRUE(store->Append("tenant-b", Make("s", "hello there", 1000)).ok());
  // Every read path from tenant-b misses tenant-a's episode, even by its id or exact vector.
  EXPECT_EQ(store->Get("tenant-b", *secret).status().code(), StatusCode::kNotFound);
  auto hits = store->Recall("tenant-b", "vault code 4711", ByVector("the vault code is 4711", 10));
  ASSERT_TRUE(hits.ok());
  for (const RecalledEpisode& r : *hits) EXPECT_NE(r.episode.id, *secret);
  auto page = store->ListSession("tenant-b", "s", {});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->episodes.size(), 1u);
  EXPECT_EQ(store->History("tenant-b", *secret).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Stats("tenant-b")->episodes, 1u);
  // Writes from tenant-b cannot touch it either.
  EXPECT_EQ(store->Forget("tenant-b", *secret).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Update("tenant-b", *secret, {.text = "x"}).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->ForgetSession("tenant-b", "s").ok());
  ASSERT_TRUE(store->PurgeNamespace("tenant-b").ok());
  // A namespace name that is a prefix of another is still another namespace.
  ASSERT_TRUE(store->Append("tenant", Make("s", "short name", 1000)).ok());
  EXPECT_EQ(store->Get("tenant", *secret).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Get("tenant-a", *secret).ok());
  EXPECT_EQ(store->Stats("tenant-a")->episodes, 2u);
  // Unknown namespace: empty, not an error.
  auto none = store->Recall("nobody", "anything", ByVector("anything"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(EpisodicStoreTest, SurvivesReopenAndRebuildsAMissingOrStaleIndex) {
  std::vector<uint64_t> ids;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      auto id = store->Append("n", Make("s", "episode number " + std::to_string(i), 1000 + i));
      ASSERT_TRUE(id.ok());
      ids.push_back(*id);
    }
  }
  fs::copy_file(dir_ / "index" / "n.vindex", dir_ / "old.vindex");
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EpisodeChanges change;
    change.text = "episode changed";
    change.embedding = VectorFor("episode changed");
    ASSERT_TRUE(store->Update("n", ids[3], change).ok());
    ASSERT_TRUE(store->Forget("n", ids[4]).ok());
  }
  // Put back the index from before the update and the forget: Open must not trust it.
  fs::copy_file(dir_ / "old.vindex", dir_ / "index" / "n.vindex", fs::copy_options::overwrite_existing);
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->Stats("n")->episodes, 19u);
    EXPECT_EQ(store->Stats("n")->index_vectors, 19u);
    auto hits = store->Recall("n", "", ByVector("episode changed", 1));
    ASSERT_TRUE(hits.ok() && !hits->empty());
    EXPECT_EQ((*hits)[0].episode.id, ids[3]);
    EXPECT_NEAR((*hits)[0].relevance, 1.0, 1e-5);
  }
  fs::remove(dir_ / "index" / "n.vindex");
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Stats("n")->index_vectors, 19u);
  // Ids keep growing across reopen.
  auto next = store->Append("n", Make("s", "after reopen", 5000));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, ids.back());
}

TEST_F(EpisodicStoreTest, RecencyAndImportanceAndFilters) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t day = 24 * 3600 * 1000LL;
  const int64_t now = 1'000'000'000'000;
  Episode old_e = Make("s1", "same words", now - 60 * day);
  old_e.embedding = VectorFor("shared");
  Episode new_e = Make("s2", "same words", now - day);
  new_e.embedding = VectorFor("shared");
  new_e.metadata = {{"topic", "travel"}};
  auto old_id = store->Append("n", old_e);
  auto new_id = store->Append("n", new_e);
  ASSERT_TRUE(old_id.ok() && new_id.ok());
  RecallOptions o = ByVector("shared");
  o.now_ms = now;
  o.half_life_hours = 24 * 7;
  auto hits = store->Recall("n", "same words", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].episode.id, *new_id);  // equal relevance and BM25: the recent one wins
  EXPECT_NEAR((*hits)[0].recency, std::pow(0.5, 1.0 / 7), 1e-9);
  EXPECT_GT((*hits)[0].score, (*hits)[1].score);
  // Importance can outweigh recency.
  ASSERT_TRUE(store->Update("n", *old_id, {.importance = 1.0}).ok());
  ASSERT_TRUE(store->Update("n", *new_id, {.importance = 0.0}).ok());
  o.importance_weight = 1.0;
  hits = store->Recall("n", "same words", o);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].episode.id, *old_id);
  // Filters.
  RecallOptions f = o;
  f.session = "s1";
  hits = store->Recall("n", "same words", f);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].episode.id, *old_id);
  f = o;
  f.metadata = {{"topic", "travel"}};
  hits = store->Recall("n", "same words", f);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].episode.id, *new_id);
  f = o;
  f.from_ms = now - 2 * day;
  hits = store->Recall("n", "same words", f);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].episode.id, *new_id);
}

TEST_F(EpisodicStoreTest, UpdateKeepsHistoryAndReembeds) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto id = store->Append("n", Make("s", "I live in Lisbon", 1000));
  ASSERT_TRUE(id.ok());
  EpisodeChanges change;
  change.text = "I moved to Berlin";
  change.embedding = VectorFor("I moved to Berlin");
  auto version = store->Update("n", *id, change);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, 2u);
  auto history = store->History("n", *id);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].text, "I live in Lisbon");
  EXPECT_EQ((*history)[1].text, "I moved to Berlin");
  EXPECT_EQ((*history)[1].version, 2u);
  RecallOptions bm25_only = ByVector("x");
  bm25_only.relevance_weight = 0;
  auto lisbon = store->Recall("n", "Lisbon", bm25_only);
  ASSERT_TRUE(lisbon.ok());
  EXPECT_TRUE(lisbon->empty());  // the old words left the BM25 index
  auto berlin = store->Recall("n", "", ByVector("I moved to Berlin", 1));
  ASSERT_TRUE(berlin.ok() && !berlin->empty());
  EXPECT_NEAR((*berlin)[0].relevance, 1.0, 1e-5);  // and the new vector replaced the old
}

TEST_F(EpisodicStoreTest, ForgetSessionPurgeAndTtl) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Append("n", Make("a", "alpha " + std::to_string(i), 100 + i)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->Append("n", Make("b", "beta " + std::to_string(i), 200 + i)).ok());
  auto forgotten = store->ForgetSession("n", "a");
  ASSERT_TRUE(forgotten.ok());
  EXPECT_EQ(*forgotten, 5u);
  EXPECT_EQ(store->Stats("n")->episodes, 3u);
  EXPECT_EQ(store->Stats("n")->index_vectors, 3u);

  Episode temporary = Make("b", "expires soon", 300);
  temporary.expires_ms = 1;  // already past
  auto t = store->Append("n", temporary);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(store->Get("n", *t).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->History("n", *t).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->Sessions("n"), std::vector<std::string>{"b"});
  auto hits = store->Recall("n", "expires soon", ByVector("expires soon"));
  ASSERT_TRUE(hits.ok());
  for (const RecalledEpisode& r : *hits) EXPECT_NE(r.episode.id, *t);
  auto purged = store->PurgeExpired();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u);

  ASSERT_TRUE(store->Append("other", Make("s", "keep me", 1)).ok());
  ASSERT_TRUE(store->PurgeNamespace("n").ok());
  EXPECT_FALSE(fs::exists(dir_ / "index" / "n.vindex"));
  EXPECT_EQ(store->Stats("n")->episodes, 0u);
  EXPECT_EQ(store->Namespaces(), std::vector<std::string>{"other"});
  store.reset();
  store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Stats("n")->episodes, 0u);
  EXPECT_EQ(store->Stats("other")->episodes, 1u);
}

TEST_F(EpisodicStoreTest, ListSessionPagesInTimeOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 9; i >= 0; --i) ASSERT_TRUE(store->Append("n", Make("s", "turn " + std::to_string(i), 1000 + i)).ok());
  std::vector<int64_t> times;
  ListOptions o;
  o.limit = 3;
  int pages = 0;
  do {
    auto page = store->ListSession("n", "s", o);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const Episode& e : page->episodes) times.push_back(e.timestamp_ms);
    o.page_token = page->next_page_token;
    ++pages;
  } while (!o.page_token.empty() && pages < 10);
  ASSERT_EQ(times.size(), 10u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_EQ(pages, 4);
  o = {};
  o.from_ms = 1003;
  o.to_ms = 1005;
  EXPECT_EQ(store->ListSession("n", "s", o)->episodes.size(), 3u);
  o = {};
  o.page_token = "zz";
  EXPECT_EQ(store->ListSession("n", "s", o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EpisodicStoreTest, ConsolidateReplacesOldTurnsBySummary) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 10; ++i) {
    auto id = store->Append("n", Make("s", "turn " + std::to_string(i), 1000 + i, i == 2 ? 0.9 : 0.3));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  // Consolidation embeds the summary itself, so this store needs an embedder: use a tiny one.
  testing::TextEmbedder embedder;
  store.reset();
  StoreOptions options;
  options.embedder = &embedder;
  auto opened = EpisodicStore::Open(dir_.string(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store = std::move(*opened);
  size_t seen = 0;
  auto summary = store->Consolidate(
      "n", "s",
      [&](std::span<const Episode> episodes) -> Result<std::string> {
        seen = episodes.size();
        return std::string("summary of the first turns");
      },
      {.keep_recent = 4, .min_span = 2});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(seen, 6u);
  auto s = store->Get("n", *summary);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->role, "summary");
  EXPECT_EQ(s->sources, std::vector<uint64_t>(ids.begin(), ids.begin() + 6));
  EXPECT_DOUBLE_EQ(s->importance, 0.9);
  EXPECT_EQ(s->timestamp_ms, 1005);
  EXPECT_EQ(store->Get("n", ids[0]).status().code(), StatusCode::kNotFound);
  auto history = store->History("n", ids[0]);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->back().text, "turn 0");
  EXPECT_EQ(store->Stats("n")->episodes, 5u);
  EXPECT_EQ(store->Stats("n")->index_vectors, 5u);
  auto hits = store->Recall("n", "summary of the first turns", {.k = 1, .now_ms = 2000});
  ASSERT_TRUE(hits.ok() && !hits->empty());
  EXPECT_EQ((*hits)[0].episode.id, *summary);
  // Too little left to consolidate: nothing happens.
  auto again = store->Consolidate("n", "s", [](std::span<const Episode>) -> Result<std::string> {
    return std::string("x");
  }, {.keep_recent = 4, .min_span = 2});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
}

// The summarizer runs without the write lock (it may take seconds with a language model). An
// update to a source meanwhile must not be lost nor leave stale index entries: nothing is
// written, and the next call summarises the updated text.
TEST_F(EpisodicStoreTest, ConsolidateWritesNothingWhenASourceChangesWhileSummarising) {
  testing::TextEmbedder embedder;
  StoreOptions options;
  options.embedder = &embedder;
  auto opened = EpisodicStore::Open(dir_.string(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<EpisodicStore> store = std::move(*opened);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) {
    auto id = store->Append("n", Make("s", "walrus turn " + std::to_string(i), 1000 + i));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ids.push_back(*id);
  }
  auto raced = store->Consolidate("n", "s",
                                  [&](std::span<const Episode>) -> Result<std::string> {
                                    auto updated = store->Update(
                                        "n", ids[1], {.text = std::string("narwhal turn 1")});
                                    EXPECT_TRUE(updated.ok()) << updated.status().ToString();
                                    return std::string("a summary");
                                  },
                                  {.keep_recent = 2, .min_span = 2});
  ASSERT_EQ(raced.status().code(), StatusCode::kFailedPrecondition) << raced.status().ToString();
  EXPECT_NE(raced.status().message().find("call Consolidate again"), std::string::npos);
  EXPECT_EQ(store->Stats("n")->episodes, 8u);
  EXPECT_EQ(store->Get("n", ids[1])->text, "narwhal turn 1");

  std::vector<std::string> seen;
  auto summary = store->Consolidate("n", "s",
                                    [&](std::span<const Episode> episodes) -> Result<std::string> {
                                      for (const Episode& e : episodes) seen.push_back(e.text);
                                      return std::string("a summary");
                                    },
                                    {.keep_recent = 2, .min_span = 2});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[1], "narwhal turn 1");
  EXPECT_EQ(store->Stats("n")->episodes, 3u);
  // The replaced turns leave BM25 too: "narwhal" no longer finds turn 1.
  auto hits = store->Recall("n", "narwhal", {.k = 5, .now_ms = 2000});
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  for (const RecalledEpisode& h : *hits) EXPECT_NE(h.episode.id, ids[1]);
}

TEST_F(EpisodicStoreTest, CheckpointOpensAsAStore) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto id = store->Append("n", Make("s", "checkpointed", 1));
  ASSERT_TRUE(id.ok());
  const fs::path copy = dir_.string() + "-checkpoint";
  fs::remove_all(copy);
  ASSERT_TRUE(store->Checkpoint(copy.string()).ok());
  EXPECT_EQ(store->Checkpoint(copy.string()).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->Append("n", Make("s", "after the checkpoint", 2)).ok());
  auto restored = Open(copy.string());
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->Stats("n")->episodes, 1u);
  EXPECT_TRUE(restored->Get("n", *id).ok());
  restored.reset();
  fs::remove_all(copy);
}

TEST_F(EpisodicStoreTest, BadInputGetsClearErrors) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Append("bad/name", Make("s", "x", 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append("", Make("s", "x", 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append("..", Make("s", "x", 1)).status().code(), StatusCode::kInvalidArgument);
  Episode big = Make("s", std::string(kMaxEpisodeTextBytes + 1, 'a'), 1);
  auto too_big = store->Append("n", big);
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("1 MiB"), std::string::npos);
  Episode wrong_dim = Make("s", "x", 1);
  wrong_dim.embedding.resize(3);
  EXPECT_EQ(store->Append("n", wrong_dim).status().code(), StatusCode::kInvalidArgument);
  Episode nan = Make("s", "x", 1);
  nan.embedding[0] = NAN;
  EXPECT_EQ(store->Append("n", nan).status().code(), StatusCode::kInvalidArgument);
  Episode no_vector = Make("s", "x", 1);
  no_vector.embedding.clear();  // and the store has no embedder
  EXPECT_EQ(store->Append("n", no_vector).status().code(), StatusCode::kInvalidArgument);
  Episode not_utf8 = Make("s", "bad \xff bytes", 1);
  auto refused_text = store->Append("n", not_utf8);
  EXPECT_EQ(refused_text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused_text.status().message().find("UTF-8"), std::string::npos);
  Episode importance = Make("s", "x", 1, 1.5);
  EXPECT_EQ(store->Append("n", importance).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Stats("n")->episodes, 0u);

  // A foreign directory is refused and left untouched; so is a store opened with another dim.
  store.reset();
  const fs::path foreign = dir_.string() + "-foreign";
  fs::remove_all(foreign);
  fs::create_directories(foreign);
  { std::ofstream(foreign / "notes.txt") << "mine"; }
  StoreOptions options;
  options.dim = kDim;
  auto refused = EpisodicStore::Open(foreign.string(), options);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::distance(fs::directory_iterator(foreign), fs::directory_iterator{}), 1);
  fs::remove_all(foreign);
  options.dim = kDim + 1;
  EXPECT_EQ(EpisodicStore::Open(dir_.string(), options).status().code(),
            StatusCode::kFailedPrecondition);

  // A damaged store (its CURRENT file garbled) is refused with an error and not written to.
  options.dim = kDim;
  { std::ofstream(dir_ / "db" / "CURRENT", std::ios::trunc) << "garbage\n"; }
  std::map<std::string, fs::file_time_type> before;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) before[e.path().string()] = e.last_write_time();
  auto damaged = EpisodicStore::Open(dir_.string(), options);
  EXPECT_FALSE(damaged.ok());
  EXPECT_FALSE(damaged.status().message().empty());
  std::map<std::string, fs::file_time_type> after;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) after[e.path().string()] = e.last_write_time();
  EXPECT_EQ(before, after);
}

}  // namespace
}  // namespace engram::memory
