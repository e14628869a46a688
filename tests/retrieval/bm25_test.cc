// BM25 against rank-bm25 (goldens: scripts/goldens/bm25_rank_bm25.py): the same terms for real
// SQuAD paragraphs, and the same scores, computed from per-document term counts the way the
// collection stores them (retrieval/collection.h checks its own search against these goldens).
#include "retrieval/bm25.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace engram::retrieval {
namespace {

nlohmann::json Goldens() {
  std::ifstream in(std::string(ENGRAM_TEST_DATA_DIR) + "/bm25/rank_bm25.json");
  return nlohmann::json::parse(in);
}

// Scores of every document for `query`, from term counts (what the postings hold).
std::vector<double> Score(const std::vector<std::vector<std::string>>& docs,
                          const std::vector<std::string>& query, double* mean_idf_out) {
  std::map<std::string, int64_t> df;
  double total = 0;
  for (const auto& d : docs) {
    total += static_cast<double>(d.size());
    std::map<std::string, int> seen;
    for (const auto& t : d) seen[t] = 1;
    for (const auto& [t, one] : seen) df[t] += one;
  }
  Bm25Stats stats{static_cast<int64_t>(docs.size()), total / static_cast<double>(docs.size()), 0};
  for (const auto& [t, n] : df) stats.mean_idf += Bm25RawIdf(stats.documents, n);
  stats.mean_idf /= static_cast<double>(df.size());
  *mean_idf_out = stats.mean_idf;
  std::vector<double> scores(docs.size(), 0.0);
  for (const auto& q : query) {
    auto it = df.find(q);
    if (it == df.end()) continue;
    const double idf = Bm25Idf(stats, it->second, {});
    for (size_t i = 0; i < docs.size(); ++i) {
      const double tf = static_cast<double>(std::count(docs[i].begin(), docs[i].end(), q));
      if (tf > 0) {
        scores[i] += Bm25TermScore(idf, tf, static_cast<double>(docs[i].size()),
                                   stats.average_length, {});
      }
    }
  }
  return scores;
}

TEST(Bm25Test, TermsAndScoresMatchRankBm25) {
  const nlohmann::json g = Goldens();
  ASSERT_EQ(g["k1"].get<double>(), Bm25Params{}.k1);
  // The stemmed cases are rank-bm25 over PyStemmer's english stems (the Snowball release
  // libstemmer-dev ships); "squad_stemmed" reuses "squad"'s paragraphs.
  const std::pair<const char*, Stemming> cases[] = {{"squad", Stemming::kNone},
                                                    {"tiny", Stemming::kNone},
                                                    {"squad_stemmed", Stemming::kEnglish},
                                                    {"tiny_stemmed", Stemming::kEnglish}};
  for (const auto& [name, stemming] : cases) {
    const nlohmann::json& c = g[name];
    const nlohmann::json& documents = c["documents"].is_null() ? g["squad"]["documents"] : c["documents"];
    std::vector<std::vector<std::string>> docs;
    for (const auto& d : documents) docs.push_back(Bm25Terms(d.get<std::string>(), stemming));
    for (size_t i = 0; i < c["document_terms"].size(); ++i) {
      ASSERT_EQ(docs[i], c["document_terms"][i].get<std::vector<std::string>>()) << name << " doc " << i;
    }
    for (const auto& q : c["queries"]) {
      const std::vector<std::string> terms = Bm25Terms(q["query"].get<std::string>(), stemming);
      ASSERT_EQ(terms, q["terms"].get<std::vector<std::string>>());
      double mean_idf = 0;
      const std::vector<double> scores = Score(docs, terms, &mean_idf);
      EXPECT_NEAR(mean_idf, c["average_idf"].get<double>(), 1e-12) << name;
      for (const auto& top : q["top"]) {
        const size_t doc = top[0].get<size_t>();
        EXPECT_NEAR(scores[doc], top[1].get<double>(), 1e-9) << name << ": " << q["query"];
      }
      if (q.contains("scores")) {
        for (size_t i = 0; i < docs.size(); ++i) {
          EXPECT_NEAR(scores[i], q["scores"][i].get<double>(), 1e-9) << name << " doc " << i;
        }
      }
    }
  }
}

TEST(Bm25Test, TokenizationRules) {
  EXPECT_EQ(Bm25Terms("The Quick-brown FOX, isn't it?"),
            (std::vector<std::string>{"quick", "brown", "fox", "isn"}));
  // Non-ASCII letters are word characters (case kept); general punctuation separates.
  EXPECT_EQ(Bm25Terms("Café—naïve “Zürich” 東京。タワー"),
            (std::vector<std::string>{"café", "naïve", "zürich", "東京", "タワー"}));
  EXPECT_TRUE(Bm25Terms("").empty());
  EXPECT_TRUE(Bm25Terms("the of and").empty());
  EXPECT_TRUE(IsBm25StopWord("the"));
  EXPECT_FALSE(IsBm25StopWord("cat"));
}

TEST(Bm25Test, EnglishStemmingJoinsInflectionsAfterStopWordsGo) {
  EXPECT_EQ(Bm25Terms("Melanie painted; her paintings, the painter PAINTS", Stemming::kEnglish),
            (std::vector<std::string>{"melani", "paint", "paint", "painter", "paint"}));
  // Stop words are dropped before stemming ("doing" is one, though "do" + "ing" would stem).
  EXPECT_EQ(Bm25Terms("what was he doing", Stemming::kEnglish), std::vector<std::string>{});
  // Non-ASCII words and numbers pass through the english stemmer unharmed.
  EXPECT_EQ(Bm25Terms("東京 1990 café", Stemming::kEnglish),
            (std::vector<std::string>{"東京", "1990", "café"}));
  EXPECT_EQ(Bm25Terms("painted"), std::vector<std::string>{"painted"});  // kNone: as it was
  EXPECT_EQ(StemTerm("generously", Stemming::kEnglish), "generous");
  Stemming parsed = Stemming::kNone;
  EXPECT_TRUE(ParseStemming("english", &parsed));
  EXPECT_EQ(parsed, Stemming::kEnglish);
  EXPECT_EQ(StemmingName(parsed), "english");
  EXPECT_FALSE(ParseStemming("porter", &parsed));
}

// MatchTerms (retrieval/term_match.h) stems only the words whose first byte starts a query term:
// sound only because the stemmer keeps every word's first byte, checked here over the SQuAD
// paragraphs' vocabulary and Snowball's irregular forms.
TEST(Bm25Test, EnglishStemsKeepTheWordsFirstByte) {
  const nlohmann::json g = Goldens();
  size_t words = 0;
  for (const auto& d : g["squad"]["documents"]) {
    for (const std::string& w : Bm25Terms(d.get<std::string>())) {
      const std::string stem = StemTerm(w, Stemming::kEnglish);
      ASSERT_FALSE(stem.empty()) << w;
      ASSERT_EQ(stem[0], w[0]) << w << " -> " << stem;
      ++words;
    }
  }
  EXPECT_GT(words, 20000u);
  for (const char* w : {"dying", "lying", "tying", "skies", "idly", "gently", "ugly", "early",
                        "only", "singly", "yelling", "ys", "y"}) {
    EXPECT_EQ(StemTerm(w, Stemming::kEnglish)[0], w[0]) << w;
  }
}

TEST(Bm25Test, StemmingIsSafeFromManyThreads) {
  const std::vector<std::string> expected = Bm25Terms("running runners ran quickly", Stemming::kEnglish);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (Bm25Terms("running runners ran quickly", Stemming::kEnglish) != expected) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Bm25Test, NegativeIdfIsFlooredAtEpsilonTimesMean) {
  const Bm25Stats stats{10, 5.0, 0.8};
  EXPECT_GT(Bm25Idf(stats, 2, {}), 0.0);
  EXPECT_DOUBLE_EQ(Bm25Idf(stats, 9, {}), 0.25 * 0.8);
}

}  // namespace
}  // namespace engram::retrieval
