// The HTTP layer over real TCP: routing (404, 405 with Allow), API keys (401, open routes, the
// tenant handlers see), limits (413, 431), malformed requests and bodies (400 in OpenAI's error
// shape), a slow client (408 or closed within the read timeout), server-sent events, keep-alive,
// connection limits (503), a throwing handler (500), percent-decoding, and Stop() finishing a
// request in flight while closing idle connections.
#include "agent/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "agent/metrics.h"
#include "tests/agent/http_test_client.h"

namespace engram::agent {
namespace {

using testing::RawConnect;
using testing::RawExchange;
using testing::RawReadAll;
using testing::RawSend;
using testing::TempDir;
using testing::TestClient;
using json = nlohmann::json;

constexpr char kKeyA[] = "key-aaaaaaaaaaaaaaaa";
constexpr char kKeyB[] = "key-bbbbbbbbbbbbbbbb";

// Writes a key file for tenants "alpha" and "beta" and loads it.
TenantKeys TwoTenants(const TempDir& dir) {
  const std::string path = dir.path() + "/keys";
  std::ofstream(path) << "# test keys\n" << kKeyA << " alpha\n\n" << kKeyB << " beta\n";
  Result<TenantKeys> keys = TenantKeys::Load(path);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : TenantKeys();
}

void EchoRoute(Router& router) {
  router.Add("GET", "/t/echo/{x}", [](const HttpRequest& req, ResponseWriter& out) {
    out.Json(200, {{"x", req.params.at("x")},
                   {"query", req.query},
                   {"tenant", req.tenant.name},
                   {"path", req.path}});
  });
  router.Add("POST", "/t/echo/{x}", [](const HttpRequest& req, ResponseWriter& out) {
    Result<json> body = req.JsonBody();
    if (!body.ok()) return out.Error(body.status());
    out.Json(200, {{"body", *body}});
  });
  router.Add(
      "GET", "/t/open",
      [](const HttpRequest& req, ResponseWriter& out) {
        out.Json(200, {{"tenant", req.tenant.name}});
      },
      /*auth=*/false);
  router.Add("GET", "/t/throw",
             [](const HttpRequest&, ResponseWriter&) -> void { throw std::runtime_error("boom"); });
  router.Add("GET", "/t/silent", [](const HttpRequest&, ResponseWriter&) {});
  router.Add("GET", "/t/events", [](const HttpRequest&, ResponseWriter& out) {
    ASSERT_TRUE(out.StartEvents());
    EXPECT_TRUE(out.Event("one"));
    EXPECT_TRUE(out.Event("{\"n\":2}"));
    EXPECT_TRUE(out.Event("three\nlines"));
    out.EndEvents();
  });
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}, const TenantKeys* keys = nullptr) {
    options.port = 0;
    EchoRoute(router_);
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        options, router_, keys,
        [this](std::string_view method, std::string_view route, int status, double seconds) {
          std::lock_guard<std::mutex> lock(mu_);
          observed_.push_back(std::string(method) + " " + std::string(route) + " " +
                              std::to_string(status));
        });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  int port() const { return server_->port(); }
  // What the observer saw, once it saw `n` requests (it runs after the response is sent).
  std::vector<std::string> Observed(size_t n) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (observed_.size() >= n) return observed_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return observed_;
  }

  TempDir dir_{"engram_http"};
  Router router_;
  std::mutex mu_;
  std::vector<std::string> observed_;
  std::unique_ptr<HttpServer> server_;  // last: stopped before what its observer touches
};

void ExpectError(const testing::TestResponse& r, int status, const std::string& type) {
  EXPECT_EQ(r.status, status) << r.body;
  const json j = r.Json();
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_EQ(j["error"]["code"], status);
  EXPECT_EQ(j["error"]["type"], type);
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("x-request-id").rfind("req-", 0), 0u) << "x-request-id on every response";
}

TEST_F(HttpServerTest, RoutesParamsAndPercentDecodes) {
  Start();
  TestClient c(port());
  const auto r = c.Get("/t/echo/a%20b?q=x%2By+z&empty=");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.Json();
  EXPECT_EQ(j["x"], "a b");
  EXPECT_EQ(j["query"]["q"], "x+y z");
  EXPECT_EQ(j["query"]["empty"], "");
  EXPECT_EQ(j["tenant"], "local") << "without keys every request is tenant local";
  EXPECT_EQ(r.Header("x-request-id").size(), 20u);
  ExpectError(c.Get("/t/echo/%zz"), 400, "invalid_request_error");
}

TEST_F(HttpServerTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  Start();
  TestClient c(port());
  ExpectError(c.Get("/nope"), 404, "not_found_error");
  ExpectError(c.Get("/t/echo/a/b"), 404, "not_found_error");
  const auto r = c.Delete("/t/echo/x");
  ExpectError(r, 405, "invalid_request_error");
  EXPECT_EQ(r.Header("allow"), "GET, POST");
  const auto observed = Observed(3);
  ASSERT_EQ(observed.size(), 3u);
  EXPECT_EQ(observed[0], "GET  404") << "unmatched routes are observed with an empty pattern";
  EXPECT_EQ(observed[2], "DELETE /t/echo/{x} 405") << "the pattern, never the raw path";
}

TEST_F(HttpServerTest, ApiKeysDecideTheTenant) {
  const TenantKeys keys = TwoTenants(dir_);
  Start({}, &keys);
  TestClient none(port());
  ExpectError(none.Get("/t/echo/x"), 401, "authentication_error");
  ExpectError(none.Get("/nope"), 401, "authentication_error");  // no route map for strangers
  TestClient wrong(port(), "key-cccccccccccccccc");
  ExpectError(wrong.Get("/t/echo/x"), 401, "authentication_error");
  TestClient prefix(port(), std::string(kKeyA).substr(0, 10));
  ExpectError(prefix.Get("/t/echo/x"), 401, "authentication_error");
  TestClient a(port(), kKeyA);
  EXPECT_EQ(a.Get("/t/echo/x").Json()["tenant"], "alpha");
  TestClient b(port());
  EXPECT_EQ(b.Request("GET", "/t/echo/x", "", {{"x-api-key", kKeyB}}).Json()["tenant"], "beta");
  const auto open = none.Get("/t/open");
  EXPECT_EQ(open.status, 200);
  EXPECT_EQ(open.Json()["tenant"], "") << "open routes see no tenant";
}

TEST_F(HttpServerTest, WithoutKeysOnlyLoopback) {
  HttpServerOptions options;
  options.port = 0;
  options.host = "0.0.0.0";
  Result<std::unique_ptr<HttpServer>> s = HttpServer::Start(options, router_, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("--api-keys"), std::string_view::npos);
  const TenantKeys empty;
  EXPECT_FALSE(HttpServer::Start(options, router_, &empty).ok());
  const TenantKeys keys = TwoTenants(dir_);
  EXPECT_TRUE(HttpServer::Start(options, router_, &keys).ok());
}

TEST_F(HttpServerTest, PortInUseIsUnavailable) {
  Start();
  HttpServerOptions options;
  options.port = port();
  Result<std::unique_ptr<HttpServer>> s = HttpServer::Start(options, router_, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpServerTest, BadBodiesAre400) {
  Start();
  const auto check = [&](const std::string& body, const std::string& needle) {
    TestClient c(port());
    const auto r = c.Request("POST", "/t/echo/x", body);
    ExpectError(r, 400, "invalid_request_error");
    EXPECT_NE(r.ErrorMessage().find(needle), std::string::npos) << r.ErrorMessage();
  };
  check("{\"a\": ", "request body");
  check("[1, 2]", "expected a JSON object, got an array");
  check("{\"a\": \"caf\xe9\"}", "request body");  // Latin-1, not UTF-8
  check("{\"a\": \"\xff\xfe\"}", "request body");
  TestClient c(port());
  ExpectError(c.Request("POST", "/t/echo/x"), 400, "invalid_request_error");  // empty
  EXPECT_EQ(c.Post("/t/echo/x", {{"a", "caf\xc3\xa9"}}).Json()["body"]["a"], "caf\xc3\xa9");
}

TEST_F(HttpServerTest, ChunkedBodiesAndExpectContinue) {
  Start();
  std::string out = RawExchange(port(),
                                "POST /t/echo/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "4\r\n{\"a\"\r\n5\r\n: 1}\n\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find(R"({"body":{"a":1}})"), std::string::npos) << out;
  const int fd = RawConnect(port());
  RawSend(fd,
          "POST /t/echo/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 7\r\n"
          "Expect: 100-continue\r\n\r\n");
  char buf[64];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  RawSend(fd, "{\"b\":2}");
  out = RawReadAll(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find(R"({"body":{"b":2}})"), std::string::npos) << out;
}

TEST_F(HttpServerTest, MalformedAndTruncatedHttpAre400) {
  Start();
  std::string out = RawExchange(port(), "GARBAGE\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  EXPECT_NE(out.find("\"error\""), std::string::npos);
  const int fd = RawConnect(port());
  RawSend(fd, "POST /t/echo/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"a\":");
  ::shutdown(fd, SHUT_WR);
  out = RawReadAll(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndHeadersOverLimitAre431) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 2048;
  Start(options);
  {
    TestClient c(port());
    const auto r = c.Request("POST", "/t/echo/x", "{\"a\":\"" + std::string(2000, 'x') + "\"}");
    ExpectError(r, 413, "invalid_request_error");
  }
  {
    TestClient c(port());
    const auto r = c.Request("GET", "/t/echo/x", "", {{"x-big", std::string(4000, 'h')}});
    ExpectError(r, 431, "invalid_request_error");
  }
  TestClient c(port());
  EXPECT_EQ(c.Post("/t/echo/x", {{"a", std::string(500, 'x')}}).status, 200) << "under the limit";
}

TEST_F(HttpServerTest, SlowClientGets408WithinTheReadTimeout) {
  HttpServerOptions options;
  options.read_timeout = std::chrono::seconds(1);
  Start(options);
  const auto start = std::chrono::steady_clock::now();
  const int fd = RawConnect(port(), /*timeout_s=*/5);
  RawSend(fd, "GET /t/echo/x HTTP/1.1\r\nHost: h\r\n");  // and then nothing
  const std::string out = RawReadAll(fd);
  ::close(fd);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 3.0) << "the connection must end near the 1 s read timeout";
  EXPECT_GE(seconds, 0.9);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
}

TEST_F(HttpServerTest, StalledBodyGets408AndIdleConnectionsClose) {
  HttpServerOptions options;
  options.read_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::seconds(1);
  Start(options);
  const int fd = RawConnect(port());
  RawSend(fd, "POST /t/echo/x HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n{\"a\":");
  const std::string out = RawReadAll(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  TestClient c(port());
  ASSERT_EQ(c.Get("/t/echo/x").status, 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ServerClosed(5)) << "an idle keep-alive connection closes after idle_timeout";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 3.0);
}

TEST_F(HttpServerTest, ClientThatStopsReadingIsDroppedAndClientGoneSeesDisconnects) {
  std::atomic<int> stream_ended{0}, gone{0};
  router_.Add("GET", "/t/flood", [&](const HttpRequest&, ResponseWriter& out) {
    out.StartEvents();
    const std::string chunk(64 << 10, 'x');
    for (int i = 0; i < 100000 && out.Event(chunk); ++i) {
    }
    stream_ended = 1;
  });
  router_.Add("GET", "/t/wait", [&](const HttpRequest&, ResponseWriter& out) {
    for (int i = 0; i < 300 && !out.ClientGone(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    gone = out.ClientGone() ? 1 : 2;
    out.Json(200, {});
  });
  HttpServerOptions options;
  options.write_timeout = std::chrono::seconds(1);
  Start(options);
  const int flood = RawConnect(port());
  RawSend(flood, "GET /t/flood HTTP/1.1\r\nHost: h\r\n\r\n");  // and never read
  const int wait = RawConnect(port());
  RawSend(wait, "GET /t/wait HTTP/1.1\r\nHost: h\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::close(wait);
  for (int i = 0; i < 1000 && (stream_ended == 0 || gone == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stream_ended, 1) << "Event must fail once the client stops reading (write_timeout)";
  EXPECT_EQ(gone, 1) << "ClientGone must see the closed connection";
  ::close(flood);
}

TEST_F(HttpServerTest, ServerSentEventsAreChunkedFrames) {
  Start();
  TestClient c(port());
  const auto r = c.Get("/t/events");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_EQ(r.body, "data: one\n\ndata: {\"n\":2}\n\ndata: three\ndata: lines\n\n");
  EXPECT_EQ(c.Get("/t/echo/after").status, 200) << "the connection stays usable after a stream";
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start();
  TestClient c(port());
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const auto r = c.Get("/t/echo/" + std::to_string(i));
    ASSERT_EQ(r.status, 200);
    ids.insert(r.Header("x-request-id"));
  }
  EXPECT_EQ(ids.size(), 5u) << "each request has its own id";
  EXPECT_EQ(server_->active_connections(), 1);
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  Start();
  constexpr int kClients = 16, kRequests = 20;
  std::atomic<int> ok{0};
  std::mutex ids_mu;
  std::set<std::string> ids;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      TestClient c(port());
      for (int j = 0; j < kRequests; ++j) {
        const std::string x = std::to_string(i) + "-" + std::to_string(j);
        const auto r = c.Get("/t/echo/" + x);
        if (r.status == 200 && r.Json()["x"] == x) ++ok;
        std::lock_guard<std::mutex> lock(ids_mu);
        ids.insert(r.Header("x-request-id"));
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok, kClients * kRequests);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kClients * kRequests));
}

TEST_F(HttpServerTest, ThrowingOrSilentHandlerIs500) {
  Start();
  TestClient c(port());
  ExpectError(c.Get("/t/throw"), 500, "server_error");
  ExpectError(c.Get("/t/silent"), 500, "server_error");
  EXPECT_EQ(c.Get("/t/echo/x").status, 200) << "the connection survives";
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitGet503) {
  HttpServerOptions options;
  options.max_connections = 1;
  Start(options);
  TestClient first(port());
  ASSERT_EQ(first.Get("/t/echo/x").status, 200);  // accepted, now idle and kept alive
  const std::string out = RawExchange(port(), "GET /t/echo/x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
  EXPECT_EQ(first.Get("/t/echo/y").status, 200);
}

TEST_F(HttpServerTest, StopFinishesRequestsInFlightAndClosesIdleConnections) {
  std::atomic<bool> entered{false};
  router_.Add("GET", "/t/slow", [&](const HttpRequest&, ResponseWriter& out) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(out.ClientGone());
    out.Json(200, {{"done", true}});
  });
  HttpServerOptions options;
  options.idle_timeout = std::chrono::seconds(30);
  Start(options);
  TestClient idle(port());
  ASSERT_EQ(idle.Get("/t/echo/x").status, 200);
  testing::TestResponse slow;
  std::thread client([&] {
    TestClient c(port());
    slow = c.Get("/t/slow");
  });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Wait();
  client.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0)
      << "an idle keep-alive connection must not hold Wait() for its idle timeout";
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.Json()["done"], true);
  EXPECT_EQ(slow.Header("connection"), "close") << "a response during Stop closes its connection";
  EXPECT_TRUE(idle.ServerClosed());
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST(TenantKeysTest, LoadChecksEveryLine) {
  TempDir dir("engram_keys");
  const auto load = [&](const std::string& text) {
    std::ofstream(dir.path() + "/k") << text;
    return TenantKeys::Load(dir.path() + "/k");
  };
  const auto expect_bad = [&](const std::string& text, const std::string& needle) {
    Result<TenantKeys> k = load(text);
    ASSERT_FALSE(k.ok()) << text;
    EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(k.status().message().find(needle), std::string_view::npos) << k.status().ToString();
  };
  expect_bad("# c\nshort alpha\n", "line 2: the key is shorter than 16");
  expect_bad("key-aaaaaaaaaaaaaaaa al/pha\n", "line 1: tenant 'al/pha'");
  expect_bad("key-aaaaaaaaaaaaaaaa alpha\nkey-aaaaaaaaaaaaaaaa beta\n",
             "line 2: this key is listed twice");
  expect_bad("key-aaaaaaaaaaaaaaaa\n", "line 1: expected 'KEY TENANT'");
  expect_bad("key-aaaaaaaaaaaaaaaa alpha extra\n", "line 1");
  Result<TenantKeys> k = load("key-aaaaaaaaaaaaaaaa alpha\n");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->Find("key-aaaaaaaaaaaaaaaa")->name, "alpha");
  EXPECT_FALSE(k->Find("key-aaaaaaaaaaaaaaab").has_value());
  EXPECT_FALSE(k->Find("").has_value());
  EXPECT_EQ(TenantKeys::Load(dir.path() + "/missing").status().code(), StatusCode::kNotFound);
  expect_bad("key-aaaaaaaaaaaaaaaa local\n", "line 1: tenant 'local' is reserved");
  EXPECT_EQ(MemoryNamespace(Tenant{"acme"}, "notes"), "t.acme:notes");
  // The local tenant (no API keys, engram chat) works on the CLI's own data.
  EXPECT_EQ(MemoryNamespace(Tenant{"local"}, "notes"), "notes");
  EXPECT_EQ(TenantCollectionsDir("/d", Tenant{"local"}), "/d/collections");
  EXPECT_EQ(TenantCollectionsDir("/d", Tenant{"acme"}), "/d/tenants/acme/collections");
  EXPECT_EQ(TenantSessionsDir("/d", Tenant{"local"}), "/d/sessions");
  EXPECT_EQ(TenantDir("/d", Tenant{"local"}), "/d");
  EXPECT_EQ(TenantDir("/d", Tenant{"acme"}), "/d/tenants/acme");
  EXPECT_FALSE(ValidateClientName("namespace", "a/b").ok());
  EXPECT_FALSE(ValidateClientName("namespace", "..").ok());
  EXPECT_FALSE(ValidateClientName("namespace", "").ok());
  EXPECT_TRUE(ValidateClientName("namespace", "my-notes_1.x").ok());
}

TEST(MetricsTest, RendersCountersHistogramsAndSchedulerGauges) {
  Metrics metrics;
  metrics.ObserveRequest("POST", "/v1/memory", 200, 0.02);
  metrics.ObserveRequest("POST", "/v1/memory", 200, 0.03);
  metrics.ObserveRequest("GET", "", 404, 0.001);
  metrics.AddTokens(100, 20, 0.5, 0.1);
  metrics.ObserveRecall(0.004);
  SchedulerStats stats;
  stats.queued = 3;
  stats.active = 2;
  stats.kv_blocks_used = 7;
  stats.kv_blocks_total = 64;
  const std::string text = metrics.Render(stats);
  for (const char* line :
       {R"(engram_http_requests_total{method="POST",route="/v1/memory",status="200"} 2)",
        R"(engram_http_requests_total{method="GET",route="unmatched",status="404"} 1)",
        R"(engram_http_request_seconds_count{route="/v1/memory"} 2)",
        "engram_prompt_tokens_total 100", "engram_generated_tokens_total 20",
        "engram_decode_tokens_per_second 40", "engram_memory_recall_seconds_count 1",
        "engram_time_to_first_token_seconds_count 1", "engram_queue_depth 3",
        "engram_active_sequences 2", "engram_kv_cache_blocks_used 7",
        "engram_kv_cache_blocks_total 64"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace engram::agent
