// Bm25Index against a model: random adds, removals and re-indexing checked against a std::map of
// documents, and every pruned top-N against a brute-force scan of the model (same summation
// order, so scores compare exactly; ties by id).
#include "retrieval/bm25_index.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

namespace engram::retrieval {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

class Bm25IndexTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("engram-bm25-index-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"postings", {}}, {"terms", {}}};
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.string(), cfs, &cf_, &raw).ok());
    db_.reset(raw);
  }
  void TearDown() override {
    for (auto* h : cf_) db_->DestroyColumnFamilyHandle(h);
    db_.reset();
    fs::remove_all(dir_);
  }
  Bm25Index Index(std::string prefix = "") { return Bm25Index(db_.get(), cf_[1], cf_[2], prefix); }
  void Write(const Bm25Index& index, const Bm25Changes& changes) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(index.Apply(changes, batch).ok());
    ASSERT_TRUE(db_->Write({}, &batch).ok());
  }
  size_t SegmentKeys(std::string_view prefix) {
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[1]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }

  fs::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cf_;
};

// The model: documents as their term lists.
using Model = std::map<uint64_t, std::vector<std::string>>;

Bm25Stats StatsOf(const Model& docs) {
  std::map<std::string, int64_t> df;
  double total = 0;
  for (const auto& [id, terms] : docs) {
    total += static_cast<double>(terms.size());
    for (const std::string& t : std::set<std::string>(terms.begin(), terms.end())) ++df[t];
  }
  Bm25Stats s{static_cast<int64_t>(docs.size()), docs.empty() ? 0.0 : total / docs.size(), 0.0};
  for (const auto& [t, n] : df) s.mean_idf += Bm25RawIdf(s.documents, n);
  if (!df.empty()) s.mean_idf /= static_cast<double>(df.size());
  return s;
}

// Brute force: every document holding a query term, scored in the query's term order.
std::vector<RankedItem> Exhaustive(const Model& docs, const Bm25Query& q, size_t n,
                                   const std::function<bool(uint64_t)>* allowed) {
  std::vector<RankedItem> out;
  for (const auto& [id, terms] : docs) {
    if (allowed != nullptr && !(*allowed)(id)) continue;
    double score = 0.0;
    bool holds = false;
    for (const Bm25Query::Term& t : q.terms) {
      const auto tf = std::count(terms.begin(), terms.end(), t.term);
      if (tf == 0) continue;
      holds = true;
      score +=
          t.weight * Bm25TermScore(t.idf, static_cast<double>(tf),
                                    static_cast<double>(terms.size()), q.stats.average_length, {});
    }
    if (holds) out.push_back({id, score});
  }
  std::sort(out.begin(), out.end(), [](const RankedItem& a, const RankedItem& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

// Zipf-ish texts over a small vocabulary (so lists are long and ties common).
std::vector<std::string> RandomTerms(std::mt19937_64& rng) {
  static const std::vector<std::string> vocab = [] {
    std::vector<std::string> v;
    for (int i = 0; i < 80; ++i) v.push_back("w" + std::to_string(i));
    return v;
  }();
  std::vector<double> weights;
  for (size_t i = 0; i < vocab.size(); ++i) weights.push_back(1.0 / static_cast<double>(i + 1));
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::vector<std::string> terms(1 + rng() % 24);
  for (std::string& t : terms) t = vocab[pick(rng)];
  return terms;
}

std::string Text(const std::vector<std::string>& terms) {
  std::string s;
  for (const std::string& t : terms) s += t + " ";
  return s;
}

// Returns how many TopN calls pruned (skipped whole terms or dropped candidates).
size_t ExpectSameAsModel(const Bm25Index& index, const Model& docs, std::mt19937_64& rng) {
  size_t pruned = 0;
  Bm25Stats stats = StatsOf(docs);
  Result<double> mean = index.MeanIdf(stats.documents);
  EXPECT_TRUE(mean.ok());
  if (!mean.ok()) return 0;
  EXPECT_NEAR(*mean, stats.mean_idf, 1e-9);
  stats.mean_idf = *mean;
  const std::function<bool(uint64_t)> odd = [](uint64_t id) { return id % 2 == 1; };
  for (int query = 0; query < 60; ++query) {
    std::vector<std::string> words = RandomTerms(rng);
    words.resize(1 + rng() % 5);
    if (query % 7 == 0) words.push_back("absent");
    Result<Bm25Query> q = index.Prepare(Text(words), stats);
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return pruned;
    for (size_t n : {size_t{1}, size_t{3}, size_t{10}, size_t{50}, size_t{100000}}) {
      for (const std::function<bool(uint64_t)>* allowed :
           {static_cast<const std::function<bool(uint64_t)>*>(nullptr), &odd}) {
        Bm25PruneStats prune;
        Result<std::vector<RankedItem>> got = index.TopN(*q, n, allowed, &prune);
        EXPECT_TRUE(got.ok()) << got.status().ToString();
        if (!got.ok()) return pruned;
        pruned += prune.terms_scanned < q->terms.size() || prune.candidates_dropped > 0;
        const std::vector<RankedItem> want = Exhaustive(docs, *q, n, allowed);
        EXPECT_EQ(got->size(), want.size()) << Text(words) << " n=" << n;
        if (got->size() != want.size()) continue;
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_EQ((*got)[i].id, want[i].id) << Text(words) << " n=" << n << " rank " << i;
          EXPECT_EQ((*got)[i].score, want[i].score) << Text(words) << " rank " << i;
        }
      }
    }
    // Exact scores of given ids, known or not, in the order given.
    std::vector<uint64_t> ids = {0, 999999};
    for (const auto& [id, terms] : docs) {
      if (rng() % 5 == 0) ids.push_back(id);
    }
    std::shuffle(ids.begin(), ids.end(), rng);
    Result<std::vector<double>> scores = index.Score(*q, ids);
    EXPECT_TRUE(scores.ok());
    if (!scores.ok()) return pruned;
    const std::vector<RankedItem> all = Exhaustive(docs, *q, SIZE_MAX, nullptr);
    for (size_t i = 0; i < ids.size(); ++i) {
      double want = 0.0;
      for (const RankedItem& r : all) {
        if (r.id == ids[i]) want = r.score;
      }
      EXPECT_EQ((*scores)[i], want) << "id " << ids[i];
    }
  }
  return pruned;
}

TEST_F(Bm25IndexTest, RandomWritesMatchAModelAndPrunedTopNMatchesAFullScan) {
  std::mt19937_64 rng(23);
  const Bm25Index index = Index();
  Model docs;
  uint64_t next = 1;
  for (int round = 0; round < 6; ++round) {
    // Appends: single documents (the memory store's common case) and batches.
    for (int w = 0; w < 40; ++w) {
      Bm25Changes changes;
      const int batch = w % 4 == 0 ? 30 : 1;
      for (int i = 0; i < batch; ++i) {
        docs[next] = RandomTerms(rng);
        changes.Add(next, docs[next]);
        ++next;
      }
      Write(index, changes);
    }
    // Removals and re-indexing (an Update: the same id with new terms) in one write.
    Bm25Changes changes;
    std::set<uint64_t> picked;  // each id once per write
    while (picked.size() < 25 && picked.size() < docs.size()) {
      auto it = docs.begin();
      std::advance(it, static_cast<long>(rng() % docs.size()));
      if (!picked.insert(it->first).second) continue;
      changes.Remove(it->first, it->second);
      if (rng() % 2 == 0) {
        it->second = RandomTerms(rng);
        changes.Add(it->first, it->second);
      } else {
        docs.erase(it);
      }
    }
    Write(index, changes);
    // Every posting list as the model has it.
    for (int w = 0; w < 80; ++w) {
      const std::string term = "w" + std::to_string(w);
      Result<std::vector<Bm25Index::Posting>> got = index.Postings(term);
      ASSERT_TRUE(got.ok());
      std::vector<Bm25Index::Posting> want;
      for (const auto& [id, terms] : docs) {
        const auto tf = std::count(terms.begin(), terms.end(), term);
        if (tf > 0)
          want.push_back({id, static_cast<uint32_t>(tf), static_cast<uint32_t>(terms.size())});
      }
      ASSERT_EQ(got->size(), want.size()) << term;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ((*got)[i].id, want[i].id);
        EXPECT_EQ((*got)[i].tf, want[i].tf);
        EXPECT_EQ((*got)[i].length, want[i].length);
      }
    }
    // The comparison means something only if pruning happened in a good share of queries.
    EXPECT_GT(ExpectSameAsModel(index, docs, rng), 100u);
  }
}

TEST_F(Bm25IndexTest, ManyRemovalsAndUpdatesInOneWrite) {
  std::mt19937_64 rng(7);
  const Bm25Index index = Index();
  Model docs;
  Bm25Changes add;
  for (uint64_t id = 1; id <= 700; ++id) {
    docs[id] = RandomTerms(rng);
    add.Add(id, docs[id]);
  }
  Write(index, add);
  Bm25Changes changes;
  for (uint64_t id = 1; id <= 700; id += 3) {
    changes.Remove(id, docs[id]);
    if (id % 2 == 0) {
      docs[id] = RandomTerms(rng);
      changes.Add(id, docs[id]);
    } else {
      docs.erase(id);
    }
  }
  Write(index, changes);
  ExpectSameAsModel(index, docs, rng);
}

TEST_F(Bm25IndexTest, SingleAppendsFillSegmentsInsteadOfAddingAKeyEach) {
  const Bm25Index index = Index("ns\0"s);
  const std::vector<std::string> terms = {"common", "word"};
  for (uint64_t id = 1; id <= 3 * kBm25SegmentPostings + 5; ++id) {
    Bm25Changes c;
    c.Add(id, terms);
    Write(index, c);
  }
  EXPECT_EQ(SegmentKeys("ns\0common\0"s), 4u);  // 128 + 128 + 128 + 5
  Result<std::vector<Bm25Index::Posting>> p = index.Postings("common");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), 3 * kBm25SegmentPostings + 5);
  // Removing every posting deletes the segments and the term.
  Bm25Changes c;
  for (uint64_t id = 1; id <= 3 * kBm25SegmentPostings + 5; ++id) c.Remove(id, terms);
  Write(index, c);
  EXPECT_EQ(SegmentKeys("ns\0"s), 0u);
  Result<Bm25Query> q = index.Prepare("common", {1, 1.0, 0.0});
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->terms.empty());
}

TEST_F(Bm25IndexTest, PrefixesKeepIndexesApart) {
  const Bm25Index a = Index("a\0"s), b = Index("ab\0"s);
  Bm25Changes ca, cb;
  ca.Add(1, std::vector<std::string>{"porto"});
  cb.Add(1, std::vector<std::string>{"lisbon"});
  cb.Add(2, std::vector<std::string>{"porto", "porto"});
  Write(a, ca);
  Write(b, cb);
  Result<Bm25Query> q = a.Prepare("porto lisbon", {1, 1.0, 0.0});
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->terms.size(), 1u);
  Result<std::vector<RankedItem>> top = a.TopN(*q, 10);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].id, 1u);
  EXPECT_NEAR(*b.MeanIdf(2), (Bm25RawIdf(2, 1) + Bm25RawIdf(2, 1)) / 2, 1e-12);
}

TEST_F(Bm25IndexTest, RemovingAPostingThatIsNotStoredIsCorruption) {
  const Bm25Index index = Index();
  Bm25Changes add;
  add.Add(5, std::vector<std::string>{"x"});
  Write(index, add);
  Bm25Changes bad;
  bad.Remove(6, std::vector<std::string>{"x"});
  rocksdb::WriteBatch batch;
  EXPECT_EQ(index.Apply(bad, batch).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace engram::retrieval

namespace engram::retrieval {
namespace {

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Not a test: the BM25 side of a recall at scale (the memory store's 1M-episode case). Docs of
// 8-30 words over 30,000 with a Zipf background (ENGRAM_BM25_BENCH_DOCS, default 1,000,000),
// written 1,000 per Apply; queries of a document's words; top 50 pruned, the same with pruning
// off (n above the matches), and exact scores of 50 random ids (the vector side's candidates).
//   build/bin/engram_retrieval_tests --gtest_also_run_disabled_tests \
//     --gtest_filter='*DISABLED_ScaleBench*'
TEST_F(Bm25IndexTest, DISABLED_ScaleBench) {
  const char* env = std::getenv("ENGRAM_BM25_BENCH_DOCS");
  const uint64_t docs = env != nullptr ? std::strtoull(env, nullptr, 10) : 1000000;
  std::vector<double> weights;
  for (int i = 0; i < 30000; ++i) weights.push_back(1.0 / std::pow(i + 1.0, 1.07));
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::mt19937_64 rng(11);
  // ENGRAM_BM25_BENCH_TOPICS (default 1000; 0: pure Zipf): like `engram bench memory`'s
  // corpus, each document has a topic and draws 80% of its words from the topic's 60.
  const char* topics_env = std::getenv("ENGRAM_BM25_BENCH_TOPICS");
  const uint64_t topics = topics_env != nullptr ? std::strtoull(topics_env, nullptr, 10) : 1000;
  std::vector<std::vector<int>> topic_words(topics);
  for (std::vector<int>& words : topic_words) {
    for (int w = 0; w < 60; ++w) words.push_back(static_cast<int>(rng() % 30000));
  }
  auto word = [&](std::mt19937_64& r, uint64_t id) {
    if (topics > 0 && r() % 5 != 0) return topic_words[id % topics][r() % 60];
    return pick(r);
  };
  auto doc = [&](uint64_t id) {
    std::mt19937_64 r(id);
    std::vector<std::string> terms(8 + r() % 23);
    for (std::string& t : terms) t = "t" + std::to_string(word(r, id));
    return terms;
  };
  auto query_of = [&](uint64_t id) {
    std::mt19937_64 r(id * 7919 + 1);
    std::vector<std::string> terms(topics > 0 ? 6 : 4);
    for (std::string& t : terms) t = "t" + std::to_string(word(r, id));
    return terms;
  };
  const Bm25Index index = Index();
  uint64_t total = 0;
  const auto build = std::chrono::steady_clock::now();
  for (uint64_t first = 1; first <= docs; first += 1000) {
    Bm25Changes c;
    for (uint64_t id = first; id < first + 1000 && id <= docs; ++id) {
      const std::vector<std::string> terms = doc(id);
      total += terms.size();
      c.Add(id, terms);
    }
    Write(index, c);
  }
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build).count();
  Bm25Stats stats{static_cast<int64_t>(docs), static_cast<double>(total) / docs, 0.0};
  stats.mean_idf = *index.MeanIdf(stats.documents);
  std::vector<double> pruned_ms, full_ms, score_ms;
  size_t longest = 0;
  for (int q = 0; q < 200; ++q) {
    const std::vector<std::string> words = query_of(1 + rng() % docs);
    const auto t0 = std::chrono::steady_clock::now();
    Result<Bm25Query> query = index.Prepare(Text(words), stats);
    ASSERT_TRUE(query.ok());
    Result<std::vector<RankedItem>> top = index.TopN(*query, 50);
    const auto t1 = std::chrono::steady_clock::now();
    std::vector<uint64_t> ids;
    for (int i = 0; i < 50; ++i) ids.push_back(1 + rng() % docs);
    Result<std::vector<double>> scores = index.Score(*query, ids);
    const auto t2 = std::chrono::steady_clock::now();
    Result<std::vector<RankedItem>> full = index.TopN(*query, SIZE_MAX);
    const auto t3 = std::chrono::steady_clock::now();
    ASSERT_TRUE(top.ok() && scores.ok() && full.ok());
    longest = std::max(longest, full->size());
    for (size_t i = 0; i < top->size(); ++i) ASSERT_EQ((*top)[i].id, (*full)[i].id);
    pruned_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    score_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    full_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  std::printf(
      "docs %llu, topics %llu (build %.1f s), most matches %zu\n"
      "top-50 pruned   p50 %.2f ms  p99 %.2f ms\n"
      "top-50 full     p50 %.2f ms  p99 %.2f ms\n"
      "score 50 ids    p50 %.2f ms  p99 %.2f ms\n",
      static_cast<unsigned long long>(docs), static_cast<unsigned long long>(topics), build_s,
      longest, Percentile(pruned_ms, 0.5), Percentile(pruned_ms, 0.99), Percentile(full_ms, 0.5),
      Percentile(full_ms, 0.99), Percentile(score_ms, 0.5), Percentile(score_ms, 0.99));
}

}  // namespace
}  // namespace engram::retrieval
