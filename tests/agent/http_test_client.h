// A small blocking HTTP client for the server tests: Beast over a real TCP connection (kept
// alive between requests), plus raw-socket helpers for malformed and slow requests, and a
// temporary directory that removes itself.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/json_write.h"

namespace engram::agent::testing {

struct TestResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool chunked = false;

  nlohmann::json Json() const {
    nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << body;
    return value;
  }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  // The message of an OpenAI-shaped error body ("" when the body is not one).
  std::string ErrorMessage() const {
    const nlohmann::json j = Json();
    if (!j.is_object() || !j.contains("error")) return "";
    return j["error"].value("message", "");
  }
};

class TestClient {
 public:
  explicit TestClient(int port, std::string key = "") : socket_(io_), key_(std::move(key)) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
    timeval tv{10, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  TestResponse Request(const std::string& method, const std::string& target,
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    boost::beast::error_code ec;
    http::write(socket_, req, ec);
    TestResponse out;
    if (ec) {
      ADD_FAILURE() << "write failed: " << ec.message();
      return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(socket_, buffer_, parser, ec);
    if (ec) {
      ADD_FAILURE() << "read failed: " << ec.message();
      return out;
    }
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.chunked = res.chunked();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
    return out;
  }

  TestResponse Get(const std::string& target) { return Request("GET", target); }
  TestResponse Post(const std::string& target, const nlohmann::json& body) {
    return Request("POST", target, ToText(body));
  }
  TestResponse Put(const std::string& target, const nlohmann::json& body) {
    return Request("PUT", target, ToText(body));
  }
  TestResponse Delete(const std::string& target) { return Request("DELETE", target); }

  // Whether the server closed the connection (a read sees end-of-stream within `seconds`).
  bool ServerClosed(int seconds = 5) {
    timeval tv{seconds, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    return ::recv(socket_.native_handle(), &c, 1, 0) == 0;
  }

  static std::string ToText(const nlohmann::json& body) { return JsonText(body); }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string key_;
};

// A plain connected socket for hand-made bytes; reads time out after `timeout_s`.
inline int RawConnect(int port, int timeout_s = 5) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

inline void RawSend(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

// Everything the server sends until it closes the connection or the read times out.
inline std::string RawReadAll(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

inline std::string RawExchange(int port, const std::string& bytes) {
  const int fd = RawConnect(port);
  RawSend(fd, bytes);
  std::string out = RawReadAll(fd);
  ::close(fd);
  return out;
}

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = ::testing::TempDir() + "/" + prefix + "_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace engram::agent::testing
