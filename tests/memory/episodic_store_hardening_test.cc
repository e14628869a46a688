// EpisodicStore hardening (issue 16): ids local to a namespace, all-or-nothing multi-id
// forgetting, every numeric value checked where it enters, damaged stores told apart from
// foreign directories, index files bound to their store, and a bounded number of database files
// after many open / append / close cycles (what every CLI command does).
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "memory/episodic_store.h"
#include "tests/memory/raw_db.h"
#include "tests/memory/test_vectors.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using testing::VectorFor;
constexpr int kDim = testing::kTestDim;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

Episode Make(const std::string& session, const std::string& text, int64_t time_ms = 1000) {
  Episode e;
  e.session = session;
  e.role = "user";
  e.text = text;
  e.timestamp_ms = time_ms;
  e.embedding = VectorFor(text);
  return e;
}

using testing::RawDb;
using testing::TextEmbedder;

class EpisodicStoreHardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engram-memory-hardening-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static Result<std::unique_ptr<EpisodicStore>> TryOpen(const fs::path& path) {
    static TextEmbedder embedder;
    StoreOptions options;
    options.embedder = &embedder;
    return EpisodicStore::Open(path.string(), options);
  }
  std::unique_ptr<EpisodicStore> Open(const fs::path& path) {
    auto store = TryOpen(path);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<EpisodicStore> Open() { return Open(dir_); }
  uint64_t Add(EpisodicStore& store, const std::string& ns, const std::string& text) {
    Result<uint64_t> id = store.Append(ns, Make("s", text));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  // Every file under `dir` with its size and time: to show a refused store was not written.
  static std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> Snapshot(
      const fs::path& dir) {
    std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      out[e.path().string()] = {e.is_regular_file() ? e.file_size() : 0, e.last_write_time()};
    }
    return out;
  }
  fs::path dir_;
};

// ---- 1. ids are per namespace ----

TEST_F(EpisodicStoreHardeningTest, IdsOfANamespaceDoNotRevealAnotherNamespacesWrites) {
  for (int n : {0, 1, 7, 40}) {
    const std::string a = "a" + std::to_string(n), b = "b" + std::to_string(n);
    auto store = Open();
    ASSERT_NE(store, nullptr);
    const uint64_t first = Add(*store, a, "a first");
    std::vector<uint64_t> b_ids;
    for (int i = 0; i < n; ++i) b_ids.push_back(Add(*store, b, "b turn " + std::to_string(i)));
    EXPECT_EQ(Add(*store, a, "a second"), first + 1) << "n = " << n;
    EXPECT_EQ(first, 1u);
    for (int i = 0; i < n; ++i) EXPECT_EQ(b_ids[static_cast<size_t>(i)], uint64_t(i + 1));
    // Batches and summaries take ids from their own namespace too.
    std::vector<Episode> batch = {Make("s", "batch one"), Make("s", "batch two")};
    auto batch_ids = store->AppendBatch(b, batch);
    ASSERT_TRUE(batch_ids.ok());
    EXPECT_EQ(batch_ids->front(), uint64_t(n + 1));
    store.reset();
    // Across reopen.
    store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Add(*store, a, "a third"), first + 2) << "n = " << n;
    EXPECT_EQ(Add(*store, b, "b after reopen"), uint64_t(n + 3));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 6; ++i) Add(*store, "c", "c turn " + std::to_string(i));
  auto summary = store->Consolidate(
      "c", "s", [](std::span<const Episode>) -> Result<std::string> { return std::string("sum"); },
      {.keep_recent = 2, .min_span = 2});
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(*summary, 7u);
  EXPECT_EQ(Add(*store, "d", "d first"), 1u);  // a summary in c says nothing to d
  EXPECT_EQ(Add(*store, "c", "c after the summary"), 8u);
  // A purged namespace never reuses an id.
  ASSERT_TRUE(store->PurgeNamespace("c").ok());
  EXPECT_EQ(Add(*store, "c", "c after purge"), 9u);
}

// A store of an older format (here 2: a key per BM25 posting) is refused with what to do, and
// left as it was.
TEST_F(EpisodicStoreHardeningTest, AnOlderFormatIsRefusedWithWhatToDo) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    Add(*store, "x", "x 0");
  }
  {
    RawDb raw(dir_ / "db");
    ASSERT_TRUE(raw.status.ok()) << raw.status.ToString();
    ASSERT_TRUE(raw.db->Put({}, raw.handles[0], "format", "engram-memory 2").ok());
  }
  const auto before = Snapshot(dir_);
  auto refused = TryOpen(dir_);
  EXPECT_EQ(refused.status().code(), StatusCode::kNotSupported);
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("has format 'engram-memory 2'"), std::string::npos) << message;
  EXPECT_NE(message.find("reads 'engram-memory 5'"), std::string::npos) << message;
  EXPECT_NE(message.find("export it with the older engram or start a new store"),
            std::string::npos)
      << message;
  EXPECT_EQ(Snapshot(dir_), before);
}

// A process killed while creating a store leaves RocksDB's files and some or all of the column
// families but none of the store's records: the next Open creates the store there. A database
// with only RocksDB's default family and nothing in it is still not a store.
TEST_F(EpisodicStoreHardeningTest, AnInterruptedCreationIsFinishedByTheNextOpen) {
  auto make_db = [&](std::vector<const char*> families) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "db");
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : families) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, (dir_ / "db").string(), cfs, &handles, &raw).ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  };
  make_db({"default", "episodes", "sessions", "embeddings", "versions", "postings", "terms"});
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Add(*store, "x", "x 0"), 1u);
  }
  make_db({"default", "episodes", "sessions"});  // killed between two families
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Add(*store, "x", "x 0"), 1u);
  }
  make_db({"default"});
  auto refused = TryOpen(dir_);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EpisodicStoreHardeningTest, AnUnknownFormatIsRefusedAndNotWritten) {
  { ASSERT_NE(Open(), nullptr); }
  {
    RawDb raw(dir_ / "db");
    ASSERT_TRUE(raw.status.ok()) << raw.status.ToString();
    ASSERT_TRUE(raw.db->Put({}, raw.handles[0], "format", "engram-memory 9").ok());
  }
  const auto before = Snapshot(dir_);
  auto refused = TryOpen(dir_);
  EXPECT_EQ(refused.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(refused.status().message().find("engram-memory 9"), std::string::npos);
  EXPECT_EQ(Snapshot(dir_), before);
}

// ---- 2. forgetting several ids is all or nothing ----

TEST_F(EpisodicStoreHardeningTest, ForgetSeveralIdsIsAllOrNothing) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  for (int i = 1; i <= 4; ++i) Add(*store, "a", "a turn " + std::to_string(i));
  for (int i = 1; i <= 9; ++i) Add(*store, "b", "b turn " + std::to_string(i));  // b has 5..9
  // Missing ids first, in the middle, last, all missing, several missing; ids of b's.
  const std::vector<std::vector<uint64_t>> bad = {
      {7, 1, 2}, {1, 7, 2}, {1, 2, 7}, {7}, {7, 8}, {1, 5, 2, 9}, {0, 1}};
  for (const std::vector<uint64_t>& ids : bad) {
    const Status st = store->Forget("a", ids);
    EXPECT_EQ(st.code(), StatusCode::kNotFound);
    for (uint64_t id : ids) {
      if (id >= 1 && id <= 4) continue;
      EXPECT_NE(st.message().find(std::to_string(id)), std::string::npos) << st.ToString();
    }
    EXPECT_EQ(store->Stats("a")->episodes, 4u) << st.ToString();
    EXPECT_EQ(store->Stats("a")->index_vectors, 4u);
    for (uint64_t id = 1; id <= 4; ++id) EXPECT_TRUE(store->Get("a", id).ok());
  }
  EXPECT_EQ(store->Stats("b")->episodes, 9u);
  const std::vector<uint64_t> ok = {1, 3, 3};  // a repeated id counts once
  ASSERT_TRUE(store->Forget("a", ok).ok());
  EXPECT_EQ(store->Stats("a")->episodes, 2u);
  EXPECT_EQ(store->Stats("a")->index_vectors, 2u);
  EXPECT_FALSE(store->Get("a", 1).ok());
  EXPECT_TRUE(store->Get("a", 2).ok());
  // Survives reopen with consistent BM25 statistics: recall by text still finds turn 2.
  store.reset();
  store = Open();
  ASSERT_NE(store, nullptr);
  RecallOptions o;
  o.relevance_weight = 0;
  auto hits = store->Recall("a", "turn 2", o);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].episode.id, 2u);
}

// ---- 3. numeric values are checked where they enter ----

struct BadValue {
  std::string field;  // named in the message
  std::function<void(RecallOptions&)> recall;
  std::function<void(Episode&)> episode;
  std::function<void(ListOptions&)> list;
  std::function<void(EpisodeChanges&)> change;
};

std::vector<BadValue> BadValues() {
  std::vector<BadValue> out;
  for (double v : {kNan, kInf, -kInf, -1.0, -1e-9, 1e300}) {
    out.push_back({"relevance_weight", [v](RecallOptions& o) { o.relevance_weight = v; }, {}, {}, {}});
    out.push_back({"bm25_weight", [v](RecallOptions& o) { o.bm25_weight = v; }, {}, {}, {}});
    out.push_back({"recency_weight", [v](RecallOptions& o) { o.recency_weight = v; }, {}, {}, {}});
    out.push_back({"importance_weight", [v](RecallOptions& o) { o.importance_weight = v; }, {}, {}, {}});
    out.push_back({"importance", {}, [v](Episode& e) { e.importance = v; }, {}, {}});
    out.push_back({"importance", {}, {}, {}, [v](EpisodeChanges& c) { c.importance = v; }});
  }
  for (double v : {kNan, kInf, -kInf, 0.0, -1.0, 1e300}) {
    out.push_back({"half_life_hours", [v](RecallOptions& o) { o.half_life_hours = v; }, {}, {}, {}});
  }
  for (double v : {1.0000001, 2.0}) {
    out.push_back({"importance", {}, [v](Episode& e) { e.importance = v; }, {}, {}});
  }
  for (int k : {0, -1, kMaxRecallK + 1, std::numeric_limits<int>::max(),
                std::numeric_limits<int>::min()}) {
    out.push_back({"k", [k](RecallOptions& o) { o.k = k; }, {}, {}, {}});
  }
  for (int c : {-1, kMaxRecallCandidates + 1, std::numeric_limits<int>::max()}) {
    out.push_back({"candidates", [c](RecallOptions& o) { o.candidates = c; }, {}, {}, {}});
  }
  for (int64_t t : {int64_t{-1}, kMaxTimeMs + 1, kI64Max, kI64Min, kI64Min + 1}) {
    out.push_back({"timestamp_ms", {}, [t](Episode& e) { e.timestamp_ms = t; }, {}, {}});
    out.push_back({"expires_ms", {}, [t](Episode& e) { e.expires_ms = t; }, {}, {}});
    out.push_back({"expires_ms", {}, {}, {}, [t](EpisodeChanges& c) { c.expires_ms = t; }});
    out.push_back({"now_ms", [t](RecallOptions& o) { o.now_ms = t; }, {}, {}, {}});
    if (t != kI64Min) {
      out.push_back({"from_ms", [t](RecallOptions& o) { o.from_ms = t; }, {}, {}, {}});
      out.push_back({"from_ms", {}, {}, [t](ListOptions& o) { o.from_ms = t; }, {}});
    }
    if (t != kI64Max) {
      out.push_back({"to_ms", [t](RecallOptions& o) { o.to_ms = t; }, {}, {}, {}});
      out.push_back({"to_ms", {}, {}, [t](ListOptions& o) { o.to_ms = t; }, {}});
    }
  }
  out.push_back({"from_ms", [](RecallOptions& o) { o.from_ms = 2000, o.to_ms = 1000; }, {}, {}, {}});
  for (size_t limit : {size_t{0}, kMaxListLimit + 1, std::numeric_limits<size_t>::max()}) {
    out.push_back({"limit", {}, {}, [limit](ListOptions& o) { o.limit = limit; }, {}});
  }
  return out;
}

TEST_F(EpisodicStoreHardeningTest, EveryBadNumericValueIsRefusedNamingItsField) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const uint64_t id = Add(*store, "n", "a stored turn");
  const std::vector<BadValue> table = BadValues();
  for (const BadValue& bad : table) {
    Status st;
    if (bad.recall) {
      RecallOptions o;
      o.query_embedding = VectorFor("q");
      bad.recall(o);
      st = store->Recall("n", "q", o).status();
    } else if (bad.episode) {
      Episode e = Make("s", "bad");
      bad.episode(e);
      st = store->Append("n", e).status();
      if (st.ok()) continue;  // reported below
      const std::vector<Episode> batch = {Make("s", "good"), e};
      const Status batch_status = store->AppendBatch("n", batch).status();
      EXPECT_EQ(batch_status.code(), StatusCode::kInvalidArgument) << bad.field;
      EXPECT_NE(batch_status.message().find("episode 1"), std::string::npos)
          << batch_status.ToString();
    } else if (bad.list) {
      ListOptions o;
      bad.list(o);
      st = store->ListSession("n", "s", o).status();
    } else {
      EpisodeChanges c;
      bad.change(c);
      st = store->Update("n", id, c).status();
    }
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad.field << ": " << st.ToString();
    EXPECT_NE(st.message().find(bad.field), std::string::npos) << st.ToString();
  }
  EXPECT_EQ(store->PurgeExpired(-1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Stats("n")->episodes, 1u);
  EXPECT_EQ(store->Get("n", id)->version, 1u);
  EXPECT_GT(table.size(), 80u);
  // The edges of the ranges are accepted.
  Episode edge = Make("s", "edge");
  edge.timestamp_ms = kMaxTimeMs;
  edge.expires_ms = kMaxTimeMs;
  edge.importance = 1.0;
  EXPECT_TRUE(store->Append("n", edge).ok());
  RecallOptions o;
  o.query_embedding = VectorFor("q");
  o.k = kMaxRecallK;
  o.from_ms = kMinTimeMs;
  o.to_ms = kMaxTimeMs;
  o.relevance_weight = o.bm25_weight = kMaxRecallWeight;
  EXPECT_TRUE(store->Recall("n", "q", o).ok());
}

// ---- 4. a damaged store is reported as damaged ----

TEST_F(EpisodicStoreHardeningTest, DamagedStoresAreReportedAsDamagedAndLeftAlone) {
  const std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> damage = {
      {"db/CURRENT", [](const fs::path& db) { fs::remove(db / "CURRENT"); }},
      {"MANIFEST",
       [](const fs::path& db) {
         for (const auto& e : fs::directory_iterator(db)) {
           if (e.path().filename().string().starts_with("MANIFEST-")) fs::remove(e.path());
         }
       }},
      {"CURRENT", [](const fs::path& db) { std::ofstream(db / "CURRENT") << "garbage\n"; }},
      {"sst",
       [](const fs::path& db) {
         for (const auto& e : fs::directory_iterator(db)) {
           if (e.path().extension() == ".sst") fs::resize_file(e.path(), 10);
         }
       }},
      {"db/", [](const fs::path& db) { fs::remove_all(db); }},
  };
  for (const auto& [what, harm] : damage) {
    fs::remove_all(dir_);
    {
      auto store = Open();
      ASSERT_NE(store, nullptr);
      Add(*store, "n", "something worth keeping");
    }
    harm(dir_ / "db");
    const auto before = Snapshot(dir_);
    auto refused = TryOpen(dir_);
    ASSERT_FALSE(refused.ok()) << what;
    EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
    const std::string message(refused.status().message());
    EXPECT_NE(message.find("memory store '" + dir_.string() + "' is damaged"), std::string::npos)
        << message;
    EXPECT_NE(message.find("restore it from a checkpoint or backup"), std::string::npos);
    EXPECT_EQ(message.find("not an engram"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(Snapshot(dir_), before) << what;
  }
}

// ---- 5. an index file copied from another store is not trusted ----

TEST_F(EpisodicStoreHardeningTest, AnIndexCopiedFromAnotherStoreIsRebuilt) {
  const fs::path a = dir_ / "a", b = dir_ / "b";
  for (const fs::path& path : {a, b}) {
    auto store = Open(path);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      Add(*store, "n", path.filename().string() + " turn " + std::to_string(i));
      Add(*store, "m", path.filename().string() + " other " + std::to_string(i));
    }
  }
  // Same namespace, same ids, same generation: only the vectors differ.
  fs::copy_file(a / "index" / "n.vindex", b / "index" / "n.vindex",
                fs::copy_options::overwrite_existing);
  // And a sibling namespace's file in place of another's within store a.
  fs::copy_file(a / "index" / "m.vindex", a / "index" / "n.vindex",
                fs::copy_options::overwrite_existing);
  for (const fs::path& path : {a, b}) {
    auto store = Open(path);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      const std::string text = path.filename().string() + " turn " + std::to_string(i);
      RecallOptions o;
      o.k = 1;
      o.query_embedding = VectorFor(text);
      o.bm25_weight = o.recency_weight = o.importance_weight = 0;
      auto hits = store->Recall("n", "", o);
      ASSERT_TRUE(hits.ok());
      ASSERT_EQ(hits->size(), 1u);
      EXPECT_EQ((*hits)[0].episode.text, text) << path;
      EXPECT_NEAR((*hits)[0].relevance, 1.0, 1e-4);
    }
  }
}

// ---- 6. many open / append / close cycles leave a bounded number of files ----

TEST_F(EpisodicStoreHardeningTest, ManyOpenAppendCloseCyclesKeepTheFileCountBounded) {
  constexpr int kCycles = 100;  // about 10 s; the old store left about 300 table files here
  size_t most = 0;
  for (int i = 0; i < kCycles; ++i) {
    {
      auto store = Open();
      ASSERT_NE(store, nullptr);
      ASSERT_NE(Add(*store, "n", "turn " + std::to_string(i) + " of a long conversation"), 0u);
    }
    const auto files = std::distance(fs::directory_iterator(dir_ / "db"), fs::directory_iterator{});
    most = std::max(most, static_cast<size_t>(files));
  }
  EXPECT_LT(most, 50u);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Stats("n")->episodes, static_cast<uint64_t>(kCycles));
}

}  // namespace
}  // namespace engram::memory
