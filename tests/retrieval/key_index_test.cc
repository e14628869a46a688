// KeyIndex (RetrievalAttention's key index) against a brute-force inner-product top-k in this
// file: exact proposes everything; ivf and aware propose only ids they were given, find keys
// added after the build, and on synthetic attention-like data (keys around a large shared mean,
// queries in a few clusters elsewhere: the two distributions differ) the attention-aware index
// finds far more of a query's true top keys than IVF for the same candidate count.
#include "retrieval/key_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace engram::retrieval {
namespace {

constexpr int kDim = 64;

// Attention-like synthetic data. Keys: a large shared offset (real keys cluster around a mean,
// far from the origin) plus anisotropic Gaussian noise (a few channels carry most of the
// variance, as in real heads). Queries: a few cluster centres in another region plus noise;
// prefill and held-out queries are drawn the same way.
struct AttentionData {
  int dim = kDim;
  std::vector<float> keys;         // n_keys rows
  std::vector<int32_t> ids;        // not the row numbers: 5 * row + 3
  std::vector<float> prefill;      // prefill queries
  std::vector<float> test;         // held-out queries
  int64_t n_keys = 0, n_prefill = 0, n_test = 0;
  const float* key(int64_t i) const { return keys.data() + i * dim; }
  const float* test_query(int64_t i) const { return test.data() + i * dim; }
};

AttentionData MakeAttentionData(int64_t n_keys, int64_t n_prefill, int64_t n_test,
                                uint32_t seed = 1) {
  AttentionData d;
  d.n_keys = n_keys, d.n_prefill = n_prefill, d.n_test = n_test;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const int dim = d.dim;
  // Key channel scales: log-uniform over [0.25, 2].
  std::vector<float> scale(dim);
  for (float& s : scale) s = 0.25f * std::pow(8.0f, uniform(rng));
  std::vector<float> key_mean(dim);
  for (float& m : key_mean) m = 3.0f * normal(rng);
  d.keys.resize(static_cast<size_t>(n_keys) * dim);
  d.ids.resize(static_cast<size_t>(n_keys));
  for (int64_t i = 0; i < n_keys; ++i) {
    for (int j = 0; j < dim; ++j) d.keys[i * dim + j] = key_mean[j] + scale[j] * normal(rng);
    d.ids[i] = static_cast<int32_t>(5 * i + 3);
  }
  constexpr int kQueryClusters = 16;
  std::vector<float> query_mean(dim);
  for (float& m : query_mean) m = 2.0f * normal(rng);
  std::vector<float> centres(static_cast<size_t>(kQueryClusters) * dim);
  for (size_t i = 0; i < centres.size(); ++i) {
    centres[i] = query_mean[i % dim] + 1.5f * normal(rng);
  }
  auto draw = [&](int64_t n, std::vector<float>* out) {
    out->resize(static_cast<size_t>(n) * dim);
    for (int64_t i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % kQueryClusters);
      for (int j = 0; j < dim; ++j) {
        (*out)[i * dim + j] = centres[c * dim + j] + 0.6f * normal(rng);
      }
    }
  };
  draw(n_prefill, &d.prefill);
  draw(n_test, &d.test);
  return d;
}

// The ids of the k keys with the highest inner product with `q` (double accumulation).
std::set<int32_t> TrueTopK(const AttentionData& d, const float* q, int k) {
  std::vector<double> score(static_cast<size_t>(d.n_keys));
  for (int64_t i = 0; i < d.n_keys; ++i) {
    double s = 0;
    for (int j = 0; j < d.dim; ++j) s += double(q[j]) * d.key(i)[j];
    score[i] = s;
  }
  std::vector<int64_t> order(static_cast<size_t>(d.n_keys));
  std::iota(order.begin(), order.end(), 0);
  const int n = static_cast<int>(std::min<int64_t>(k, d.n_keys));
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  std::set<int32_t> top;
  for (int i = 0; i < n; ++i) top.insert(d.ids[order[i]]);
  return top;
}

double Recall(const std::vector<int32_t>& candidates, const std::set<int32_t>& truth) {
  const std::set<int32_t> got(candidates.begin(), candidates.end());
  int found = 0;
  for (int32_t id : truth) found += got.count(id);
  return truth.empty() ? 1.0 : double(found) / double(truth.size());
}

KeyIndexInput Input(const AttentionData& d, bool with_queries) {
  KeyIndexInput in;
  in.dim = d.dim;
  in.keys = d.keys.data();
  in.ids = d.ids.data();
  in.n_keys = d.n_keys;
  if (with_queries) {
    in.queries = d.prefill.data();
    in.n_queries = d.n_prefill;
  }
  return in;
}

std::unique_ptr<KeyIndex> MustBuild(KeyIndexKind kind, const KeyIndexInput& in) {
  Result<std::unique_ptr<KeyIndex>> index = BuildKeyIndex(kind, in);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(index).value() : nullptr;
}

TEST(KeyIndex, ExactProposesEveryKey) {
  const AttentionData d = MakeAttentionData(300, 0, 2);
  std::unique_ptr<KeyIndex> index = MustBuild(KeyIndexKind::kExact, Input(d, false));
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->kind(), KeyIndexKind::kExact);
  EXPECT_EQ(index->size(), 300);
  std::vector<float> extra(2 * kDim, 0.5f);
  const std::vector<int32_t> extra_ids = {100000, 100001};
  index->Add(extra.data(), extra_ids.data(), 2);
  EXPECT_EQ(index->size(), 302);
  EXPECT_GT(index->memory_bytes(), 0u);
  std::vector<int32_t> out = {-7};  // appended to, not replaced
  index->Candidates(d.test_query(0), 1, /*want=*/5, &out);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front(), -7);
  std::multiset<int32_t> got(out.begin() + 1, out.end());
  std::multiset<int32_t> all(d.ids.begin(), d.ids.end());
  all.insert(extra_ids.begin(), extra_ids.end());
  EXPECT_EQ(got, all);  // every key once, whatever `want`
}

TEST(KeyIndex, CandidatesComeFromAddedIds) {
  const AttentionData d = MakeAttentionData(2048, 768, 20, 2);
  for (KeyIndexKind kind : {KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    std::unique_ptr<KeyIndex> index = MustBuild(kind, Input(d, true));
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->kind(), kind);
    EXPECT_EQ(index->size(), 2048);
    EXPECT_GT(index->memory_bytes(), 0u);
    std::set<int32_t> known(d.ids.begin(), d.ids.end());
    for (int64_t t = 0; t < d.n_test; ++t) {
      std::vector<int32_t> out;
      index->Candidates(d.test_query(t), 1, /*want=*/32, &out);
      EXPECT_GE(out.size(), 32u);
      for (int32_t id : out) ASSERT_TRUE(known.count(id)) << "unknown id " << id;
      EXPECT_EQ(std::set<int32_t>(out.begin(), out.end()).size(), out.size()) << "an id twice";
    }
    // Keys added later: for each test query, a key along the query's direction, far out, so it
    // is that query's best key by a wide margin. It must be proposed for that query.
    std::vector<float> added(static_cast<size_t>(d.n_test) * kDim);
    std::vector<int32_t> added_ids(static_cast<size_t>(d.n_test));
    for (int64_t t = 0; t < d.n_test; ++t) {
      for (int j = 0; j < kDim; ++j) added[t * kDim + j] = 10.0f * d.test_query(t)[j];
      added_ids[t] = static_cast<int32_t>(1000000 + t);
      known.insert(added_ids[t]);
    }
    index->Add(added.data(), added_ids.data(), d.n_test);
    EXPECT_EQ(index->size(), 2048 + d.n_test);
    int found = 0;
    for (int64_t t = 0; t < d.n_test; ++t) {
      std::vector<int32_t> out;
      index->Candidates(d.test_query(t), 1, /*want=*/32, &out);
      for (int32_t id : out) ASSERT_TRUE(known.count(id)) << "unknown id " << id;
      const bool has = std::find(out.begin(), out.end(), added_ids[t]) != out.end();
      // ivf files a key under the centroid that scores it highest, the list the query probes
      // first; aware does not always (see DISABLED_AwareFindsKeysAddedAfterTheBuild).
      if (kind == KeyIndexKind::kIvf) {
        EXPECT_TRUE(has) << "the key added for test query " << t << " is not proposed for it";
      }
      found += has;
    }
    std::printf("[ %s ] added keys proposed for their query: %d / %lld\n",
                std::string(KeyIndexKindName(kind)).c_str(), found,
                static_cast<long long>(d.n_test));
    // Every added key is in some list: a probe that wants everything proposes it.
    std::vector<int32_t> all;
    index->Candidates(d.test_query(0), 1, /*want=*/index->size(), &all);
    const std::set<int32_t> reached(all.begin(), all.end());
    EXPECT_EQ(reached, known);
  }
}

struct RecallFigures {
  double recall = 0;
  double unique_candidates = 0;  // mean over the queries
  size_t max_unique_candidates = 0;
};

// Recall of each test query's true top-k among the candidates for `want` (default: k).
RecallFigures MeasureRecall(const KeyIndex& index, const AttentionData& d, int k, int want = 0) {
  RecallFigures f;
  for (int64_t t = 0; t < d.n_test; ++t) {
    std::vector<int32_t> out;
    index.Candidates(d.test_query(t), 1, want > 0 ? want : k, &out);
    f.recall += Recall(out, TrueTopK(d, d.test_query(t), k));
    const size_t unique = std::set<int32_t>(out.begin(), out.end()).size();
    f.unique_candidates += static_cast<double>(unique);
    f.max_unique_candidates = std::max(f.max_unique_candidates, unique);
  }
  f.recall /= static_cast<double>(d.n_test);
  f.unique_candidates /= static_cast<double>(d.n_test);
  return f;
}

// RetrievalAttention's observation: queries and keys are distributed differently, so an index
// whose lists follow the keys (IVF) sends a query to the wrong keys; one whose lists follow the
// prefill queries and the keys they attended (aware) does not.
TEST(KeyIndex, AttentionAwareBeatsIvfWhenQueriesAndKeysDiffer) {
  constexpr int kTop = 64;
  const AttentionData d = MakeAttentionData(4096, 1536, 200, 3);
  std::unique_ptr<KeyIndex> ivf = MustBuild(KeyIndexKind::kIvf, Input(d, true));
  std::unique_ptr<KeyIndex> aware = MustBuild(KeyIndexKind::kAttentionAware, Input(d, true));
  ASSERT_NE(ivf, nullptr);
  ASSERT_NE(aware, nullptr);
  ASSERT_EQ(aware->kind(), KeyIndexKind::kAttentionAware);
  const RecallFigures i = MeasureRecall(*ivf, d, kTop);
  const RecallFigures a = MeasureRecall(*aware, d, kTop);
  std::printf(
      "recall@%d: ivf %.3f (unique candidates: mean %.0f, max %zu), aware %.3f (mean %.0f, max "
      "%zu)\n",
      kTop, i.recall, i.unique_candidates, i.max_unique_candidates, a.recall, a.unique_candidates,
      a.max_unique_candidates);
  RecordProperty("ivf_recall", std::to_string(i.recall));
  RecordProperty("aware_recall", std::to_string(a.recall));
  // Measured: ivf 0.333 (mean 230 candidates), aware 0.862 (mean 403). Other seeds and query
  // spreads gave aware 0.75-0.86, ivf 0.32-0.35.
  EXPECT_GT(a.recall, 0.75);
  EXPECT_GT(a.recall, i.recall + 0.25);
  // About candidate_factor * want candidates each, on average.
  for (const RecallFigures* f : {&i, &a}) {
    EXPECT_GE(f->unique_candidates, 1.0 * kTop);
    EXPECT_LE(f->unique_candidates, 8.0 * kTop);
  }
  // The same work: give ivf at least as many candidates as aware took (a larger `want`), and
  // aware still finds clearly more of the top keys.
  int want = kTop;
  RecallFigures matched = i;
  while (matched.unique_candidates < a.unique_candidates && want < 16 * kTop) {
    want += kTop / 4;
    matched = MeasureRecall(*ivf, d, kTop, want);
  }
  std::printf("ivf with want %d: recall@%d %.3f (mean %.0f unique candidates)\n", want, kTop,
              matched.recall, matched.unique_candidates);
  EXPECT_GE(matched.unique_candidates, a.unique_candidates);
  EXPECT_GT(a.recall, matched.recall + 0.2);
}

// BUG (library): AwareKeyIndex::Add files a key under the query centroid with the highest raw
// inner product. Keys share a large mean, so the centroid best aligned with that mean wins
// almost every key: here one list receives ~77% of the keys added after the build, and only the
// few queries whose nearest centroid is that one ever see them. Measured on this data: recall of
// the true top-64 keys that were added after the build, aware 0.16 vs ivf 0.22 (built keys:
// aware 0.91, ivf 0.32). Enable once Add files keys where the queries that want them look.
TEST(KeyIndex, AwareFindsKeysAddedAfterTheBuild) {
  constexpr int kTop = 64;
  const AttentionData d = MakeAttentionData(4096, 1536, 200, 3);
  constexpr int64_t kBuilt = 3072;
  double recall_built[2] = {0, 0}, recall_added[2] = {0, 0};
  int k = 0;
  for (KeyIndexKind kind : {KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    KeyIndexInput in = Input(d, true);
    in.n_keys = kBuilt;  // the rest leave the window later
    std::unique_ptr<KeyIndex> index = MustBuild(kind, in);
    ASSERT_NE(index, nullptr);
    index->Add(d.key(kBuilt), d.ids.data() + kBuilt, d.n_keys - kBuilt);
    double n_built = 0, n_added = 0;
    for (int64_t t = 0; t < d.n_test; ++t) {
      std::vector<int32_t> out;
      index->Candidates(d.test_query(t), 1, kTop, &out);
      const std::set<int32_t> got(out.begin(), out.end());
      for (int32_t id : TrueTopK(d, d.test_query(t), kTop)) {
        const bool added = id >= d.ids[kBuilt];
        (added ? n_added : n_built) += 1;
        (added ? recall_added[k] : recall_built[k]) += got.count(id);
      }
    }
    recall_built[k] /= n_built;
    recall_added[k] /= n_added;
    std::printf("[ %s ] recall@%d of keys given at build %.3f, of keys added later %.3f\n",
                std::string(KeyIndexKindName(kind)).c_str(), kTop, recall_built[k],
                recall_added[k]);
    ++k;
  }
  EXPECT_GT(recall_added[1], recall_added[0]);        // aware finds added keys better than ivf
  EXPECT_GT(recall_added[1], 0.5 * recall_built[1]);  // and not far worse than its built keys
}

// BUG (library), same cause: the list that takes almost every key is probed whole, so a query
// whose nearest query centroid it is gets a large share of the cache as candidates. Measured for
// want 64 (target candidate_factor * want = 192): up to 1728 of 4096 keys with every key given
// at build (mean over queries 403), ~3150 when the last 1024 keys were added after the build.
TEST(KeyIndex, AwareCandidateCountStaysNearTheTarget) {
  constexpr int kTop = 64;
  const AttentionData d = MakeAttentionData(4096, 1536, 200, 3);
  std::unique_ptr<KeyIndex> aware = MustBuild(KeyIndexKind::kAttentionAware, Input(d, true));
  ASSERT_NE(aware, nullptr);
  const RecallFigures a = MeasureRecall(*aware, d, kTop);
  EXPECT_LE(a.max_unique_candidates, 8u * kTop);
}

// A GQA group's queries search together: the union covers each query's own top keys.
TEST(KeyIndex, GroupQueriesShareOneSearch) {
  constexpr int kTop = 64;
  const AttentionData d = MakeAttentionData(4096, 1536, 90, 4);
  std::unique_ptr<KeyIndex> aware = MustBuild(KeyIndexKind::kAttentionAware, Input(d, true));
  ASSERT_NE(aware, nullptr);
  double worst = 1.0, mean = 0.0, unique = 0.0;
  int groups = 0;
  for (int64_t t = 0; t + 3 <= d.n_test; t += 3, ++groups) {
    std::vector<int32_t> out;
    aware->Candidates(d.test_query(t), 3, /*want=*/kTop, &out);
    EXPECT_EQ(std::set<int32_t>(out.begin(), out.end()).size(), out.size()) << "an id twice";
    unique += static_cast<double>(std::set<int32_t>(out.begin(), out.end()).size());
    for (int64_t q = t; q < t + 3; ++q) {
      const double r = Recall(out, TrueTopK(d, d.test_query(q), kTop));
      worst = std::min(worst, r);
      mean += r;
    }
  }
  mean /= 3.0 * groups;
  unique /= groups;
  std::printf("group of 3: per-query recall@%d mean %.3f, worst %.3f; %.0f unique candidates\n",
              kTop, mean, worst, unique);
  EXPECT_GT(mean, 0.7);
  EXPECT_GT(worst, 0.3);
}

TEST(KeyIndex, AwareWithoutQueriesUsesKeysAsStandIns) {
  const AttentionData d = MakeAttentionData(1024, 0, 4, 5);
  std::unique_ptr<KeyIndex> index = MustBuild(KeyIndexKind::kAttentionAware, Input(d, false));
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->kind(), KeyIndexKind::kAttentionAware);
  EXPECT_EQ(index->size(), 1024);
  // Every key stays reachable: asking for all of them proposes all of them.
  std::vector<int32_t> ids;
  index->Candidates(d.keys.data(), 1, 1024, &ids);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()) - ids.begin(), 1024);
  // n_queries > 0 but no query rows: no queries either.
  KeyIndexInput in = Input(d, false);
  in.n_queries = 10;
  index = MustBuild(KeyIndexKind::kAttentionAware, in);
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->kind(), KeyIndexKind::kAttentionAware);
}

TEST(KeyIndex, EmptyKeySetProposesKeysAddedLater) {
  const AttentionData d = MakeAttentionData(100, 64, 1, 6);
  for (KeyIndexKind kind : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    KeyIndexInput in = Input(d, true);
    in.keys = nullptr;
    in.ids = nullptr;
    in.n_keys = 0;
    std::unique_ptr<KeyIndex> index = MustBuild(kind, in);
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->size(), 0);
    std::vector<int32_t> out;
    index->Candidates(d.test_query(0), 1, 10, &out);
    EXPECT_TRUE(out.empty());
    index->Add(d.keys.data(), d.ids.data(), d.n_keys);
    EXPECT_EQ(index->size(), 100);
    index->Candidates(d.test_query(0), 1, 10, &out);
    const std::set<int32_t> got(out.begin(), out.end());
    EXPECT_EQ(got, std::set<int32_t>(d.ids.begin(), d.ids.end()));
  }
}

TEST(KeyIndex, FewKeysStillWork) {
  // Fewer keys than one list's worth, and fewer prefill queries than a cluster's worth.
  const AttentionData d = MakeAttentionData(10, 3, 3, 7);
  for (KeyIndexKind kind : {KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    std::unique_ptr<KeyIndex> index = MustBuild(kind, Input(d, true));
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->size(), 10);
    for (int64_t t = 0; t < d.n_test; ++t) {
      std::vector<int32_t> out;
      index->Candidates(d.test_query(t), 1, 4, &out);
      // One list holds every key: all of them are proposed.
      EXPECT_EQ(std::set<int32_t>(out.begin(), out.end()),
                std::set<int32_t>(d.ids.begin(), d.ids.end()));
    }
  }
}

TEST(KeyIndex, BadInput) {
  const AttentionData d = MakeAttentionData(64, 16, 1, 8);
  auto code = [](KeyIndexKind kind, const KeyIndexInput& in) {
    Result<std::unique_ptr<KeyIndex>> r = BuildKeyIndex(kind, in);
    return r.ok() ? StatusCode::kOk : r.status().code();
  };
  for (KeyIndexKind kind : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    KeyIndexInput in = Input(d, true);
    EXPECT_EQ(code(kind, in), StatusCode::kOk);
    in.dim = 0;
    EXPECT_EQ(code(kind, in), StatusCode::kInvalidArgument);
    in.dim = -4;
    EXPECT_EQ(code(kind, in), StatusCode::kInvalidArgument);
    in = Input(d, true);
    in.n_keys = -1;
    EXPECT_EQ(code(kind, in), StatusCode::kInvalidArgument);
    in = Input(d, true);
    in.keys = nullptr;
    EXPECT_EQ(code(kind, in), StatusCode::kInvalidArgument);
    in = Input(d, true);
    in.ids = nullptr;
    EXPECT_EQ(code(kind, in), StatusCode::kInvalidArgument);
    in = Input(d, true);
    in.candidate_factor = 0.5;
    Result<std::unique_ptr<KeyIndex>> r = BuildKeyIndex(kind, in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("candidate factor"), std::string::npos)
        << r.status().ToString();
  }
  Result<KeyIndexKind> bad = ParseKeyIndexKind("hnsw");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  const std::string message(bad.status().message());
  for (const char* name : {"hnsw", "exact", "ivf", "aware"}) {
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
  EXPECT_FALSE(ParseKeyIndexKind("").ok());
  EXPECT_FALSE(ParseKeyIndexKind("IVF").ok());
  for (KeyIndexKind kind : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    Result<KeyIndexKind> back = ParseKeyIndexKind(KeyIndexKindName(kind));
    ASSERT_TRUE(back.ok()) << KeyIndexKindName(kind);
    EXPECT_EQ(*back, kind);
  }
  EXPECT_EQ(KeyIndexKindName(KeyIndexKind::kExact), "exact");
  EXPECT_EQ(KeyIndexKindName(KeyIndexKind::kIvf), "ivf");
  EXPECT_EQ(KeyIndexKindName(KeyIndexKind::kAttentionAware), "aware");
}

}  // namespace
}  // namespace engram::retrieval

namespace engram::retrieval {
namespace {

// The candidates of every held-out query (want 40), in the order proposed.
std::vector<std::vector<int32_t>> AllCandidates(const KeyIndex& index, const AttentionData& d) {
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i < d.n_test; ++i) {
    std::vector<int32_t> ids;
    index.Candidates(d.test_query(i), 1, 40, &ids);
    out.push_back(std::move(ids));
  }
  return out;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Serialize -> Deserialize and Clone give indexes that propose exactly the original's candidates,
// before and after more keys are added to each; adding to a copy leaves the original alone.
TEST(KeyIndex, SerializedAndClonedIndexesProposeTheSameCandidates) {
  const AttentionData d = MakeAttentionData(3000, 400, 20, 21);
  const AttentionData more = MakeAttentionData(200, 1, 1, 22);
  std::vector<int32_t> more_ids(more.ids.size());
  for (size_t i = 0; i < more_ids.size(); ++i) more_ids[i] = 20000 + static_cast<int32_t>(i);
  for (KeyIndexKind kind : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    std::unique_ptr<KeyIndex> index = MustBuild(kind, Input(d, true));
    ASSERT_NE(index, nullptr);
    std::string bytes;
    index->Serialize(&bytes);
    Result<std::unique_ptr<KeyIndex>> read = DeserializeKeyIndex(Bytes(bytes));
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    std::unique_ptr<KeyIndex> clone = index->Clone();
    const auto before = AllCandidates(*index, d);
    EXPECT_EQ((*read)->kind(), kind);
    EXPECT_EQ((*read)->size(), index->size());
    EXPECT_EQ(AllCandidates(**read, d), before);
    EXPECT_EQ(AllCandidates(*clone, d), before);
    std::string again;
    (*read)->Serialize(&again);
    EXPECT_EQ(again, bytes);  // a fixed point

    (*read)->Add(more.keys.data(), more_ids.data(), more.n_keys);
    clone->Add(more.keys.data(), more_ids.data(), more.n_keys);
    EXPECT_EQ(AllCandidates(*index, d), before);  // the original is untouched
    index->Add(more.keys.data(), more_ids.data(), more.n_keys);
    const auto after = AllCandidates(*index, d);
    EXPECT_EQ(AllCandidates(**read, d), after);
    EXPECT_EQ(AllCandidates(*clone, d), after);
  }
}

// Every truncation, trailing bytes and a bad kind are kCorruption, never a crash.
TEST(KeyIndex, MalformedSerializationsAreRefused) {
  const AttentionData d = MakeAttentionData(300, 100, 1, 23);
  for (KeyIndexKind kind : {KeyIndexKind::kExact, KeyIndexKind::kIvf, KeyIndexKind::kAttentionAware}) {
    SCOPED_TRACE(std::string(KeyIndexKindName(kind)));
    std::unique_ptr<KeyIndex> index = MustBuild(kind, Input(d, true));
    ASSERT_NE(index, nullptr);
    std::string bytes;
    index->Serialize(&bytes);
    for (size_t cut = 0; cut < bytes.size(); cut += std::max<size_t>(1, bytes.size() / 97)) {
      Result<std::unique_ptr<KeyIndex>> r = DeserializeKeyIndex(Bytes(bytes.substr(0, cut)));
      ASSERT_FALSE(r.ok()) << "cut at " << cut;
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    }
    Result<std::unique_ptr<KeyIndex>> trailing = DeserializeKeyIndex(Bytes(bytes + "x"));
    ASSERT_FALSE(trailing.ok());
    EXPECT_EQ(trailing.status().code(), StatusCode::kCorruption);
    std::string bad_kind = bytes;
    bad_kind[0] = 9;
    Result<std::unique_ptr<KeyIndex>> unknown = DeserializeKeyIndex(Bytes(bad_kind));
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.status().code(), StatusCode::kCorruption);
  }
}

}  // namespace
}  // namespace engram::retrieval
