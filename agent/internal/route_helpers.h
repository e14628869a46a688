// Helpers the server's route groups share: handlers that return JSON or a Status, and typed
// reading of query parameters, ids and string maps from requests, and noticing a client that
// went away.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/http_server.h"
#include "common/json_read.h"
#include "common/result.h"

namespace engram::agent::internal {

// A handler that answers 200 with the JSON `body` returns, or the error of its Status.
Handler JsonHandler(std::function<Result<nlohmann::json>(const HttpRequest&)> body);

// Query parameter `name` as an integer in [min, max]; `fallback` when absent. kInvalidArgument
// "query parameter 'k': ..." otherwise.
Result<int64_t> QueryInt(const HttpRequest& request, std::string_view name, int64_t fallback,
                         int64_t min, int64_t max);
// Query parameter `name`, or "" when absent.
std::string QueryString(const HttpRequest& request, std::string_view name);

// A decimal id from a path segment; kNotFound "<what> '<text>' not found" when it is not one
// (so a malformed id reads like an unknown one).
Result<uint64_t> ParseId(std::string_view what, std::string_view text);

// An object of strings ({"topic": "travel"}); kInvalidArgument naming the field otherwise.
Result<std::map<std::string, std::string>> StringMap(const JsonValue& value);

// Milliseconds since the Unix epoch as "2026-12-02T13:18:06.123Z".
std::string IsoTime(int64_t ms);

// Whether the client of a request still being worked on has gone away, asked at most every
// `period` (each check is a poll() on the socket), so a handler that receives text without
// writing it (a non-streamed reply) still notices a disconnect while tokens keep coming.
class DisconnectWatch {
 public:
  explicit DisconnectWatch(ResponseWriter& out,
                           std::chrono::milliseconds period = std::chrono::milliseconds(100))
      : out_(out), period_(period) {}
  bool Gone() {
    if (gone_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < period_) return false;
    last_ = now;
    gone_ = out_.ClientGone();
    return gone_;
  }

 private:
  ResponseWriter& out_;
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool gone_ = false;
};

}  // namespace engram::agent::internal
