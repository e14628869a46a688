// /v1/memory over real TCP with the real store and embedder: add (text and messages), recall
// (GET and POST search, with filters), list, get, update, history, delete, forget a session,
// purge; typed checks on every numeric field; and tenant isolation (beta can neither see nor
// change alpha's memories, whatever namespace or id it names).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/agent/serve_test_env.h"

namespace engram::agent {
namespace {

using json = nlohmann::json;
using testing::ServeTestEnv;
using testing::TestClient;
using testing::TestResponse;

class MemoryRoutesTest : public ::testing::Test {
 protected:
  ServeTestEnv env_{[](Router& r, Services& s) { AddMemoryRoutes(r, s); }};

  // Adds `text` to alpha's namespace "notes"; its id.
  uint64_t AddNote(TestClient& c, const std::string& text, const std::string& session = "s1") {
    const TestResponse r =
        c.Post("/v1/memory", {{"namespace", "notes"}, {"text", text}, {"session", session}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json()["ids"][0].get<uint64_t>();
  }
};

std::vector<std::string> Texts(const TestResponse& r) {
  std::vector<std::string> out;
  const json body = r.Json();
  EXPECT_EQ(r.status, 200) << r.body;
  for (const json& item : body["results"]) out.push_back(item["text"]);
  return out;
}

TEST_F(MemoryRoutesTest, AddRecallGetUpdateHistoryDelete) {
  TestClient c = env_.Alpha();
  const TestResponse added = c.Post("/v1/memory", {{"namespace", "notes"},
                                                   {"text", "My sister Ana lives in Porto."},
                                                   {"session", "s1"},
                                                   {"metadata", {{"topic", "family"}}},
                                                   {"importance", 0.9}});
  ASSERT_EQ(added.status, 200) << added.body;
  const uint64_t id = added.Json()["ids"][0];
  EXPECT_EQ(added.Json()["results"][0]["metadata"]["topic"], "family");
  AddNote(c, "The deploy script runs every Tuesday.");
  AddNote(c, "Bread needs flour, water and salt.", "s2");

  const TestResponse recalled =
      c.Get("/v1/memory?namespace=notes&query=where%20does%20Ana%20live&k=2");
  ASSERT_EQ(recalled.status, 200) << recalled.body;
  ASSERT_EQ(recalled.Json()["results"].size(), 2u);
  EXPECT_EQ(recalled.Json()["results"][0]["id"], id);
  EXPECT_GT(recalled.Json()["results"][0]["score"].get<double>(), 0.0);

  const TestResponse searched = c.Post("/v1/memory/search", {{"namespace", "notes"},
                                                             {"query", "what is in bread"},
                                                             {"k", 5},
                                                             {"filters", {{"session", "s2"}}}});
  ASSERT_EQ(searched.status, 200) << searched.body;
  EXPECT_EQ(Texts(searched), std::vector<std::string>{"Bread needs flour, water and salt."});

  EXPECT_EQ(Texts(c.Get("/v1/memory?namespace=notes")).size(), 3u);
  EXPECT_EQ(Texts(c.Get("/v1/memory?namespace=notes&session=s2")).size(), 1u);

  const std::string one = "/v1/memory/" + std::to_string(id);
  EXPECT_EQ(c.Get(one + "?namespace=notes").Json()["text"], "My sister Ana lives in Porto.");
  const TestResponse updated =
      c.Put(one, {{"namespace", "notes"}, {"text", "Ana moved to Lisbon."}});
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Json()["version"], 2);
  EXPECT_EQ(Texts(c.Get(one + "/history?namespace=notes")),
            (std::vector<std::string>{"My sister Ana lives in Porto.", "Ana moved to Lisbon."}));

  EXPECT_EQ(c.Delete(one + "?namespace=notes").status, 200);
  EXPECT_EQ(c.Get(one + "?namespace=notes").status, 404);
  EXPECT_EQ(c.Delete(one + "?namespace=notes").status, 404);
}

TEST_F(MemoryRoutesTest, MessagesForgetSessionAndPurge) {
  TestClient c = env_.Alpha();
  const TestResponse added =
      c.Post("/v1/memory", {{"namespace", "chat"},
                            {"session", "day1"},
                            {"messages",
                             {{{"role", "user"}, {"content", "I like green tea."}},
                              {{"role", "assistant"}, {"content", "Noted: green tea."}}}}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.Json()["ids"].size(), 2u);
  EXPECT_EQ(added.Json()["results"][1]["role"], "assistant");
  c.Post("/v1/memory", {{"namespace", "chat"}, {"session", "day2"}, {"text", "Meeting at 10."}});

  const TestResponse forgot = c.Delete("/v1/memory?namespace=chat&session=day1");
  ASSERT_EQ(forgot.status, 200) << forgot.body;
  EXPECT_EQ(forgot.Json()["deleted"], 2);
  EXPECT_EQ(Texts(c.Get("/v1/memory?namespace=chat")), std::vector<std::string>{"Meeting at 10."});
  EXPECT_EQ(c.Delete("/v1/memory?namespace=chat").status, 200);
  EXPECT_TRUE(Texts(c.Get("/v1/memory?namespace=chat")).empty());
}

TEST_F(MemoryRoutesTest, ConcurrentWritersAndReaders) {
  constexpr int kClients = 6, kAdds = 5;
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      TestClient c = env_.Alpha();
      for (int j = 0; j < kAdds; ++j) {
        const std::string text = "client " + std::to_string(i) + " note " + std::to_string(j);
        if (c.Post("/v1/memory", {{"namespace", "busy"}, {"text", text}}).status == 200) ++ok;
        if (c.Get("/v1/memory?namespace=busy&query=note&k=3").status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok, 2 * kClients * kAdds);
  TestClient c = env_.Alpha();
  EXPECT_EQ(Texts(c.Get("/v1/memory?namespace=busy")).size(), size_t{kClients * kAdds});
}

TEST_F(MemoryRoutesTest, BadInputIs400NamingTheField) {
  TestClient c = env_.Alpha();
  const auto expect_400 = [](const TestResponse& r, const std::string& needle) {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.ErrorMessage().find(needle), std::string::npos) << r.ErrorMessage();
  };
  expect_400(c.Post("/v1/memory", {{"text", "no namespace"}}), "namespace");
  expect_400(c.Get("/v1/memory"), "namespace");
  expect_400(c.Post("/v1/memory", {{"namespace", "a/b"}, {"text", "x"}}), "namespace 'a/b'");
  expect_400(c.Post("/v1/memory", {{"namespace", std::string(97, 'n')}, {"text", "x"}}),
             "1 to 96 characters");
  expect_400(c.Post("/v1/memory", {{"namespace", "n"}, {"text", "x"}, {"importance", "high"}}),
             "importance");
  expect_400(c.Post("/v1/memory", {{"namespace", "n"}, {"text", "x"}, {"importance", 7}}),
             "importance");
  expect_400(c.Post("/v1/memory", {{"namespace", "n"}, {"text", 5}}), "text");
  expect_400(c.Post("/v1/memory", {{"namespace", "n"}}), "text");
  expect_400(c.Post("/v1/memory", {{"namespace", "n"}, {"text", "x"}, {"metadata", {{"a", 1}}}}),
             "metadata.a");
  expect_400(c.Post("/v1/memory/search", {{"namespace", "n"}, {"query", "q"}, {"k", "5"}}), "k");
  expect_400(c.Post("/v1/memory/search", {{"namespace", "n"}, {"query", "q"}, {"k", 0}}), "k");
  expect_400(c.Post("/v1/memory/search", {{"namespace", "n"}, {"query", "q"}, {"k", 2.5}}), "k");
  expect_400(c.Get("/v1/memory?namespace=n&query=q&k=ten"), "'k'");
  expect_400(c.Get("/v1/memory?namespace=n&limit=-1"), "'limit'");
  expect_400(c.Put("/v1/memory/1", {{"namespace", "n"}}), "nothing to change");
  expect_400(c.Request("POST", "/v1/memory", "{\"namespace\": \"n\", \"text\": \"\xff\"}"),
             "request body");
}

TEST_F(MemoryRoutesTest, TenantsCannotReachEachOthersMemories) {
  TestClient alpha = env_.Alpha();
  const uint64_t id = AddNote(alpha, "Alpha's secret: the vault code is 4711.");
  TestClient beta = env_.Beta();
  const std::string one = "/v1/memory/" + std::to_string(id);
  // Beta names alpha's namespace and id everywhere: nothing of alpha's comes back.
  EXPECT_TRUE(Texts(beta.Get("/v1/memory?namespace=notes&query=vault%20code")).empty());
  EXPECT_TRUE(Texts(beta.Get("/v1/memory?namespace=notes")).empty());
  EXPECT_TRUE(Texts(beta.Get("/v1/memory?namespace=notes&session=s1")).empty());
  EXPECT_TRUE(
      Texts(beta.Post("/v1/memory/search", {{"namespace", "notes"}, {"query", "vault"}})).empty());
  const TestResponse get = beta.Get(one + "?namespace=notes");
  EXPECT_EQ(get.status, 404);
  const TestResponse unknown = beta.Get("/v1/memory/999?namespace=notes");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(get.ErrorMessage().find(std::to_string(id)), unknown.ErrorMessage().find("999"))
      << "another tenant's id reads like an unknown one";
  EXPECT_EQ(beta.Get(one + "/history?namespace=notes").status, 404);
  EXPECT_EQ(beta.Put(one, {{"namespace", "notes"}, {"text", "hacked"}}).status, 404);
  EXPECT_EQ(beta.Delete(one + "?namespace=notes").status, 404);
  EXPECT_EQ(beta.Delete("/v1/memory?namespace=notes&session=s1").Json()["deleted"], 0);
  EXPECT_EQ(beta.Delete("/v1/memory?namespace=notes").status, 200);  // purges beta's own only
  // A namespace that spells alpha's store namespace is just a bad name for beta.
  EXPECT_EQ(beta.Get("/v1/memory?namespace=t.alpha:notes").status, 400);
  // Beta's own ids start at 1 too and say nothing about alpha's.
  const TestResponse mine = beta.Post("/v1/memory", {{"namespace", "notes"}, {"text", "beta"}});
  EXPECT_EQ(mine.Json()["ids"][0], 1);

  const TestResponse still = alpha.Get(one + "?namespace=notes");
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.Json()["text"], "Alpha's secret: the vault code is 4711.");
  EXPECT_EQ(still.Json()["version"], 1);
  EXPECT_EQ(Texts(alpha.Get("/v1/memory?namespace=notes")).size(), 1u);
}

}  // namespace
}  // namespace engram::agent
