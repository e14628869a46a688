// /v1/sessions over real TCP with the real default model, scheduler, store and embedder: create
// (strict settings), list, get with messages, delete, post a message (JSON and SSE), and tenant
// isolation (beta's view of alpha's session is exactly an unknown id's).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "agent/agent_runtime.h"
#include "tests/agent/serve_test_env.h"

namespace engram::agent {
namespace {

using json = nlohmann::json;
using testing::ServeTestEnv;
using testing::TestClient;
using testing::TestResponse;

class SessionRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    inference::EngineOptions options;
    options.context.n_ctx = 4096;
    options.context.n_threads = 2;
    auto engine = inference::Engine::Load(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(*engine).release();
    auto scheduler = Scheduler::Start(*engine_, {.max_sequences = 4});
    ASSERT_TRUE(scheduler.ok()) << scheduler.status().message();
    scheduler_ = std::move(*scheduler).release();
  }
  static void TearDownTestSuite() {
    delete scheduler_;
    delete engine_;
  }
  void SetUp() override {
    ASSERT_NE(scheduler_, nullptr);
    env_ = std::make_unique<ServeTestEnv>([](Router& r, Services& s) { AddSessionRoutes(r, s); });
    Services& s = env_->services();
    s.engine = engine_;
    s.scheduler = scheduler_;
    runtime_ = std::make_unique<AgentRuntime>(AgentRuntimeOptions{.data_dir = s.data_dir,
                                                                  .engine = engine_,
                                                                  .scheduler = scheduler_,
                                                                  .memory = s.memory,
                                                                  .embedder = s.embedder});
    s.agent = runtime_.get();
  }
  void TearDown() override {
    if (env_ != nullptr) env_->services().agent = nullptr;
    runtime_.reset();
    env_.reset();
  }

  std::string Create(TestClient& c, json settings = {{"max_tokens", 8}, {"temperature", 0}}) {
    const TestResponse r = c.Post("/v1/sessions", settings);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Json().value("id", "");
  }

  static inference::Engine* engine_;
  static Scheduler* scheduler_;
  std::unique_ptr<ServeTestEnv> env_;
  std::unique_ptr<AgentRuntime> runtime_;
};

inference::Engine* SessionRoutesTest::engine_ = nullptr;
Scheduler* SessionRoutesTest::scheduler_ = nullptr;

TEST_F(SessionRoutesTest, CreateChecksSettingsStrictly) {
  TestClient alpha = env_->Alpha();
  TestResponse r = alpha.Post("/v1/sessions", {{"title", "trip"}, {"history_turns", 4}});
  ASSERT_EQ(r.status, 201) << r.body;
  const json s = r.Json();
  EXPECT_EQ(s["object"], "session");
  EXPECT_EQ(s["settings"]["title"], "trip");
  EXPECT_EQ(s["settings"]["history_turns"], 4);
  EXPECT_EQ(s["message_count"], 0);
  EXPECT_EQ(s["id"].get<std::string>().size(), 32u);

  r = alpha.Post("/v1/sessions", {{"titel", "x"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.ErrorMessage().find("unknown field 'titel'"), std::string::npos) << r.body;
  r = alpha.Post("/v1/sessions", {{"max_tokens", "8"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.ErrorMessage().find("max_tokens"), std::string::npos) << r.body;
  r = alpha.Post("/v1/sessions", {{"max_tokens", 100000}});
  EXPECT_EQ(r.status, 400) << r.body;
  r = alpha.Post("/v1/sessions", {{"collections", {"../etc"}}});
  EXPECT_EQ(r.status, 400) << r.body;
  r = alpha.Request("POST", "/v1/sessions", "[1]");
  EXPECT_EQ(r.status, 400) << r.body;
  r = alpha.Request("POST", "/v1/sessions");
  EXPECT_EQ(r.status, 201) << "no body: the default settings; " << r.body;
  EXPECT_EQ(r.Json()["settings"]["max_tokens"], 256);
}

TEST_F(SessionRoutesTest, MessagesRunTurnsAndShowInTheSession) {
  TestClient alpha = env_->Alpha();
  const std::string id = Create(alpha);
  TestResponse r = alpha.Post("/v1/sessions/" + id + "/messages",
                              {{"content", "My sister Ana lives in Porto."}, {"max_tokens", 6}});
  ASSERT_EQ(r.status, 200) << r.body;
  json turn = r.Json();
  EXPECT_EQ(turn["object"], "session.message");
  EXPECT_EQ(turn["session"], id);
  EXPECT_EQ(turn["message"]["role"], "assistant");
  EXPECT_TRUE(turn["message"]["content"].is_string());
  EXPECT_GT(turn["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(turn["usage"]["completion_tokens"].get<int>(), 6);
  EXPECT_TRUE(turn["recalled"].is_array());

  r = alpha.Get("/v1/sessions/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  const json s = r.Json();
  EXPECT_EQ(s["message_count"], 2);
  ASSERT_EQ(s["messages"].size(), 2u);
  EXPECT_EQ(s["messages"][0]["role"], "user");
  EXPECT_EQ(s["messages"][0]["content"], "My sister Ana lives in Porto.");
  EXPECT_EQ(s["messages"][1]["content"], turn["message"]["content"]);

  r = alpha.Post("/v1/sessions/" + id + "/messages", {{"content", "hi"}, {"strem", true}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.ErrorMessage().find("unknown field 'strem'"), std::string::npos) << r.body;
  r = alpha.Post("/v1/sessions/" + id + "/messages", {{"stream", false}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.ErrorMessage().find("'content'"), std::string::npos) << r.body;
  r = alpha.Post("/v1/sessions/" + id + "/messages", {{"content", "hi"}, {"temperature", 5}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(alpha.Get("/v1/sessions/" + id).Json()["message_count"], 2) << "nothing stored";
}

TEST_F(SessionRoutesTest, StreamsServerSentEvents) {
  TestClient alpha = env_->Alpha();
  const std::string id = Create(alpha);
  TestResponse r = alpha.Post("/v1/sessions/" + id + "/messages",
                              {{"content", "Say hello."}, {"stream", true}, {"max_tokens", 6}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.Header("content-type").find("text/event-stream"), std::string::npos);
  std::string text;
  json final_event;
  size_t pos = 0;
  std::vector<std::string> events;
  while ((pos = r.body.find("data: ", pos)) != std::string::npos) {
    const size_t end = r.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << r.body;
    events.push_back(r.body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  ASSERT_GE(events.size(), 2u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json e = json::parse(events[i]);
    if (e.contains("delta"))
      text += e["delta"].get<std::string>();
    else
      final_event = e;
  }
  ASSERT_TRUE(final_event.contains("usage")) << r.body;
  EXPECT_EQ(final_event["session"], id);
  const json s = alpha.Get("/v1/sessions/" + id).Json();
  ASSERT_EQ(s["messages"].size(), 2u);
  EXPECT_EQ(s["messages"][1]["content"], text) << "the streamed text is what was stored";

  r = alpha.Post("/v1/sessions/" + std::string(32, 'a') + "/messages",
                 {{"content", "hi"}, {"stream", true}});
  EXPECT_EQ(r.status, 404) << "an error before any text is a plain JSON error: " << r.body;
}

TEST_F(SessionRoutesTest, AClientThatLeavesMidStreamCancelsTheTurn) {
  TestClient alpha = env_->Alpha();
  const std::string id = Create(alpha, {{"max_tokens", 400}, {"temperature", 0}});
  const uint64_t generated_before = scheduler_->stats().generated_tokens;
  const std::string body = testing::TestClient::ToText(
      {{"content", "Count from 1 to 500, one number per line."}, {"stream", true}});
  const int fd = testing::RawConnect(env_->port());
  testing::RawSend(fd, "POST /v1/sessions/" + id + "/messages HTTP/1.1\r\nHost: h\r\n" +
                           "Authorization: Bearer " + testing::kKeyAlpha +
                           "\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0) << "the stream started";
  ::close(fd);
  // Wait for the scheduler to go idle: the turn ended, cancelled or not.
  for (int i = 0; i < 600; ++i) {
    const SchedulerStats st = scheduler_->stats();
    if (st.active == 0 && st.queued == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a finished turn would be stored by now
  EXPECT_LT(scheduler_->stats().generated_tokens - generated_before, 400u)
      << "generation stopped before max_tokens";
  EXPECT_EQ(alpha.Get("/v1/sessions/" + id).Json()["message_count"], 0)
      << "a cancelled turn stores nothing";
}

TEST_F(SessionRoutesTest, TenantsSeeOnlyTheirOwnSessions) {
  TestClient alpha = env_->Alpha();
  TestClient beta = env_->Beta();
  const std::string id = Create(alpha);
  const std::string unknown(32, 'f');
  const TestResponse theirs = beta.Get("/v1/sessions/" + id);
  const TestResponse nobody = beta.Get("/v1/sessions/" + unknown);
  EXPECT_EQ(theirs.status, 404);
  EXPECT_EQ(nobody.status, 404);
  std::string message = theirs.ErrorMessage();
  message.replace(message.find(id), id.size(), unknown);
  EXPECT_EQ(message, nobody.ErrorMessage()) << "another tenant's id reads like an unknown one";
  EXPECT_EQ(beta.Get("/v1/sessions/not-an-id").status, 404);
  EXPECT_EQ(beta.Post("/v1/sessions/" + id + "/messages", {{"content", "hi"}}).status, 404);
  EXPECT_EQ(beta.Delete("/v1/sessions/" + id).status, 404);
  EXPECT_TRUE(beta.Get("/v1/sessions").Json()["data"].empty());

  const json list = alpha.Get("/v1/sessions").Json();
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], id);

  TestResponse r = alpha.Delete("/v1/sessions/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["deleted"], true);
  EXPECT_EQ(alpha.Get("/v1/sessions/" + id).status, 404);
  EXPECT_EQ(alpha.Delete("/v1/sessions/" + id).status, 404);
}

}  // namespace
}  // namespace engram::agent
