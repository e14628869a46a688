// The document collection: BM25 search equal to rank-bm25 through the stored postings, dense and
// hybrid search, dedup / replace / delete, filters, persistence and index catch-up, refusal of
// foreign directories, concurrent readers, and atomicity under SIGKILL (a child process).
//
// The embedder here is a deterministic bag-of-words hashing embedder: these tests are about the
// store, and must run without model files. The real embedder runs through the same code in
// tests/app (engram ingest/search) and in `engram eval retrieval`.
#include "retrieval/collection.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "common/sha256.h"

namespace engram::retrieval {
namespace {

namespace fs = std::filesystem;

// Each term adds ±1 to a few hashed dimensions; normalised. Similar word sets, similar vectors.
class HashingEmbedder : public Embedder {
 public:
  explicit HashingEmbedder(int dim = 64, std::string name = "hashing-test") : dim_(dim), name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  int Dim() const override { return dim_; }
  int MaxTokens() const override { return 4096; }
  int CountTokens(std::string_view text) const override {
    int words = 0;
    bool in = false;
    for (char c : text) {
      const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
      if (!space && !in) ++words;
      in = !space;
    }
    return words + 2;
  }
  Result<EmbeddingBatch> Embed(std::span<const std::string> texts) override {
    EmbeddingBatch b;
    b.dim = dim_;
    for (const std::string& t : texts) {
      std::vector<float> v(dim_, 0.0f);
      for (const std::string& term : Bm25Terms(t)) {
        const size_t h = std::hash<std::string>{}(term);
        for (int j = 0; j < 3; ++j) v[(h >> (j * 8)) % dim_] += ((h >> (40 + j)) & 1) ? 1.0f : -1.0f;
      }
      double n = 0;
      for (float x : v) n += double(x) * x;
      for (float& x : v) x = n > 0 ? static_cast<float>(x / std::sqrt(n)) : 0.0f;
      if (n == 0) v[0] = 1.0f;
      b.values.insert(b.values.end(), v.begin(), v.end());
      b.tokens.push_back(CountTokens(t));
      b.truncated.push_back(0);
    }
    return b;
  }

 private:
  int dim_;
  std::string name_;
};

class CollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engram_collection_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Collection> Open(CollectionOptions options = {}) {
    options.mode = OpenMode::kCreate;
    options.chunking.max_tokens = 4000;  // one chunk per test document unless a test says
    options.chunking.overlap_tokens = 0;
    auto c = Collection::Open(dir_.string(), &embedder_, options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // Writes (a value) or deletes (nullopt) meta keys of the closed collection's database.
  void EditMeta(const std::map<std::string, std::optional<std::string>>& edits) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "documents", "chunks", "postings", "terms"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open({}, (dir_ / "db").string(), cfs, &handles, &raw).ok());
    for (const auto& [key, value] : edits) {
      ASSERT_TRUE(
          (value ? raw->Put({}, handles[0], key, *value) : raw->Delete({}, handles[0], key)).ok());
    }
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  fs::path dir_;
  HashingEmbedder embedder_;
};

TEST_F(CollectionTest, Bm25SearchEqualsRankBm25ThroughStoredPostings) {
  std::ifstream in(std::string(ENGRAM_TEST_DATA_DIR) + "/bm25/rank_bm25.json");
  const nlohmann::json g = nlohmann::json::parse(in);
  const std::pair<const char*, Stemming> cases[] = {{"tiny", Stemming::kNone},
                                                    {"squad", Stemming::kNone},
                                                    {"tiny_stemmed", Stemming::kEnglish},
                                                    {"squad_stemmed", Stemming::kEnglish}};
  for (const auto& [name, stemming] : cases) {
    fs::remove_all(dir_);
    CollectionOptions options;
    options.stemming = stemming;
    auto c = Open(options);
    ASSERT_NE(c, nullptr);
    const nlohmann::json& corpus = g[name];
    // "squad_stemmed" reuses "squad"'s paragraphs.
    const nlohmann::json& texts =
        corpus["documents"].is_null() ? g["squad"]["documents"] : corpus["documents"];
    std::vector<DocumentInput> docs;
    for (size_t i = 0; i < texts.size(); ++i) {
      // Each text once: duplicates would be deduplicated (none in these corpora).
      docs.push_back({.text = texts[i].get<std::string>(), .source = "doc" + std::to_string(i)});
    }
    auto results = c->IngestBatch(docs);
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    ASSERT_EQ(c->Stats().chunks, docs.size());
    for (const auto& q : corpus["queries"]) {
      auto hits = c->Search(q["query"].get<std::string>(), {.mode = SearchMode::kBm25, .k = 20});
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      // Every hit's score equals rank-bm25's for that document (ids are 1 + input index).
      std::map<uint64_t, double> expected;
      for (const auto& t : q["top"]) expected[(*results)[t[0].get<size_t>()].id] = t[1].get<double>();
      size_t positive = 0;
      for (const auto& t : q["top"]) positive += t[1].get<double>() != 0.0;
      EXPECT_EQ(hits->size(), std::min<size_t>(positive, 20)) << q["query"];
      for (const SearchHit& h : *hits) {
        ASSERT_TRUE(expected.count(h.document_id)) << name << ": " << q["query"] << " doc " << h.document_id;
        EXPECT_NEAR(h.score, expected[h.document_id], 1e-9) << name << ": " << q["query"];
      }
    }
  }
}

TEST_F(CollectionTest, DenseHybridCitationsAndFilters) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Ingest({.text = "Rust ownership and borrowing rules prevent data races.",
                         .source = "a.txt", .tags = {"lang"}}).ok());
  ASSERT_TRUE(c->Ingest({.text = "Sourdough bread needs a starter, flour, water and salt.",
                         .source = "b.txt", .tags = {"food"}}).ok());
  ASSERT_TRUE(c->Ingest({.text = "The borrow checker enforces ownership in Rust programs.",
                         .source = "notes/c.txt", .tags = {"lang", "notes"}}).ok());
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    auto hits = c->Search("rust ownership borrowing", {.mode = mode, .k = 2});
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 2u) << SearchModeName(mode);
    for (const SearchHit& h : *hits) EXPECT_NE(h.source, "b.txt") << SearchModeName(mode);
    const SearchHit& top = (*hits)[0];
    EXPECT_EQ(top.Citation(), std::to_string(top.document_id) + ":0-" + std::to_string(top.text.size()));
  }
  auto tagged = c->Search("rust", {.mode = SearchMode::kHybrid, .k = 5, .tags = {"notes"}});
  ASSERT_TRUE(tagged.ok());
  ASSERT_EQ(tagged->size(), 1u);
  EXPECT_EQ((*tagged)[0].source, "notes/c.txt");
  auto prefixed = c->Search("bread rust", {.mode = SearchMode::kDense, .k = 5, .source_prefix = "b"});
  ASSERT_TRUE(prefixed.ok());
  ASSERT_EQ(prefixed->size(), 1u);
  EXPECT_EQ((*prefixed)[0].source, "b.txt");
  auto weighted = c->Search("rust", {.mode = SearchMode::kHybrid, .k = 3, .fusion = FusionMethod::kWeighted});
  ASSERT_TRUE(weighted.ok());
  EXPECT_EQ(weighted->size(), 3u);
  auto diverse = c->Search("rust ownership", {.mode = SearchMode::kHybrid, .k = 2, .mmr = true});
  ASSERT_TRUE(diverse.ok());
  EXPECT_EQ(diverse->size(), 2u);
}

// Hybrid's second stage (SearchOptions::rescore): a paragraph that holds the query's words in
// one sentence, in order, overtakes one that BM25 prefers for holding them more often,
// scattered; each rescored score is the fused one plus the weighted features, and the dense
// score of a rescored hit is its exact cosine.
TEST_F(CollectionTest, HybridRescoresItsFirstCandidatesByCosineAndTermMatches) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  const std::string answer =
      "The Denver Broncos won Super Bowl 50, beating the Carolina Panthers in Santa Clara on a "
      "cold February evening before a large crowd of fans from across the nation.";
  const std::string scattered =
      "Super fans. A bowl of chili. Denver won fifty. Broncos fans. Super crowds, a bowl, 50 "
      "flags, won bets, Broncos hats.";
  ASSERT_TRUE(c->Ingest({.text = answer, .source = "answer"}).ok());
  ASSERT_TRUE(c->Ingest({.text = scattered, .source = "scattered"}).ok());
  for (const char* other : {"Sourdough needs flour.", "Rivers flow to the sea.",
                            "Rust has a borrow checker.", "Tea grows in Assam."}) {
    ASSERT_TRUE(c->Ingest({.text = other, .source = other}).ok());
  }
  const std::string query = "Broncos won Super Bowl 50";
  auto search = [&](RescoreOptions rescore) {
    auto hits = c->Search(query, {.mode = SearchMode::kHybrid, .k = 6, .rescore = rescore});
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    std::map<std::string, SearchHit> by_source;
    for (const SearchHit& h : *hits) by_source[h.source] = h;
    return std::make_pair(*hits, by_source);
  };
  const auto [fused, fused_by] = search({.candidates = 0});
  ASSERT_EQ(fused[0].source, "scattered");  // the premise: fusion alone prefers it
  const auto [matched, matched_by] = search({.candidates = 30,
                                             .cosine = 0,
                                             .sentence_cosine = 0,
                                             .coverage = 0,
                                             .sentence = 1,
                                             .bigrams = 1});
  EXPECT_EQ(matched[0].source, "answer");
  // Every query term in one sentence (1), all four query pairs adjacent (1).
  EXPECT_NEAR(matched_by.at("answer").score, fused_by.at("answer").score + 2.0, 1e-9);

  const auto [cosine, cosine_by] = search({.candidates = 30,
                                           .cosine = 1,
                                           .sentence_cosine = 0,
                                           .coverage = 0,
                                           .sentence = 0,
                                           .bigrams = 0});
  ASSERT_EQ(cosine.size(), 6u);
  const std::vector<std::string> texts = {query};
  auto q = embedder_.Embed(texts);
  ASSERT_TRUE(q.ok());
  for (const SearchHit& h : cosine) {
    const std::vector<std::string> chunk = {h.text};
    auto e = embedder_.Embed(chunk);
    ASSERT_TRUE(e.ok());
    double dot = 0.0;
    for (size_t d = 0; d < e->values.size(); ++d) dot += double(q->values[d]) * e->values[d];
    EXPECT_NEAR(h.dense_score, dot, 1e-6) << h.source;
    EXPECT_NEAR(h.score, fused_by.at(h.source).score + dot, 1e-6) << h.source;
  }
  // The best sentence's cosine, from the int8 sentence vectors stored at ingest.
  const auto [best, best_by] = search({.candidates = 30,
                                       .cosine = 0,
                                       .sentence_cosine = 1,
                                       .coverage = 0,
                                       .sentence = 0,
                                       .bigrams = 0});
  for (const SearchHit& h : best) {
    double max_cosine = -1.0;
    for (const TextSpan& span : SplitSentences(h.text)) {
      const std::vector<std::string> sentence = {h.text.substr(span.begin, span.end - span.begin)};
      auto e = embedder_.Embed(sentence);
      ASSERT_TRUE(e.ok());
      double dot = 0.0;
      for (size_t d = 0; d < e->values.size(); ++d) dot += double(q->values[d]) * e->values[d];
      max_cosine = std::max(max_cosine, dot);
    }
    EXPECT_NEAR(h.score, fused_by.at(h.source).score + max_cosine, 0.01) << h.source;
  }
  // A default search is rescored with the default weights; bm25 mode is left as it is.
  auto by_default = c->Search(query, {.k = 6});
  ASSERT_TRUE(by_default.ok());
  const auto [weighted, weighted_by] = search(RescoreOptions{});
  for (const SearchHit& h : *by_default) EXPECT_EQ(h.score, weighted_by.at(h.source).score);
  for (const char* source : {"answer", "scattered"}) {
    EXPECT_GT(weighted_by.at(source).score, fused_by.at(source).score + 1.0) << source;
  }
  auto bm25 = c->Search(query, {.mode = SearchMode::kBm25, .k = 1});
  ASSERT_TRUE(bm25.ok());
  EXPECT_EQ((*bm25)[0].source, "scattered");
}

TEST_F(CollectionTest, DedupReplaceDeleteAndList) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  auto first = c->Ingest({.text = "alpha beta gamma", .source = "x.txt"});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->outcome, IngestOutcome::kAdded);
  auto same = c->Ingest({.text = "alpha beta gamma", .source = "x.txt"});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->outcome, IngestOutcome::kUnchanged);
  EXPECT_EQ(same->id, first->id);
  // Another source with the same text is another document (a source is the identity).
  auto copy = c->Ingest({.text = "alpha beta gamma", .source = "y.txt"});
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->outcome, IngestOutcome::kAdded);
  ASSERT_TRUE(c->Delete(copy->id).ok());
  auto replaced = c->Ingest({.text = "delta epsilon", .source = "x.txt"});
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->outcome, IngestOutcome::kReplaced);
  EXPECT_NE(replaced->id, first->id);
  auto docs = c->List();
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].source, "x.txt");
  auto old_terms = c->Search("alpha", {.mode = SearchMode::kBm25});
  ASSERT_TRUE(old_terms.ok());
  EXPECT_TRUE(old_terms->empty());
  ASSERT_TRUE(c->Delete(replaced->id).ok());
  EXPECT_EQ(c->Delete(replaced->id).code(), StatusCode::kNotFound);
  EXPECT_EQ(c->Stats().chunks, 0u);
  auto none = c->Search("delta", {.mode = SearchMode::kHybrid});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// Postings live in one segment per (term, ingest batch): deleting or replacing some documents of a
// batch must rewrite those segments so that BM25 scores equal a collection that never held them.
TEST_F(CollectionTest, RemovalsFromSharedPostingSegmentsLeaveExactScores) {
  const std::vector<DocumentInput> batch = {
      {.text = "rivers flow into the sea near old mills", .source = "a"},
      {.text = "mills grind grain beside rivers", .source = "b"},
      {.text = "the sea is salty and rivers are fresh", .source = "c"},
      {.text = "grain and salt were traded by river boats", .source = "d"}};
  auto c = Open();
  ASSERT_NE(c, nullptr);
  auto ingested = c->IngestBatch(batch);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  ASSERT_TRUE(c->Delete((*ingested)[1].id).ok());  // b
  // c replaced within a batch that also adds e: two edits and a new segment in one write.
  const std::vector<DocumentInput> second = {
      {.text = "fresh water rivers and mills", .source = "c"},
      {.text = "boats carry grain to the sea", .source = "e"}};
  ASSERT_TRUE(c->IngestBatch(second).ok());

  const fs::path fresh_dir = dir_.parent_path() / (dir_.filename().string() + "-fresh");
  fs::remove_all(fresh_dir);
  auto fresh = Collection::Open(fresh_dir.string(), &embedder_, {.mode = OpenMode::kCreate});
  ASSERT_TRUE(fresh.ok());
  for (const DocumentInput& d : {batch[0], batch[3], second[0], second[1]}) {
    ASSERT_TRUE((*fresh)->Ingest(d).ok());
  }
  for (const char* query : {"rivers mills", "grain", "sea salty", "boats grain sea", "grind"}) {
    auto got = c->Search(query, {.mode = SearchMode::kBm25, .k = 10});
    auto want = (*fresh)->Search(query, {.mode = SearchMode::kBm25, .k = 10});
    ASSERT_TRUE(got.ok() && want.ok());
    ASSERT_EQ(got->size(), want->size()) << query;
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_EQ((*got)[i].source, (*want)[i].source) << query;
      EXPECT_NEAR((*got)[i].score, (*want)[i].score, 1e-12) << query;
    }
  }
  fresh->reset();
  fs::remove_all(fresh_dir);
}

// The index kind is chosen when the collection is created and kept: a rebuild after the index
// file is lost uses it even when the opener asks for the default.
TEST_F(CollectionTest, IndexKindIsFixedAtCreation) {
  {
    CollectionOptions options;
    options.index.kind = IndexKind::kIvfPq;
    options.mode = OpenMode::kCreate;
    auto c = Collection::Open(dir_.string(), &embedder_, options);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Ingest({.text = "a document about rivers", .source = "1"}).ok());
    EXPECT_EQ((*c)->Stats().index_kind, IndexKind::kIvfPq);
  }
  fs::remove(dir_ / "vectors.faiss");
  auto c = Open();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Stats().index_kind, IndexKind::kIvfPq);
  auto hits = c->Search("rivers", {.mode = SearchMode::kDense, .k = 1});
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 1u);
}

// BM25 over segments with a common term, a mid-frequency pair and a rare term: the top scores
// equal a full BM25 over every chunk computed here from retrieval/bm25.h. (Kept from a MaxScore
// attempt that was slower here; any future pruning must keep passing it.)
TEST_F(CollectionTest, Bm25OverSegmentsEqualsFullBm25) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  std::vector<DocumentInput> docs;
  std::vector<std::string> texts;
  for (int i = 0; i < 1000; ++i) {
    std::string t = "common words item" + std::to_string(i);
    if (i % 10 == 0) t += " alpha beta";
    if (i % 20 == 0) t += " alpha";
    if (i % 97 == 0) t += " gamma";
    texts.push_back(t);
    docs.push_back({.text = t, .source = std::to_string(i)});
  }
  ASSERT_TRUE(c->IngestBatch(docs).ok());
  std::vector<std::vector<std::string>> terms;
  std::map<std::string, int64_t> df;
  double total = 0;
  for (const std::string& t : texts) {
    terms.push_back(Bm25Terms(t, Stemming::kEnglish));
    total += terms.back().size();
    std::set<std::string> distinct(terms.back().begin(), terms.back().end());
    for (const std::string& w : distinct) ++df[w];
  }
  Bm25Stats stats;
  stats.documents = static_cast<int64_t>(terms.size());
  stats.average_length = total / terms.size();
  for (const auto& [w, d] : df) stats.mean_idf += Bm25RawIdf(stats.documents, d);
  stats.mean_idf /= df.size();
  const std::vector<std::string> query = Bm25Terms("gamma alpha beta common", Stemming::kEnglish);
  std::vector<double> want;
  for (const auto& d : terms) {
    double score = 0;
    for (const std::string& q : query) {
      const double tf = static_cast<double>(std::count(d.begin(), d.end(), q));
      if (tf > 0) score += Bm25TermScore(Bm25Idf(stats, df[q], {}), tf, d.size(), stats.average_length, {});
    }
    want.push_back(score);
  }
  std::sort(want.rbegin(), want.rend());
  auto hits = c->Search("gamma alpha beta common", {.mode = SearchMode::kBm25, .k = 20});
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 20u);
  for (size_t i = 0; i < hits->size(); ++i) EXPECT_NEAR((*hits)[i].score, want[i], 1e-9) << i;
}

TEST_F(CollectionTest, LongDocumentsAreChunkedWithSpans) {
  auto c = Collection::Open(dir_.string(), &embedder_, {.chunking = {.max_tokens = 30, .overlap_tokens = 8}, .mode = OpenMode::kCreate});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Sentence number " + std::to_string(i) + " talks about topic" + std::to_string(i) + ". ";
  auto r = (*c)->Ingest({.text = text, .source = "long.txt"});
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->chunks, 5u);
  auto hits = (*c)->Search("topic17", {.mode = SearchMode::kBm25, .k = 3});
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  for (const SearchHit& h : *hits) {
    EXPECT_EQ(text.substr(h.begin, h.end - h.begin), h.text);
    EXPECT_NE(h.text.find("topic17"), std::string::npos);
  }
}

TEST_F(CollectionTest, PersistsAndCatchesUpAStaleOrMissingIndex) {
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Ingest({.text = "first document about rivers", .source = "1"}).ok());
    ASSERT_TRUE(c->Flush().ok());
  }
  const fs::path index = dir_ / "vectors.faiss";
  ASSERT_TRUE(fs::exists(index));
  fs::copy_file(index, dir_ / "old.faiss");
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Ingest({.text = "second document about mountains", .source = "2"}).ok());
  }
  // As if the process had died before saving the index: the old one is one document behind.
  fs::copy_file(dir_ / "old.faiss", index, fs::copy_options::overwrite_existing);
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    auto hits = c->Search("mountains", {.mode = SearchMode::kDense, .k = 2});
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 2u);
    EXPECT_EQ((*hits)[0].source, "2");
  }
  fs::remove(index);
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    auto hits = c->Search("rivers", {.mode = SearchMode::kDense, .k = 1});
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].source, "1");
    EXPECT_EQ(c->Stats().documents, 2u);
  }
}

TEST_F(CollectionTest, RefusesForeignDirectoriesAndOtherEmbedders) {
  fs::create_directories(dir_);
  { std::ofstream(dir_ / "notes.txt") << "mine"; }
  auto foreign = Collection::Open(dir_.string(), &embedder_, {});
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not an engram collection"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "db"));  // nothing written
  fs::remove_all(dir_);
  { auto c = Open(); ASSERT_NE(c, nullptr); }
  HashingEmbedder other(32, "other");
  auto mismatch = Collection::Open(dir_.string(), &other, {});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(CollectionPath("/tmp", "../etc").ok());
}

// A collection of an older format (2: unbounded per-batch segments) is refused with what to do,
// by the probe and by Open in both modes.
TEST_F(CollectionTest, AnOlderFormatIsRefusedWithWhatToDo) {
  { auto c = Open(); ASSERT_NE(c, nullptr); }
  EditMeta({{"format", "engram-collection 2"}});
  const CollectionProbe probe = ProbeCollection(dir_.string());
  EXPECT_EQ(probe.health, CollectionHealth::kForeign);
  EXPECT_EQ(probe.format, "engram-collection 2");
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite}) {
    CollectionOptions o;
    o.mode = mode;
    auto refused = Collection::Open(dir_.string(), &embedder_, o);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kNotSupported);
    const std::string message(refused.status().message());
    EXPECT_NE(message.find("has format 'engram-collection 2'; this engram reads "
                           "'engram-collection 6'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("re-ingest its documents"), std::string::npos) << message;
  }
}

TEST(ChunkIndexTextTest, TitleThenChunk) {
  EXPECT_EQ(ChunkIndexText("Super Bowl 50", "The Broncos won."), "Super Bowl 50. The Broncos won.");
  EXPECT_EQ(ChunkIndexText("Why sleep?", "Because."), "Why sleep? Because.");
  EXPECT_EQ(ChunkIndexText("", "Because."), "Because.");
}

// A chunk is indexed as its title and text: BM25 scores and dense scores equal those of a
// collection without titles holding "<title>. <text>", while hits return the chunk's own text
// and span. Retitling or deleting the document takes the title's terms out again.
TEST_F(CollectionTest, ChunksAreIndexedWithTheirDocumentTitle) {
  const std::vector<DocumentInput> titled = {
      {.text = "The Broncos beat the Panthers 24 to 10.", .title = "Super Bowl 50", .source = "a"},
      {.text = "The game was played in Santa Clara.", .title = "Levi's Stadium", .source = "b"},
      {.text = "Panthers fans were disappointed.", .source = "c"}};
  std::vector<DocumentInput> flattened = titled;
  for (DocumentInput& d : flattened) {
    d.text = ChunkIndexText(d.title, d.text);
    d.title.clear();
  }
  const fs::path flat_dir = dir_.string() + "_flat";
  fs::remove_all(flat_dir);
  CollectionOptions flat_options;
  flat_options.mode = OpenMode::kCreate;
  flat_options.index_title = false;
  flat_options.chunking = {.max_tokens = 4000, .overlap_tokens = 0};
  auto flat = Collection::Open(flat_dir.string(), &embedder_, flat_options);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  ASSERT_TRUE((*flat)->IngestBatch(flattened).ok());
  EXPECT_FALSE((*flat)->Stats().index_title);
  auto c = Open();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->IngestBatch(titled).ok());
  EXPECT_TRUE(c->Stats().index_title);
  EXPECT_DOUBLE_EQ(c->Stats().average_chunk_terms, (*flat)->Stats().average_chunk_terms);
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense}) {
    for (const char* query : {"super bowl panthers", "stadium santa clara", "panthers"}) {
      auto got = c->Search(query, {.mode = mode, .k = 3});
      auto want = (*flat)->Search(query, {.mode = mode, .k = 3});
      ASSERT_TRUE(got.ok() && want.ok());
      ASSERT_EQ(got->size(), want->size()) << query;
      for (size_t i = 0; i < got->size(); ++i) {
        EXPECT_EQ((*got)[i].source, (*want)[i].source) << query;
        EXPECT_NEAR((*got)[i].score, (*want)[i].score, 1e-6) << query;
      }
    }
  }
  auto bowl = c->Search("super bowl", {.mode = SearchMode::kBm25, .k = 3});
  ASSERT_TRUE(bowl.ok());
  ASSERT_EQ(bowl->size(), 1u);
  EXPECT_EQ((*bowl)[0].text, titled[0].text);
  EXPECT_EQ((*bowl)[0].title, "Super Bowl 50");
  EXPECT_EQ((*bowl)[0].begin, 0u);
  EXPECT_EQ((*bowl)[0].end, titled[0].text.size());
  // A new title replaces the document: the old title's terms are gone, the new ones found.
  DocumentInput retitled = titled[0];
  retitled.title = "Championship";
  auto r = c->Ingest(retitled);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, IngestOutcome::kReplaced);
  EXPECT_TRUE(c->Search("super bowl", {.mode = SearchMode::kBm25})->empty());
  EXPECT_EQ(c->Search("championship", {.mode = SearchMode::kBm25})->size(), 1u);
  auto listed = c->List();
  ASSERT_TRUE(listed.ok());
  for (const DocumentInfo& d : *listed) ASSERT_TRUE(c->Delete(d.id).ok()) << d.id;
  EXPECT_EQ(c->Stats().average_chunk_terms, 0.0);
  EXPECT_TRUE(c->Search("championship stadium panthers", {.mode = SearchMode::kBm25})->empty());
  flat->reset();
  fs::remove_all(flat_dir);
}

// The choice is fixed at creation: a collection made without titles keeps indexing without
// them whatever later opens ask.
TEST_F(CollectionTest, TheTitleChoiceIsKeptByLaterOpens) {
  {
    CollectionOptions o;
    o.index_title = false;
    auto c = Open(o);
    ASSERT_NE(c, nullptr);
  }
  auto c = Collection::Open(dir_.string(), &embedder_, {});  // index_title defaults to true
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->Stats().index_title);
  ASSERT_TRUE((*c)->Ingest({.text = "The Broncos won.", .title = "Super Bowl 50"}).ok());
  EXPECT_TRUE((*c)->Search("super bowl", {.mode = SearchMode::kBm25})->empty());
}

// Format 3 (before titles were indexed) is still read and written, without titles; a format-4
// collection that lost its index_title record is damaged.
TEST_F(CollectionTest, Format3IsReadWithoutTitlesAndAMissingTitleRecordIsDamage) {
  {
    CollectionOptions o;
    o.index_title = false;
    o.stemming = Stemming::kNone;
    o.sentence_vectors = false;
    auto c = Open(o);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(
        c->Ingest({.text = "The Broncos won.", .title = "Super Bowl 50", .source = "a"}).ok());
  }
  EditMeta({{"format", "engram-collection 3"}, {"index_title", std::nullopt}});
  EXPECT_EQ(ProbeCollection(dir_.string()).health, CollectionHealth::kSound);
  {
    auto c = Collection::Open(dir_.string(), &embedder_, {});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_FALSE((*c)->Stats().index_title);
    ASSERT_TRUE((*c)->Ingest({.text = "Panthers lost.", .title = "Carolina", .source = "b"}).ok());
    EXPECT_EQ((*c)->Search("broncos panthers", {.mode = SearchMode::kBm25})->size(), 2u);
    EXPECT_TRUE((*c)->Search("carolina", {.mode = SearchMode::kBm25})->empty());
  }
  EditMeta({{"format", "engram-collection 4"}});
  auto damaged = Collection::Open(dir_.string(), &embedder_, {});
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("index_title record is missing"), std::string::npos)
      << damaged.status().ToString();
}

TEST_F(CollectionTest, StemmingIsStoredAndFoundAcrossInflections) {
  {
    auto c = Open();  // the default stems
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->Stats().stemming, Stemming::kEnglish);
    ASSERT_TRUE(c->Ingest({.text = "Her paintings of horses hang in Porto.", .source = "a"}).ok());
    ASSERT_TRUE(c->Ingest({.text = "The ferry leaves at noon.", .source = "b"}).ok());
  }
  {  // a later open keeps the stored choice, whatever its options say
    CollectionOptions o;
    o.stemming = Stemming::kNone;
    auto c = Collection::Open(dir_.string(), &embedder_, o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ((*c)->Stats().stemming, Stemming::kEnglish);
    auto hits = (*c)->Search("Who painted a horse?", {.mode = SearchMode::kBm25});
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].text, "Her paintings of horses hang in Porto.");
    // Hybrid's rescoring matches the same stems: both terms of the query are in the passage.
    auto hybrid = (*c)->Search("painted horse", {.mode = SearchMode::kHybrid, .k = 1});
    ASSERT_TRUE(hybrid.ok());
    EXPECT_EQ((*hybrid)[0].text, "Her paintings of horses hang in Porto.");
  }
  fs::remove_all(dir_);
  CollectionOptions o;
  o.stemming = Stemming::kNone;
  auto c = Open(o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Ingest({.text = "Her paintings of horses hang in Porto.", .source = "a"}).ok());
  EXPECT_TRUE(c->Search("painted horse", {.mode = SearchMode::kBm25})->empty());
}

// Format 4 (before stemming) is still read and written, unstemmed; a format-5 collection that
// lost its stemming record is damaged.
TEST_F(CollectionTest, Format4IsReadUnstemmedAndAMissingStemmingRecordIsDamage) {
  {
    CollectionOptions o;
    o.stemming = Stemming::kNone;
    o.sentence_vectors = false;
    auto c = Open(o);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Ingest({.text = "Horses were painted.", .source = "a"}).ok());
  }
  EditMeta({{"format", "engram-collection 4"}, {"stemming", std::nullopt}});
  EXPECT_EQ(ProbeCollection(dir_.string()).health, CollectionHealth::kSound);
  {
    auto c = Collection::Open(dir_.string(), &embedder_, {});  // default options stem
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ((*c)->Stats().stemming, Stemming::kNone);
    ASSERT_TRUE((*c)->Ingest({.text = "A painting of a horse.", .source = "b"}).ok());
    EXPECT_EQ((*c)->Search("horses painted", {.mode = SearchMode::kBm25})->size(), 1u);
    EXPECT_EQ((*c)->Search("horse painting", {.mode = SearchMode::kBm25})->size(), 1u);
  }
  EditMeta({{"format", "engram-collection 5"}});
  auto damaged = Collection::Open(dir_.string(), &embedder_, {});
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("stemming record is missing"), std::string::npos)
      << damaged.status().ToString();
}

// Each chunk's sentences are embedded at ingest and stored with it (format 6), and hybrid's
// rescoring reads them: a chunk holding the query as one of its sentences beats one whose single
// embedding is nearer the query but which has no such sentence. The vectors survive a reopen.
TEST_F(CollectionTest, SentenceVectorsLetTheAnsweringSentenceWin) {
  // "answer" holds the query's words in one sentence among unrelated ones; "blend" spreads more
  // of them over its two sentences, so its one vector is nearer the query.
  const std::string answer =
      "Ferries cross the bay hourly. The lighthouse keeper painted the red door. Gulls nest "
      "on the cliffs. Tourists buy postcards.";
  const std::string blend =
      "The keeper of the lighthouse rowed to the red buoy. A door painted blue faced the "
      "painted lighthouse keeper cottage.";
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->Stats().sentence_vectors);
    ASSERT_TRUE(c->Ingest({.text = answer, .source = "answer"}).ok());
    ASSERT_TRUE(c->Ingest({.text = blend, .source = "blend"}).ok());
  }
  CollectionOptions later;
  later.sentence_vectors = false;  // a later open keeps the stored choice
  auto c = Collection::Open(dir_.string(), &embedder_, later);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->Stats().sentence_vectors);
  const std::string query = "The lighthouse keeper painted the red door";
  auto first = [&](double cosine, double sentence_cosine) {
    SearchOptions o{.mode = SearchMode::kHybrid, .k = 2};
    o.rescore = {.candidates = 30,
                 .cosine = cosine,
                 .sentence_cosine = sentence_cosine,
                 .coverage = 0,
                 .sentence = 0,
                 .bigrams = 0};
    auto hits = (*c)->Search(query, o);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    return hits.ok() && !hits->empty() ? (*hits)[0].source : std::string();
  };
  EXPECT_EQ(first(kMaxRescoreWeight, 0.0), "blend");
  EXPECT_EQ(first(0.0, kMaxRescoreWeight), "answer");
  // Each hit names its sentence nearest the query, as a span of its document.
  auto hits = (*c)->Search(query, {.mode = SearchMode::kHybrid, .k = 2});
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  for (const SearchHit& h : *hits) {
    ASSERT_LE(h.begin, h.sentence_begin);
    ASSERT_LT(h.sentence_begin, h.sentence_end);
    ASSERT_LE(h.sentence_end, h.end);
    const std::string sentence =
        h.text.substr(h.sentence_begin - h.begin, h.sentence_end - h.sentence_begin);
    if (h.source == "answer") {
      EXPECT_EQ(sentence, "The lighthouse keeper painted the red door.");
    } else {
      EXPECT_TRUE(sentence == "The keeper of the lighthouse rowed to the red buoy." ||
                  sentence == "A door painted blue faced the painted lighthouse keeper cottage.")
          << sentence;
    }
  }
  // The weight is validated like the others.
  SearchOptions bad;
  bad.rescore.sentence_cosine = -1.0;
  auto refused = (*c)->Search(query, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("rescore.sentence_cosine"), std::string::npos);
}

// A collection created without sentence vectors is written as format 5, as before them: its
// chunks carry none, and the rescoring counts each chunk's own cosine as its best sentence's.
TEST_F(CollectionTest, WithoutSentenceVectorsTheCollectionIsFormat5) {
  {
    CollectionOptions o;
    o.sentence_vectors = false;
    auto c = Open(o);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->Stats().sentence_vectors);
    ASSERT_TRUE(
        c->Ingest({.text = "The keeper painted the door. Gulls nest.", .source = "a"}).ok());
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back("default", rocksdb::ColumnFamilyOptions());
  for (const char* name : {"documents", "chunks", "postings", "terms"}) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::OpenForReadOnly({}, (dir_ / "db").string(), cfs, &handles, &raw).ok());
    std::string format;
    EXPECT_TRUE(raw->Get({}, handles[0], "format", &format).ok());
    EXPECT_EQ(format, "engram-collection 5");
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto c = Collection::Open(dir_.string(), &embedder_, {});  // the default would store them
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE((*c)->Stats().sentence_vectors);
  ASSERT_TRUE((*c)->Ingest({.text = "Ferries cross the bay.", .source = "b"}).ok());
  auto hits = (*c)->Search("keeper painted door", {.mode = SearchMode::kHybrid, .k = 2});
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].source, "a");
  EXPECT_EQ((*c)->DocumentText((*hits)[0].document_id).value_or(""),
            "The keeper painted the door. Gulls nest.");
  // Without sentence vectors a hit's nearest sentence is its whole chunk.
  EXPECT_EQ((*hits)[0].sentence_begin, (*hits)[0].begin);
  EXPECT_EQ((*hits)[0].sentence_end, (*hits)[0].end);
}

// A document is its source. Every way of naming one is checked: the same source replaces (or,
// unchanged in text, title, tags and format, leaves it), a retag replaces, the same text under
// another source is another document, an empty source is named by its text, invalid UTF-8 in a
// source or tag is stored repaired and still found again, and a batch naming a source twice is
// refused whole.
TEST_F(CollectionTest, SourceIsTheDocumentIdentity) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  auto outcome = [&](DocumentInput d) {
    auto r = c->Ingest(d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->outcome : IngestOutcome::kAdded;
  };
  EXPECT_EQ(outcome({.text = "one", .source = "s"}), IngestOutcome::kAdded);
  EXPECT_EQ(outcome({.text = "one", .source = "s"}), IngestOutcome::kUnchanged);
  EXPECT_EQ(outcome({.text = "one", .source = "s", .tags = {"t"}}), IngestOutcome::kReplaced);
  EXPECT_EQ(outcome({.text = "one", .title = "T", .source = "s", .tags = {"t"}}),
            IngestOutcome::kReplaced);
  EXPECT_EQ(outcome({.text = "two", .title = "T", .source = "s", .tags = {"t"}}),
            IngestOutcome::kReplaced);
  EXPECT_EQ(outcome({.text = "two", .source = "other"}), IngestOutcome::kAdded);
  EXPECT_EQ(outcome({.text = "three"}), IngestOutcome::kAdded);
  EXPECT_EQ(outcome({.text = "three"}), IngestOutcome::kUnchanged);
  EXPECT_EQ(outcome({.text = "four"}), IngestOutcome::kAdded);
  EXPECT_EQ(outcome({.text = "bad", .source = "caf\xe9.txt", .tags = {"\xff"}}), IngestOutcome::kAdded);
  EXPECT_EQ(outcome({.text = "bad", .source = "caf\xe9.txt", .tags = {"\xff"}}), IngestOutcome::kUnchanged);
  auto batch = c->IngestBatch(std::vector<DocumentInput>{
      {.text = "five", .source = "dup"}, {.text = "six", .source = "x"}, {.text = "seven", .source = "dup"}});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(batch.status().message().find("'dup'"), std::string_view::npos);

  auto docs = c->List();
  ASSERT_TRUE(docs.ok());
  std::map<std::string, DocumentInfo> by_source;
  for (const DocumentInfo& d : *docs) by_source[d.source] = d;
  ASSERT_EQ(by_source.size(), 5u) << "s, other, two sha256: names, caf\uFFFD.txt";
  EXPECT_EQ(by_source.count("s"), 1u);
  EXPECT_EQ(by_source.count("caf\uFFFD.txt"), 1u);
  EXPECT_EQ(by_source["caf\uFFFD.txt"].tags, std::vector<std::string>{"\uFFFD"});
  EXPECT_EQ(by_source.count("sha256:" + Sha256Hex("three").substr(0, 12)), 1u);
  auto one = c->Search("one", {.mode = SearchMode::kBm25});
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->empty()) << "the replaced text is gone";
  auto tagged = c->Search("bad", {.mode = SearchMode::kBm25, .tags = {"\xff"}});
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->size(), 1u) << "a filter tag is repaired like a stored one";
}

// Names, sizes and modification times of every file under `dir`: "nothing was written".
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> Snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> files;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    files[e.path().string()] = {e.is_regular_file() ? e.file_size() : 0, e.last_write_time()};
  }
  return files;
}

// Opening never creates unless asked; read-only opens write nothing and refuse writes.
TEST_F(CollectionTest, OnlyCreateCreatesAndReadOnlyWritesNothing) {
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite}) {
    auto missing = Collection::Open(dir_.string(), &embedder_, {.mode = mode});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    EXPECT_FALSE(fs::exists(dir_));
  }
  EXPECT_EQ(ProbeCollection(dir_.string()).health, CollectionHealth::kMissing);
  {
    auto c = Open();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Ingest({.text = "rivers and mills", .source = "a"}).ok());
    ASSERT_TRUE(c->Ingest({.text = "bread and salt", .source = "b"}).ok());
  }
  fs::remove(dir_ / "vectors.faiss");  // a stale index is caught up in memory only
  const auto before = Snapshot(dir_);
  {
    auto ro = Collection::Open(dir_.string(), &embedder_, {.mode = OpenMode::kReadOnly});
    ASSERT_TRUE(ro.ok()) << ro.status().ToString();
    auto hits = (*ro)->Search("mills", {.mode = SearchMode::kDense, .k = 1});
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].source, "a");
    EXPECT_EQ((*ro)->Ingest({.text = "x", .source = "x"}).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ((*ro)->Delete(1).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ((*ro)->Flush().code(), StatusCode::kFailedPrecondition);
    ASSERT_TRUE((*ro)->List().ok());
  }
  EXPECT_EQ(Snapshot(dir_), before);
}

// Every way of damaging the database files is kCorruption naming the collection and the damage;
// the collection is still listed (ProbeCollection says damaged) and is never modified.
TEST_F(CollectionTest, DamagedCollectionsAreReportedListedAndUntouched) {
  const fs::path data = dir_ / "data";
  const fs::path cdir = data / "collections" / "c";
  struct Damage {
    const char* name;
    std::function<void(const fs::path& db)> apply;
    const char* what;
  };
  auto remove_manifests = [](const fs::path& db) {
    for (const auto& e : fs::directory_iterator(db)) {
      if (e.path().filename().string().starts_with("MANIFEST-")) fs::remove(e.path());
    }
  };
  auto garble_manifests = [](const fs::path& db) {
    for (const auto& e : fs::directory_iterator(db)) {
      if (e.path().filename().string().starts_with("MANIFEST-")) {
        std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << std::string(64, '\x7f');
      }
    }
  };
  const std::vector<Damage> damages = {
      {"no CURRENT", [](const fs::path& db) { fs::remove(db / "CURRENT"); }, "CURRENT is missing"},
      {"no MANIFEST", remove_manifests, "is missing"},
      {"garbled CURRENT", [](const fs::path& db) { std::ofstream(db / "CURRENT") << "junk\n"; },
       "does not name a MANIFEST"},
      {"garbled MANIFEST", garble_manifests, "cannot be opened"},
      {"no db/", [](const fs::path& db) { fs::remove_all(db); }, "db/ is missing"},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.name);
    fs::remove_all(dir_);
    {
      auto c = Collection::Open(cdir.string(), &embedder_, {.mode = OpenMode::kCreate});
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      ASSERT_TRUE((*c)->Ingest({.text = "some text", .source = "a"}).ok());
    }
    damage.apply(cdir / "db");
    const auto before = Snapshot(dir_);
    const CollectionProbe probe = ProbeCollection(cdir.string());
    EXPECT_EQ(probe.health, CollectionHealth::kDamaged) << probe.problem;
    EXPECT_NE(probe.problem.find(damage.what), std::string::npos) << probe.problem;
    EXPECT_EQ(ListCollections(data.string()), std::vector<std::string>{"c"});
    for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite, OpenMode::kCreate}) {
      auto c = Collection::Open(cdir.string(), &embedder_, {.mode = mode});
      ASSERT_FALSE(c.ok());
      EXPECT_EQ(c.status().code(), StatusCode::kCorruption) << c.status().ToString();
      EXPECT_NE(c.status().message().find("collection 'c' at '" + cdir.string() + "' is damaged ("),
                std::string_view::npos) << c.status().ToString();
      EXPECT_EQ(c.status().message().find('\n'), std::string_view::npos);
    }
    EXPECT_EQ(Snapshot(dir_), before);
  }
}

// Every numeric option at the API boundary: out of range, negative, NaN, infinite and huge
// values are kInvalidArgument naming the option; so are empty and oversized queries.
TEST_F(CollectionTest, BadSearchAndCollectionOptionsAreRefused) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Ingest({.text = "rivers", .source = "a"}).ok());
  const double nan = std::nan(""), inf = HUGE_VAL;
  struct Bad {
    const char* option;
    std::function<void(SearchOptions&)> set;
  };
  const std::vector<Bad> bad = {
      {"k", [](SearchOptions& o) { o.k = 0; }},
      {"k", [](SearchOptions& o) { o.k = -5; }},
      {"k", [](SearchOptions& o) { o.k = kMaxSearchK + 1; }},
      {"k", [](SearchOptions& o) { o.k = INT_MAX; }},
      {"candidates", [](SearchOptions& o) { o.candidates = -1; }},
      {"candidates", [](SearchOptions& o) { o.candidates = INT_MAX; }},
      {"rrf_k", [&](SearchOptions& o) { o.rrf_k = nan; }},
      {"rrf_k", [&](SearchOptions& o) { o.rrf_k = inf; }},
      {"rrf_k", [](SearchOptions& o) { o.rrf_k = -1; }},
      {"rrf_k", [](SearchOptions& o) { o.rrf_k = 1e300; }},
      {"dense_weight", [&](SearchOptions& o) { o.dense_weight = nan; }},
      {"dense_weight", [&](SearchOptions& o) { o.dense_weight = -inf; }},
      {"dense_weight", [](SearchOptions& o) { o.dense_weight = -0.1; }},
      {"dense_weight", [](SearchOptions& o) { o.dense_weight = 1.5; }},
      {"mmr_lambda", [&](SearchOptions& o) { o.mmr_lambda = nan; }},
      {"mmr_lambda", [](SearchOptions& o) { o.mmr_lambda = 2; }},
      {"rescore.candidates", [](SearchOptions& o) { o.rescore.candidates = -1; }},
      {"rescore.candidates", [](SearchOptions& o) { o.rescore.candidates = INT_MAX; }},
      {"rescore.cosine", [&](SearchOptions& o) { o.rescore.cosine = nan; }},
      {"rescore.coverage", [](SearchOptions& o) { o.rescore.coverage = -1; }},
      {"rescore.sentence", [&](SearchOptions& o) { o.rescore.sentence = inf; }},
      {"rescore.bigrams", [](SearchOptions& o) { o.rescore.bigrams = kMaxRescoreWeight + 1; }},
  };
  for (const Bad& b : bad) {
    SearchOptions o;
    b.set(o);
    auto r = c->Search("rivers", o);
    ASSERT_FALSE(r.ok()) << b.option;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(b.option), std::string_view::npos) << r.status().ToString();
  }
  for (const std::string& query : {std::string(), std::string("  \t\n"), std::string(kMaxQueryBytes + 1, 'a')}) {
    EXPECT_EQ(c->Search(query, {}).status().code(), StatusCode::kInvalidArgument) << query.size();
  }
  EXPECT_TRUE(c->Search("rivers", {.k = kMaxSearchK, .rrf_k = 0, .dense_weight = 1, .candidates = kMaxSearchCandidates}).ok());

  struct BadOpen {
    const char* option;
    std::function<void(CollectionOptions&)> set;
  };
  const std::vector<BadOpen> bad_open = {
      {"max_tokens", [](CollectionOptions& o) { o.chunking.max_tokens = 0; }},
      {"max_tokens", [](CollectionOptions& o) { o.chunking.max_tokens = 1 << 30; }},
      {"overlap_tokens", [](CollectionOptions& o) { o.chunking.overlap_tokens = -1; }},
      {"overlap_tokens", [](CollectionOptions& o) { o.chunking.overlap_tokens = o.chunking.max_tokens; }},
      {"k1", [&](CollectionOptions& o) { o.bm25.k1 = nan; }},
      {"k1", [](CollectionOptions& o) { o.bm25.k1 = -1; }},
      {"b", [&](CollectionOptions& o) { o.bm25.b = inf; }},
      {"b", [](CollectionOptions& o) { o.bm25.b = 1.5; }},
  };
  c.reset();
  for (const BadOpen& b : bad_open) {
    CollectionOptions o;
    b.set(o);
    auto r = Collection::Open(dir_.string(), &embedder_, o);
    ASSERT_FALSE(r.ok()) << b.option;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(b.option), std::string_view::npos) << r.status().ToString();
  }
}

// The vector index is a cache owned by its database: another collection's vectors.faiss with
// the same ids (and the same sequence number) copied over this one's is not trusted but rebuilt,
// so dense search still returns this collection's chunks; so is an index saved without owner.
TEST_F(CollectionTest, ForeignIndexFileIsRebuiltFromTheDatabase) {
  const fs::path a = dir_ / "a", b = dir_ / "b";
  const std::vector<std::string> a_texts = {"rivers flow to the sea", "mills grind grain"};
  const std::vector<std::string> b_texts = {"bread needs flour and salt", "sourdough starter"};
  for (const auto& [dir, texts] : {std::pair{a, a_texts}, std::pair{b, b_texts}}) {
    auto c = Collection::Open(dir.string(), &embedder_, {.mode = OpenMode::kCreate});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (size_t i = 0; i < texts.size(); ++i) {
      ASSERT_TRUE((*c)->Ingest({.text = texts[i], .source = std::to_string(i)}).ok());
    }
    ASSERT_TRUE((*c)->Flush().ok());
  }
  auto check_b = [&](OpenMode mode) {
    auto c = Collection::Open(b.string(), &embedder_, {.mode = mode});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (const std::string& text : b_texts) {
      auto hits = (*c)->Search(text, {.mode = SearchMode::kDense, .k = 1});
      ASSERT_TRUE(hits.ok());
      ASSERT_EQ(hits->size(), 1u);
      EXPECT_EQ((*hits)[0].text, text);
      EXPECT_NEAR((*hits)[0].dense_score, 1.0, 1e-4);
    }
  };
  for (OpenMode mode : {OpenMode::kReadOnly, OpenMode::kReadWrite}) {
    fs::copy_file(a / "vectors.faiss", b / "vectors.faiss", fs::copy_options::overwrite_existing);
    check_b(mode);
  }
  // The writable open saved a rebuilt index that B owns: it now loads as is.
  auto own = VectorIndex::Load((b / "vectors.faiss").string(), nullptr);
  ASSERT_TRUE(own.ok());
  auto unowned = VectorIndex::Create(embedder_.Dim(), {});
  ASSERT_TRUE(unowned.ok());
  ASSERT_TRUE((*unowned)->Save((b / "vectors.faiss").string(), 0).ok());
  check_b(OpenMode::kReadWrite);
}

TEST_F(CollectionTest, ConcurrentSearchesWhileIngesting) {
  auto c = Open();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Ingest({.text = "seed document", .source = "seed"}).ok());
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        auto hits = c->Search("document number", {.mode = SearchMode::kHybrid, .k = 5});
        if (!hits.ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c->Ingest({.text = "document number " + std::to_string(i), .source = std::to_string(i)}).ok());
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(c->Stats().documents, 101u);
}

// The child of SigkillMidIngestLeavesWholeDocuments, run as a fresh process (this binary,
// re-executed with ENGRAM_SIGKILL_CHILD set): ingests multi-chunk documents until killed.
TEST(CollectionSigkillChild, IngestUntilKilled) {
  const char* dir = std::getenv("ENGRAM_SIGKILL_CHILD_DIR");
  const char* round = std::getenv("ENGRAM_SIGKILL_CHILD_ROUND");
  if (dir == nullptr || round == nullptr) GTEST_SKIP() << "runs only as the SIGKILL test's child";
  HashingEmbedder embedder;
  auto c = Collection::Open(dir, &embedder, {.chunking = {.max_tokens = 8, .overlap_tokens = 0}, .mode = OpenMode::kCreate});
  if (!c.ok()) ::_exit(3);
  for (int i = 0;; ++i) {
    std::string text;
    for (int s = 0; s < 6; ++s) {
      text += std::string("round") + round + " doc" + std::to_string(i) + " sentence" +
              std::to_string(s) + " words here. ";
    }
    if (!(*c)->Ingest({.text = text, .source = std::string(round) + "/" + std::to_string(i)}).ok()) {
      ::_exit(4);
    }
  }
}

// A child process ingests documents (six chunks each) until the parent SIGKILLs it at a random
// moment; after every kill the collection opens, and every document is either fully present
// (all its chunks found by BM25 and by the vector index) or absent.
TEST_F(CollectionTest, SigkillMidIngestLeavesWholeDocuments) {
  std::mt19937 rng(5);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  for (int round = 0; round < 5; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::setenv("ENGRAM_SIGKILL_CHILD_DIR", dir_.c_str(), 1);
      ::setenv("ENGRAM_SIGKILL_CHILD_ROUND", std::to_string(round).c_str(), 1);
      ::execl(self.c_str(), self.c_str(), "--gtest_filter=CollectionSigkillChild.*", nullptr);
      ::_exit(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 700));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << status;
    auto c = Collection::Open(dir_.string(), &embedder_, {.chunking = {.max_tokens = 8, .overlap_tokens = 0}, .mode = OpenMode::kCreate});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto docs = (*c)->List();
    ASSERT_TRUE(docs.ok());
    uint64_t chunks = 0;
    for (const DocumentInfo& d : *docs) {
      EXPECT_EQ(d.chunks, 6u) << d.source;
      chunks += d.chunks;
    }
    EXPECT_EQ((*c)->Stats().chunks, chunks);
    // Every document's chunks are all found, by BM25 and by the vector index: the newest ones
    // (where a torn write would show) and a sample of the rest.
    std::vector<DocumentInfo> check(docs->end() - std::min<ptrdiff_t>(docs->size(), 10), docs->end());
    for (size_t i = 0; i < docs->size(); i += 1 + docs->size() / 20) check.push_back((*docs)[i]);
    for (const DocumentInfo& d : check) {
      auto hits = (*c)->Search("sentence3", {.mode = SearchMode::kBm25, .k = 100, .document = d.id});
      ASSERT_TRUE(hits.ok());
      EXPECT_EQ(hits->size(), 1u) << d.source;
      auto dense = (*c)->Search("words", {.mode = SearchMode::kDense, .k = 100, .document = d.id});
      ASSERT_TRUE(dense.ok());
      EXPECT_EQ(dense->size(), 6u) << d.source;
    }
    if (round == 4) {
      EXPECT_GT(docs->size(), 0u);
    }
  }
}

}  // namespace
}  // namespace engram::retrieval
