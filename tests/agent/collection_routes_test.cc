// /v1/collections and /v1/qa over real TCP with real collections and the default embedder:
// create (409 when it exists), list, describe, ingest text, search with spans, delete; bad
// input; /v1/qa and reranked search without a generator model (503), and with the default one;
// and tenant isolation (beta can neither see nor change alpha's collections by name).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "inference/engine.h"
#include "tests/agent/serve_test_env.h"

namespace engram::agent {
namespace {

using json = nlohmann::json;
using testing::ServeTestEnv;
using testing::TestClient;
using testing::TestResponse;

const json kDocuments = {
    {"documents",
     {{{"source", "ferments.txt"},
       {"text",
        "Sourdough bread rises because wild yeast and lactic acid bacteria ferment the dough. "
        "A starter is fed with flour and water every day."}},
      {{"source", "trains.md"},
       {"format", "md"},
       {"text",
        "# Night trains\n\nThe night train from Vienna to Venice leaves at nine and arrives "
        "early in the morning."}}}}};

class CollectionRoutesTest : public ::testing::Test {
 protected:
  std::unique_ptr<inference::Engine> engine_;  // before env_: outlives the QA pipelines
  ServeTestEnv env_{[](Router& r, Services& s) { AddCollectionRoutes(r, s); }};

  void LoadTheDefaultGenerator() {
    inference::EngineOptions engine_options;
    engine_options.context.n_ctx = 1024;
    engine_options.context.n_threads = 2;
    Result<std::unique_ptr<inference::Engine>> engine = inference::Engine::Load(engine_options);
    ASSERT_TRUE(engine.ok()) << "the default generator is needed (scripts/fetch_models.sh): "
                             << engine.status().ToString();
    engine_ = std::move(*engine);
    env_.services().engine = engine_.get();
  }

  void CreateWithDocuments(TestClient& c, const std::string& name) {
    const TestResponse created = c.Post("/v1/collections", {{"name", name}});
    ASSERT_EQ(created.status, 200) << created.body;
    const TestResponse ingested = c.Post("/v1/collections/" + name + "/documents", kDocuments);
    ASSERT_EQ(ingested.status, 200) << ingested.body;
    const json results = ingested.Json()["results"];
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0]["outcome"], "added");
    EXPECT_GE(results[0]["chunks"].get<int>(), 1);
  }
};

std::vector<std::string> Names(const TestResponse& r) {
  std::vector<std::string> out;
  const json body = r.Json();
  EXPECT_EQ(r.status, 200) << r.body;
  for (const json& item : body["data"]) out.push_back(item["name"]);
  return out;
}

TEST_F(CollectionRoutesTest, CreateIngestSearchDescribeDelete) {
  TestClient c = env_.Alpha();
  CreateWithDocuments(c, "docs");
  EXPECT_EQ(c.Post("/v1/collections", {{"name", "docs"}}).status, 409);
  EXPECT_EQ(Names(c.Get("/v1/collections")), std::vector<std::string>{"docs"});
  EXPECT_TRUE(std::filesystem::is_directory(TenantCollectionsDir(env_.data_dir(), Tenant{"alpha"}) +
                                            "/docs"));

  const TestResponse found = c.Post("/v1/collections/docs/search",
                                    {{"query", "when does the train to Venice leave"}, {"k", 1}});
  ASSERT_EQ(found.status, 200) << found.body;
  const json hit = found.Json()["results"][0];
  EXPECT_EQ(hit["source"], "trains.md");
  EXPECT_NE(hit["text"].get<std::string>().find("Venice"), std::string::npos);
  EXPECT_LT(hit["begin"].get<size_t>(), hit["end"].get<size_t>());
  // The hit's sentence nearest the query lies within it.
  EXPECT_LE(hit["begin"].get<size_t>(), hit["sentence_begin"].get<size_t>());
  EXPECT_LT(hit["sentence_begin"].get<size_t>(), hit["sentence_end"].get<size_t>());
  EXPECT_LE(hit["sentence_end"].get<size_t>(), hit["end"].get<size_t>());
  EXPECT_GT(hit["score"].get<double>(), 0.0);
  const TestResponse bm25 =
      c.Post("/v1/collections/docs/search", {{"query", "sourdough starter"}, {"mode", "bm25"}});
  EXPECT_EQ(bm25.Json()["results"][0]["source"], "ferments.txt") << bm25.body;

  const TestResponse described = c.Get("/v1/collections/docs");
  ASSERT_EQ(described.status, 200) << described.body;
  EXPECT_EQ(described.Json()["documents"], 2);
  EXPECT_EQ(described.Json()["document_list"].size(), 2u);

  EXPECT_EQ(c.Delete("/v1/collections/docs").status, 200);
  EXPECT_EQ(c.Get("/v1/collections/docs").status, 404);
  EXPECT_EQ(c.Post("/v1/collections/docs/search", {{"query", "train"}}).status, 404);
  EXPECT_TRUE(Names(c.Get("/v1/collections")).empty());
  EXPECT_EQ(c.Delete("/v1/collections/docs").status, 404);
}

TEST_F(CollectionRoutesTest, BadInputIs400) {
  TestClient c = env_.Alpha();
  CreateWithDocuments(c, "docs");
  const auto expect_400 = [](const TestResponse& r, const std::string& needle) {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.ErrorMessage().find(needle), std::string::npos) << r.ErrorMessage();
  };
  expect_400(c.Post("/v1/collections", {{"name", "../x"}}), "collection '../x'");
  expect_400(c.Post("/v1/collections", {{"name", 3}}), "name");
  expect_400(c.Post("/v1/collections/docs/search", {{"query", "q"}, {"k", "3"}}), "k");
  expect_400(c.Post("/v1/collections/docs/search", {{"query", "q"}, {"k", 0}}), "k");
  expect_400(c.Post("/v1/collections/docs/search", {{"query", "q"}, {"mode", "magic"}}), "magic");
  expect_400(c.Post("/v1/collections/docs/search", {{"query", "   "}}), "query");
  expect_400(c.Post("/v1/collections/docs/documents", {{"documents", json::array()}}), "documents");
  expect_400(c.Post("/v1/collections/docs/documents",
                    {{"documents", {{{"source", "a.pdf"}, {"text", "x"}, {"format", "pdf"}}}}}),
             "format 'pdf'");
  expect_400(c.Post("/v1/collections/docs/documents", {{"documents", {{{"source", "a"}}}}}),
             "text");
  EXPECT_EQ(c.Post("/v1/collections/nothere/documents", kDocuments).status, 404);
}

TEST_F(CollectionRoutesTest, QaAndRerankingWithoutAGeneratorAre503) {
  TestClient c = env_.Alpha();
  CreateWithDocuments(c, "docs");
  const TestResponse r =
      c.Post("/v1/qa", {{"collection", "docs"}, {"question", "When does the train leave?"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.Json()["error"]["type"], "service_unavailable_error");
  const TestResponse reranked =
      c.Post("/v1/collections/docs/search", {{"query", "train"}, {"rerank", 2}});
  EXPECT_EQ(reranked.status, 503) << reranked.body;
  EXPECT_NE(reranked.ErrorMessage().find("rerank"), std::string::npos) << reranked.body;
  EXPECT_EQ(c.Post("/v1/collections/docs/search", {{"query", "train"}}).status, 200);
}

TEST_F(CollectionRoutesTest, SearchRerankedByTheDefaultGenerator) {
  LoadTheDefaultGenerator();
  TestClient c = env_.Alpha();
  CreateWithDocuments(c, "docs");
  const std::string query = "When does the night train to Venice leave?";
  const TestResponse plain = c.Post("/v1/collections/docs/search", {{"query", query}, {"k", 2}});
  ASSERT_EQ(plain.status, 200) << plain.body;
  std::map<uint64_t, double> hybrid;  // chunk -> its search score
  const json plain_results = plain.Json()["results"];
  for (const json& h : plain_results) {
    EXPECT_FALSE(h.contains("rerank_score")) << "not reranked: " << h;
    hybrid[h["chunk_id"].get<uint64_t>()] = h["score"].get<double>();
  }
  ASSERT_EQ(hybrid.size(), 2u) << plain.body;

  // k 1 of 2 reranked: the reranker sees both, the answer stays first, and each score is the
  // search's plus rerank_weight x the model's mean log-probability of the question.
  for (const double weight : {2.0, 0.5}) {
    const TestResponse r =
        c.Post("/v1/collections/docs/search",
               {{"query", query}, {"k", 1}, {"rerank", 2}, {"rerank_weight", weight}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json results = r.Json()["results"];
    ASSERT_EQ(results.size(), 1u) << r.body;
    const json& hit = results[0];
    EXPECT_EQ(hit["source"], "trains.md");
    const double lm = hit["rerank_score"].get<double>();
    EXPECT_LT(lm, 0.0) << "a mean log-probability";
    EXPECT_NEAR(hit["score"].get<double>(),
                hybrid.at(hit["chunk_id"].get<uint64_t>()) + weight * lm, 1e-9);
  }

  const auto expect_400 = [&](const json& body, const std::string& needle) {
    const TestResponse r = c.Post("/v1/collections/docs/search", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.ErrorMessage().find(needle), std::string::npos) << r.ErrorMessage();
  };
  expect_400({{"query", query}, {"rerank", 101}}, "rerank");
  expect_400({{"query", query}, {"rerank", -1}}, "rerank");
  expect_400({{"query", query}, {"rerank", "5"}}, "rerank");
  expect_400({{"query", query}, {"rerank", 2}, {"rerank_weight", -1}}, "weight");
  expect_400({{"query", query}, {"rerank", 2}, {"rerank_weight", "heavy"}}, "rerank_weight");
  // Beta reaches neither alpha's collection nor, through it, its reranker.
  EXPECT_EQ(
      env_.Beta().Post("/v1/collections/docs/search", {{"query", query}, {"rerank", 2}}).status,
      404);
}

TEST_F(CollectionRoutesTest, QaAnswersWithCitationsFromTheDefaultGenerator) {
  LoadTheDefaultGenerator();
  TestClient c = env_.Alpha();
  CreateWithDocuments(c, "docs");
  const json question = {{"collection", "docs"},
                         {"question", "When does the night train to Venice leave?"},
                         {"mode", "rag"},
                         {"k", 2},
                         {"max_tokens", 12}};
  const TestResponse r = c.Post("/v1/qa", question);
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = r.Json();
  EXPECT_EQ(answer["mode"], "rag");
  EXPECT_TRUE(answer["answer"].is_string());
  EXPECT_TRUE(answer["citations"].is_array());
  EXPECT_LE(answer["timing"]["tokens_generated"].get<int>(), 12);
  json too_long = question;
  too_long["max_tokens"] = env_.services().limits.max_tokens + 1;
  EXPECT_EQ(c.Post("/v1/qa", too_long).status, 400);
  json bad_mode = question;
  bad_mode["mode"] = "psychic";
  EXPECT_EQ(c.Post("/v1/qa", bad_mode).status, 400);
  EXPECT_EQ(c.Post("/v1/qa", {{"collection", "nothere"}, {"question", "q"}}).status, 404);
  TestClient beta = env_.Beta();
  EXPECT_EQ(beta.Post("/v1/qa", question).status, 404) << "alpha's collection is not beta's";
}

TEST_F(CollectionRoutesTest, TenantsCannotReachEachOthersCollections) {
  TestClient alpha = env_.Alpha();
  CreateWithDocuments(alpha, "docs");
  TestClient beta = env_.Beta();
  EXPECT_TRUE(Names(beta.Get("/v1/collections")).empty());
  const TestResponse described = beta.Get("/v1/collections/docs");
  EXPECT_EQ(described.status, 404);
  const TestResponse unknown = beta.Get("/v1/collections/nothere");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(described.ErrorMessage().find("docs"), unknown.ErrorMessage().find("nothere"))
      << "another tenant's collection reads like an unknown one";
  EXPECT_EQ(beta.Post("/v1/collections/docs/search", {{"query", "Venice"}}).status, 404);
  EXPECT_EQ(beta.Post("/v1/collections/docs/documents", kDocuments).status, 404);
  EXPECT_EQ(beta.Post("/v1/qa", {{"collection", "docs"}, {"question", "q"}}).status, 503);
  EXPECT_EQ(beta.Delete("/v1/collections/docs").status, 404);
  // Beta may create its own "docs"; it is a different collection.
  ASSERT_EQ(beta.Post("/v1/collections", {{"name", "docs"}}).status, 200);
  EXPECT_EQ(beta.Get("/v1/collections/docs").Json()["documents"], 0);
  EXPECT_TRUE(beta.Post("/v1/collections/docs/search", {{"query", "Venice train"}})
                  .Json()["results"]
                  .empty());
  EXPECT_EQ(beta.Delete("/v1/collections/docs").status, 200);

  const TestResponse still = alpha.Get("/v1/collections/docs");
  ASSERT_EQ(still.status, 200) << still.body;
  EXPECT_EQ(still.Json()["documents"], 2);
}

}  // namespace
}  // namespace engram::agent
