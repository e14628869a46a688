// The request loop of one server connection (agent/internal/http_connection.h).
#include "agent/internal/http_connection.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

#include "agent/internal/http_response_writer.h"
#include "agent/internal/http_stream.h"
#include "agent/internal/url_decode.h"
#include "common/random_id.h"

namespace engram::agent::internal {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using Parser = http::request_parser<http::string_body>;

// Waits for the first byte of a next request; false when the idle time passed.
bool WaitReadable(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// The error response for a request that could not be read, or 0 to close without one.
int ReadErrorStatus(const beast::error_code& ec, bool got_bytes) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit) return 431;
  if (ec == beast::error::timeout) return got_bytes ? 408 : 0;
  if (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset) {
    return got_bytes ? 400 : 0;
  }
  if (ec.category() == boost::system::system_category()) return 0;  // the socket failed
  return 400;
}

std::string_view ReadErrorMessage(int status) {
  switch (status) {
    case 413:
      return "request body is larger than the server accepts (max_body_bytes)";
    case 431:
      return "request headers are larger than the server accepts (max_header_bytes)";
    case 408:
      return "the request was not received in time (read_timeout)";
    default:
      return "malformed HTTP request";
  }
}

// Reads one request into `parser`; the status of the error response on failure (0: just close).
int ReadRequest(HttpStream& stream, beast::flat_buffer& buffer, Parser& parser,
                const HttpServerOptions& options) {
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(options.max_body_bytes);
  stream.set_read_deadline(Clock::now() + options.read_timeout);
  beast::error_code ec;
  http::read_header(stream, buffer, parser, ec);
  if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    boost::asio::write(stream, boost::asio::buffer(kContinue.data(), kContinue.size()), ec);
  }
  if (!ec && !parser.is_done()) http::read(stream, buffer, parser, ec);
  if (!ec) return -1;
  return ReadErrorStatus(ec, parser.got_some() || buffer.size() > 0);
}

// Fills method, path, query, headers and body; kInvalidArgument for a bad target.
Status BuildRequest(http::request<http::string_body>&& in, HttpRequest& out) {
  out.method = std::string(in.method_string());
  const std::string_view target(in.target().data(), in.target().size());
  const size_t q = target.find('?');
  Result<std::string> path = PercentDecode(target.substr(0, q), "request path", false);
  if (!path.ok()) return path.status();
  out.path = std::move(*path);
  if (q != std::string_view::npos) {
    Result<std::map<std::string, std::string>> query = ParseQuery(target.substr(q + 1));
    if (!query.ok()) return query.status();
    out.query = std::move(*query);
  }
  for (const auto& field : in) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(in.body());
  return Status::OK();
}

// The API key of a request: "Authorization: Bearer KEY", else "x-api-key: KEY".
std::string_view ApiKey(const HttpRequest& request) {
  if (auto it = request.headers.find("authorization"); it != request.headers.end()) {
    std::string_view v = it->second;
    const std::string_view scheme = v.substr(0, 7);
    if (v.size() > 7 &&
        beast::iequals(beast::string_view(scheme.data(), scheme.size()), "Bearer ")) {
      return v.substr(7);
    }
  }
  if (auto it = request.headers.find("x-api-key"); it != request.headers.end()) return it->second;
  return {};
}

// Authenticates, routes and runs the handler; every outcome is a response on `out`.
std::string Dispatch(HttpRequest& request, ConnectionResponseWriter& out,
                     const ConnectionContext& context) {
  // HEAD is GET without the body (RFC 9110 9.3.2): load balancers probe /health with it.
  const bool head = request.method == "HEAD";
  if (head) out.set_head_only();
  Router::Match match = context.router->Find(head ? "GET" : request.method, request.path);
  const bool open_route = match.handler != nullptr && !match.auth;
  if (context.tenants == nullptr || context.tenants->empty()) {
    request.tenant = Tenant{"local"};
  } else if (!open_route) {
    std::optional<Tenant> tenant = context.tenants->Find(ApiKey(request));
    if (!tenant) {
      out.Error(401, "authentication_error",
                "missing or unknown API key (send 'Authorization: Bearer KEY')");
      return match.pattern;  // "" for an unknown path: strangers add no label values
    }
    request.tenant = std::move(*tenant);
  }
  if (match.handler == nullptr) {
    if (!match.path_known) {
      out.Error(404, "not_found_error", "no route for " + request.method + " " + request.path);
      return {};
    }
    std::string allow;
    for (const std::string& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
    out.AddHeader("Allow", allow);
    out.Error(405, "invalid_request_error",
              request.method + " is not allowed on " + request.path + " (allowed: " + allow + ")");
    return match.pattern;
  }
  request.params = std::move(match.params);
  try {
    (*match.handler)(request, out);
  } catch (const std::exception& e) {
    spdlog::error("http {}: handler for {} {} threw: {}", request.request_id, request.method,
                  match.pattern, e.what());
    if (!out.responded()) out.Error(500, "server_error", "internal error (see the server log)");
  } catch (...) {
    spdlog::error("http {}: handler for {} {} threw", request.request_id, request.method,
                  match.pattern);
    if (!out.responded()) out.Error(500, "server_error", "internal error (see the server log)");
  }
  if (!out.responded()) out.Error(500, "server_error", "the handler sent no response");
  if (out.streaming() && !out.ended()) out.EndEvents();
  return match.pattern;
}

// Serves one request that has arrived; whether the connection may stay open.
bool ServeOne(HttpStream& stream, beast::flat_buffer& buffer, const ConnectionContext& context) {
  const auto start = Clock::now();
  Parser parser;
  const int read_error = ReadRequest(stream, buffer, parser, *context.options);
  const std::string request_id = NewRequestId();
  const auto observe = [&](std::string_view method, std::string_view route, int status) {
    if (*context.observer) {
      (*context.observer)(method, route, status,
                          std::chrono::duration<double>(Clock::now() - start).count());
    }
  };
  if (read_error >= 0) {
    if (read_error > 0) {
      ConnectionResponseWriter out(stream, request_id, 11, /*keep_alive=*/false);
      out.Error(read_error, "invalid_request_error", ReadErrorMessage(read_error));
      observe("", "", read_error);
    }
    return false;
  }
  http::request<http::string_body> in = parser.release();
  const bool keep_alive = in.keep_alive();
  ConnectionResponseWriter out(stream, request_id, in.version(), keep_alive);
  out.set_stopping(context.stopping);
  HttpRequest request;
  request.request_id = request_id;
  std::string route;
  if (Status st = BuildRequest(std::move(in), request); !st.ok()) {
    out.set_keep_alive(false);
    out.Error(st);
  } else {
    route = Dispatch(request, out, context);
  }
  observe(request.method, route, out.status());
  return out.keep_alive() && !out.failed();
}

}  // namespace

std::string NewRequestId() { return "req-" + RandomHex(8); }

void ServeConnection(int fd, const ConnectionContext& context) {
  try {
    HttpStream stream(fd);
    stream.set_write_timeout(
        std::chrono::duration_cast<std::chrono::milliseconds>(context.options->write_timeout));
    beast::flat_buffer buffer;
    while (context.set_idle(true)) {
      if (buffer.size() == 0 && !WaitReadable(fd, context.options->idle_timeout)) break;
      context.set_idle(false);
      if (!ServeOne(stream, buffer, context)) break;
    }
  } catch (const std::exception& e) {
    spdlog::error("http: connection ended by an exception: {}", e.what());
  } catch (...) {
    spdlog::error("http: connection ended by an unknown exception");
  }
}

}  // namespace engram::agent::internal
