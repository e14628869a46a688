// The HTTP layer of `engram serve`, on Boost.Beast: it accepts connections, reads and checks
// requests (size limits, timeouts for slow clients), authenticates the API key, routes by method
// and path, and gives each handler a ResponseWriter that sends one JSON body or a stream of
// server-sent events. Handlers see a tenant, never a key.
//
//   HttpServerOptions options;  options.port = 8080;
//   Router router;
//   router.Add("GET", "/v1/sessions/{id}", [](const HttpRequest& req, ResponseWriter& out) {
//     out.Json(200, {{"id", req.params.at("id")}});
//   });
//   Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(options, router, &tenants);
//   (*server)->Wait();          // until Stop() (SIGTERM): stops accepting, drains, returns
//
// Threads: one thread per connection (at most max_connections; beyond that a 503 JSON error),
// so a handler may block (on the scheduler, the stores). A handler runs on its connection's
// thread; ResponseWriter is not shared between threads.
//
// Every error a client gets is JSON in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "code": 400}}
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/tenants.h"
#include "common/result.h"
#include "common/status.h"

namespace engram::agent {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // without API keys the server refuses anything but loopback
  int port = 8080;                 // 0: any free port (see HttpServer::port())
  size_t max_body_bytes = 8 << 20;          // 413 beyond
  size_t max_header_bytes = 64 << 10;       // 431 beyond
  int max_connections = 256;                // 503 beyond
  std::chrono::seconds read_timeout{30};    // a request's headers and body (slow clients: 408)
  std::chrono::seconds idle_timeout{60};    // keep-alive between requests
  std::chrono::seconds write_timeout{60};   // a client that stops reading is dropped
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  std::map<std::string, std::string> query;   // ?a=b&c=d, percent-decoded
  std::map<std::string, std::string> params;  // {name} segments of the route pattern
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
  Tenant tenant;       // who the API key says (empty name only on routes without auth)
  std::string request_id;  // "req-<random hex>", echoed in the x-request-id header

  // The body as a JSON object; kInvalidArgument "request body: ..." naming what is wrong
  // (not JSON, not an object, bad UTF-8).
  Result<nlohmann::json> JsonBody() const;
};

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // One complete response with a JSON body.
  virtual void Json(int status, const nlohmann::json& body) = 0;
  // An error in OpenAI's shape; `type` as OpenAI's ("invalid_request_error",
  // "authentication_error", "not_found_error", "rate_limit_error", "server_error", ...).
  virtual void Error(int status, std::string_view type, std::string_view message) = 0;
  // A Status as an error: kInvalidArgument/kOutOfRange 400, kNotFound 404, kAlreadyExists 409,
  // kResourceExhausted 429, kDeadlineExceeded 504, kUnavailable 503, others 500.
  virtual void Error(const Status& status) = 0;
  // Other bodies (Prometheus text).
  virtual void Text(int status, std::string_view content_type, std::string_view body) = 0;

  // Server-sent events: StartEvents sends the headers (200, text/event-stream, chunked); each
  // Event sends "data: <data>\n\n" and returns false once the client is gone (stop working
  // then); EndEvents finishes the stream. After StartEvents, Json/Error are not allowed.
  virtual bool StartEvents() = 0;
  virtual bool Event(std::string_view data) = 0;
  virtual void EndEvents() = 0;
  // Whether the client closed its side (a handler that waits without writing polls this, to
  // cancel work nobody will read).
  virtual bool ClientGone() = 0;
};

using Handler = std::function<void(const HttpRequest&, ResponseWriter&)>;

class Router {
 public:
  // `pattern` is a path whose segments may be "{name}" (one segment, into HttpRequest::params).
  // `auth` false: no API key needed (/health).
  void Add(std::string method, std::string pattern, Handler handler, bool auth = true);

  struct Match {
    const Handler* handler = nullptr;  // null: no route
    bool auth = true;
    bool path_known = false;           // some route has this path (405 rather than 404)
    std::map<std::string, std::string> params;
    std::string pattern;               // for metrics labels
    std::vector<std::string> allowed;  // methods of the routes with this path (Allow on a 405)
  };
  Match Find(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    std::string pattern;
    Handler handler;
    bool auth;
  };
  std::vector<Route> routes_;
};

// Called once per finished request (metrics): route pattern ("" when none), status, seconds.
using RequestObserver = std::function<void(std::string_view method, std::string_view route,
                                           int status, double seconds)>;

// What HttpServer::Start checks before binding: an IP address, a port in range, and loopback
// only without API keys. For failing before anything slow (loading a model) happens.
Status CheckListenAddress(const HttpServerOptions& options, bool has_keys);

class HttpServer {
 public:
  // Binds and starts accepting. kInvalidArgument when `tenants` is empty (no --api-keys) and
  // host is not a loopback address; kUnavailable when the port is taken (names it).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   const Router& router, const TenantKeys* tenants,
                                                   RequestObserver observer = {});
  ~HttpServer();  // Stop() and Wait()

  int port() const;
  // Stops accepting; requests in flight finish (handlers see ClientGone() false); idle
  // keep-alive connections are closed. Safe from a signal-watching thread.
  void Stop();
  // Blocks until Stop() and every connection thread has ended.
  void Wait();
  int active_connections() const;

 private:
  struct State;
  explicit HttpServer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace engram::agent
