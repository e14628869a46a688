// Responses on a server connection (agent/internal/http_response_writer.h).
#include "agent/internal/http_response_writer.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "common/json_write.h"

namespace engram::agent::internal {

namespace http = boost::beast::http;

std::pair<int, std::string_view> HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return {400, "invalid_request_error"};
    case StatusCode::kNotFound:
      return {404, "not_found_error"};
    case StatusCode::kAlreadyExists:
      return {409, "conflict_error"};
    case StatusCode::kResourceExhausted:
      return {429, "rate_limit_error"};
    case StatusCode::kUnavailable:
      return {503, "service_unavailable_error"};
    default:
      return {500, "server_error"};
  }
}

bool ConnectionResponseWriter::CanRespond() {
  if (!responded_) return true;
  spdlog::warn("http {}: a handler tried to respond twice (ignored)", request_id_);
  return false;
}

void ConnectionResponseWriter::DecideKeepAlive() {
  if (keep_alive_ && stopping_ && stopping_()) keep_alive_ = false;
}

void ConnectionResponseWriter::Send(int status, std::string_view content_type, std::string body) {
  if (!CanRespond()) return;
  responded_ = true;
  status_ = status;
  DecideKeepAlive();
  http::response<http::string_body> res;
  res.version(version_);
  res.result(static_cast<unsigned>(status));
  res.set(http::field::content_type, std::string(content_type));
  res.set("x-request-id", request_id_);
  for (const auto& [name, value] : extra_headers_) res.set(name, value);
  res.keep_alive(keep_alive_);
  res.body() = std::move(body);
  res.prepare_payload();
  boost::beast::error_code ec;
  if (head_only_) {
    http::response_serializer<http::string_body> serializer(res);
    http::write_header(stream_, serializer, ec);
  } else {
    http::write(stream_, res, ec);
  }
  if (ec) failed_ = true;
}

void ConnectionResponseWriter::Json(int status, const nlohmann::json& body) {
  Send(status, "application/json", JsonText(body));
}

void ConnectionResponseWriter::Error(int status, std::string_view type, std::string_view message) {
  nlohmann::json body = {
      {"error",
       {{"message", std::string(message)}, {"type", std::string(type)}, {"code", status}}}};
  Json(status, body);
}

void ConnectionResponseWriter::Error(const Status& status) {
  const auto [code, type] = HttpStatusOf(status);
  Error(code, type, status.message());
}

void ConnectionResponseWriter::Text(int status, std::string_view content_type,
                                    std::string_view body) {
  Send(status, content_type, std::string(body));
}

bool ConnectionResponseWriter::StartEvents() {
  if (!CanRespond()) return false;
  responded_ = streaming_ = true;
  status_ = 200;
  DecideKeepAlive();
  http::response<http::empty_body> res;
  res.version(version_);
  res.result(http::status::ok);
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.set("x-request-id", request_id_);
  res.keep_alive(keep_alive_);
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer(res);
  boost::beast::error_code ec;
  http::write_header(stream_, serializer, ec);
  if (ec) failed_ = true;
  return !failed_;
}

bool ConnectionResponseWriter::Event(std::string_view data) {
  if (!streaming_ || ended_ || failed_) return false;
  // Each line of the data is its own "data:" field; the blank line ends the event.
  std::string payload = "data: ";
  for (char c : data) {
    payload += c;
    if (c == '\n') payload += "data: ";
  }
  payload += "\n\n";
  boost::beast::error_code ec;
  boost::asio::write(stream_, http::make_chunk(boost::asio::buffer(payload)), ec);
  if (ec) failed_ = true;
  return !failed_;
}

void ConnectionResponseWriter::EndEvents() {
  if (!streaming_ || ended_) return;
  ended_ = true;
  if (failed_) return;
  boost::beast::error_code ec;
  boost::asio::write(stream_, http::make_chunk_last(), ec);
  if (ec) failed_ = true;
}

bool ConnectionResponseWriter::ClientGone() {
  if (failed_) return true;
  pollfd p{stream_.fd(), static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char byte;
  return ::recv(stream_.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

}  // namespace engram::agent::internal
