// The ResponseWriter of one request on a server connection: JSON, text and error responses, or
// a stream of server-sent events in chunked transfer-encoding. It records what was sent (status,
// whether the stream was finished, whether a write failed) for the connection loop.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/http_server.h"
#include "agent/internal/http_stream.h"

namespace engram::agent::internal {

// The HTTP status and OpenAI error type of a Status (see ResponseWriter::Error).
std::pair<int, std::string_view> HttpStatusOf(const Status& status);

class ConnectionResponseWriter : public ResponseWriter {
 public:
  // `keep_alive`: whether the response says the connection stays open. `version`: 10 or 11.
  ConnectionResponseWriter(HttpStream& stream, std::string request_id, unsigned version,
                           bool keep_alive)
      : stream_(stream),
        request_id_(std::move(request_id)),
        version_(version),
        keep_alive_(keep_alive) {}

  void Json(int status, const nlohmann::json& body) override;
  void Error(int status, std::string_view type, std::string_view message) override;
  void Error(const Status& status) override;
  void Text(int status, std::string_view content_type, std::string_view body) override;
  bool StartEvents() override;
  bool Event(std::string_view data) override;
  void EndEvents() override;
  bool ClientGone() override;

  // A header the next response carries (Allow on a 405).
  void AddHeader(std::string name, std::string value) {
    extra_headers_.emplace_back(std::move(name), std::move(value));
  }
  void set_keep_alive(bool keep_alive) { keep_alive_ = keep_alive; }
  // A HEAD request: responses carry their headers (Content-Length included) but no body.
  void set_head_only() { head_only_ = true; }
  // Asked when a response starts: true closes the connection after it (the server stops).
  void set_stopping(std::function<bool()> stopping) { stopping_ = std::move(stopping); }
  // Whether the response sent said the connection stays open.
  bool keep_alive() const { return keep_alive_; }

  bool responded() const { return responded_; }
  bool streaming() const { return streaming_; }
  bool ended() const { return ended_; }
  bool failed() const { return failed_; }
  int status() const { return status_; }

 private:
  void Send(int status, std::string_view content_type, std::string body);
  bool CanRespond();
  // Decides keep_alive_ for the response about to start.
  void DecideKeepAlive();

  HttpStream& stream_;
  std::string request_id_;
  unsigned version_;
  bool keep_alive_;
  std::function<bool()> stopping_;
  bool head_only_ = false;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  bool responded_ = false, streaming_ = false, ended_ = false, failed_ = false;
  int status_ = 0;
};

}  // namespace engram::agent::internal
