// The HTTP server: routing, request bodies as JSON, and the listening socket with one thread
// per connection (agent/http_server.h). A connection's request loop is in
// agent/internal/http_connection.cc.
#include "agent/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/internal/http_connection.h"
#include "common/json_read.h"
#include "common/thread_annotations.h"

namespace engram::agent {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    if (slash != 0) segments.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool IsParam(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Whether `segments` fit `pattern`; the number of literal segments (more: a better match).
std::optional<int> MatchSegments(const std::vector<std::string>& pattern,
                                 const std::vector<std::string>& segments) {
  if (pattern.size() != segments.size()) return std::nullopt;
  int literals = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsParam(pattern[i])) continue;
    if (pattern[i] != segments[i]) return std::nullopt;
    ++literals;
  }
  return literals;
}

}  // namespace

Result<nlohmann::json> HttpRequest::JsonBody() const {
  if (body.empty()) return Status::InvalidArgument("request body is empty; expected a JSON object");
  Result<nlohmann::json> value = ParseJsonText(body, "request body");
  if (!value.ok()) return value.status();
  if (!value->is_object()) {
    return Status::InvalidArgument("request body: expected a JSON object, got " +
                                   std::string(JsonTypeName(*value)));
  }
  return value;
}

void Router::Add(std::string method, std::string pattern, Handler handler, bool auth) {
  Route route;
  route.method = std::move(method);
  route.segments = SplitPath(pattern);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  route.auth = auth;
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  const std::vector<std::string> segments = SplitPath(path);
  Match match;
  int best = -1;       // literal segments of the chosen route
  int best_path = -1;  // of the best route with this path, whatever its method
  std::string path_pattern;
  for (const Route& route : routes_) {
    const std::optional<int> literals = MatchSegments(route.segments, segments);
    if (!literals) continue;
    match.path_known = true;
    if (*literals > best_path) {
      best_path = *literals;
      match.allowed.clear();
      path_pattern = route.pattern;
    }
    if (*literals == best_path) match.allowed.push_back(route.method);
    if (route.method != method || *literals <= best) continue;
    best = *literals;
    match.handler = &route.handler;
    match.auth = route.auth;
    match.pattern = route.pattern;
    match.params.clear();
    for (size_t i = 0; i < segments.size(); ++i) {
      if (IsParam(route.segments[i])) {
        match.params[route.segments[i].substr(1, route.segments[i].size() - 2)] = segments[i];
      }
    }
  }
  if (match.handler == nullptr) match.pattern = path_pattern;
  return match;
}

struct HttpServer::State {
  HttpServerOptions options;
  Router router;
  std::optional<TenantKeys> tenants;
  RequestObserver observer;
  int listen_fd = -1;
  int wake[2] = {-1, -1};  // Stop writes a byte to wake[1] to end the accept loop
  int port = 0;
  std::thread acceptor;
  std::mutex wait_mu;  // one Wait at a time

  struct Connection {
    int fd = -1;  // -1 once closed
    bool idle = false;
    bool done = false;
    std::thread thread;
  };
  mutable std::mutex mu;
  std::condition_variable done_cv;
  bool stopping GUARDED_BY(mu) = false;
  uint64_t next_id GUARDED_BY(mu) = 0;
  std::map<uint64_t, Connection> connections GUARDED_BY(mu);

  void AcceptLoop();
  void Spawn(int fd);
  void ConnectionMain(uint64_t id, int fd);
  void ReapFinished();
  int Live() const EXCLUSIVE_LOCKS_REQUIRED(mu);
};

int HttpServer::State::Live() const {
  int live = 0;
  for (const auto& [id, c] : connections) live += c.done ? 0 : 1;
  return live;
}

void HttpServer::State::ReapFinished() {
  std::vector<std::thread> finished;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = connections.begin(); it != connections.end();) {
      if (!it->second.done) {
        ++it;
        continue;
      }
      finished.push_back(std::move(it->second.thread));
      it = connections.erase(it);
    }
  }
  for (std::thread& t : finished) t.join();
}

// A 503 for a connection beyond max_connections, sent without waiting, then closed.
static void RefuseConnection(int fd) {
  const std::string body =
      R"({"error":{"message":"too many connections; retry later","type":"server_error","code":503}})";
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
      "close\r\nx-request-id: " +
      internal::NewRequestId() + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body;
  [[maybe_unused]] ssize_t n =
      ::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

void HttpServer::State::ConnectionMain(uint64_t id, int fd) {
  internal::ConnectionContext context;
  context.options = &options;
  context.router = &router;
  context.tenants = tenants ? &*tenants : nullptr;
  context.observer = &observer;
  context.stopping = [this] {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  };
  context.set_idle = [this, id](bool idle) {
    std::lock_guard<std::mutex> lock(mu);
    connections[id].idle = idle;
    return !stopping;
  };
  internal::ServeConnection(fd, context);
  std::lock_guard<std::mutex> lock(mu);
  ::close(fd);
  connections[id].fd = -1;
  connections[id].done = true;
  done_cv.notify_all();
}

void HttpServer::State::Spawn(int fd) {
  std::lock_guard<std::mutex> lock(mu);
  if (Live() >= options.max_connections) {
    RefuseConnection(fd);
    return;
  }
  const uint64_t id = next_id++;
  Connection& c = connections[id];
  c.fd = fd;
  c.thread = std::thread([this, id, fd] { ConnectionMain(id, fd); });
}

void HttpServer::State::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("http: poll on the listening socket failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {  // Stop: refuse new connections from now on
      ::close(listen_fd);
      listen_fd = -1;
      return;
    }
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("http: accept failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE: do not spin
      }
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // responses leave at once
    ReapFinished();
    Spawn(fd);
  }
}

Status CheckListenAddress(const HttpServerOptions& options, bool has_keys) {
  boost::system::error_code ec;
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("serve: host '" + options.host + "' is not an IP address");
  if (!has_keys && !address.is_loopback()) {
    return Status::InvalidArgument("serve: refusing to listen on '" + options.host +
                                   "' without API keys; pass --api-keys FILE (lines 'KEY "
                                   "TENANT'), or listen on 127.0.0.1");
  }
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("serve: port " + std::to_string(options.port) +
                                   " is not within 0..65535");
  }
  return Status::OK();
}

namespace {

// The listening socket for host:port; the port actually bound in `port`.
Result<int> Listen(const HttpServerOptions& options, bool has_keys, int& port) {
  if (Status s = CheckListenAddress(options, has_keys); !s.ok()) return s;
  boost::system::error_code ec;
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  const boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  const boost::asio::ip::tcp::endpoint endpoint(address, static_cast<uint16_t>(options.port));
  const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("serve: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const std::string where = options.host + ":" + std::to_string(options.port);
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 ||
      ::listen(fd, 512) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) return Status::Unavailable("serve: " + where + " is already in use");
    return Status::IOError("serve: cannot listen on " + where + ": " + std::strerror(err));
  }
  sockaddr_storage bound{};
  socklen_t size = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &size);
  port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      const Router& router,
                                                      const TenantKeys* tenants,
                                                      RequestObserver observer) {
  auto state = std::make_unique<State>();
  state->options = options;
  state->router = router;
  if (tenants != nullptr && !tenants->empty()) state->tenants = *tenants;
  state->observer = std::move(observer);
  Result<int> fd = Listen(options, state->tenants.has_value(), state->port);
  if (!fd.ok()) return fd.status();
  state->listen_fd = *fd;
  if (::pipe2(state->wake, O_CLOEXEC) != 0) {
    ::close(state->listen_fd);
    return Status::IOError(std::string("serve: pipe: ") + std::strerror(errno));
  }
  State* s = state.get();
  state->acceptor = std::thread([s] { s->AcceptLoop(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::HttpServer(std::unique_ptr<State> state) : s_(std::move(state)) {}

HttpServer::~HttpServer() {
  Stop();
  Wait();
  if (s_->listen_fd >= 0) ::close(s_->listen_fd);
  ::close(s_->wake[0]);
  ::close(s_->wake[1]);
}

int HttpServer::port() const { return s_->port; }

void HttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->stopping) return;
    s_->stopping = true;
    // An idle keep-alive connection wakes up reading end-of-stream and closes; busy ones finish
    // their request and close after it.
    for (auto& [id, c] : s_->connections) {
      if (c.idle && c.fd >= 0) ::shutdown(c.fd, SHUT_RD);
    }
  }
  const char byte = 1;
  [[maybe_unused]] ssize_t n = ::write(s_->wake[1], &byte, 1);
}

void HttpServer::Wait() {
  std::lock_guard<std::mutex> wait_lock(s_->wait_mu);
  if (s_->acceptor.joinable()) s_->acceptor.join();
  {
    std::unique_lock<std::mutex> lock(s_->mu);
    s_->done_cv.wait(lock, [&] { return s_->Live() == 0; });
  }
  s_->ReapFinished();
}

int HttpServer::active_connections() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->Live();
}

}  // namespace engram::agent
