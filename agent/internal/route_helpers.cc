// Helpers shared by the server's route groups (agent/internal/route_helpers.h).
#include "agent/internal/route_helpers.h"

#include <charconv>
#include <ctime>

namespace engram::agent::internal {

Handler JsonHandler(std::function<Result<nlohmann::json>(const HttpRequest&)> body) {
  return [body = std::move(body)](const HttpRequest& request, ResponseWriter& out) {
    Result<nlohmann::json> result = body(request);
    if (result.ok()) {
      out.Json(200, *result);
    } else {
      out.Error(result.status());
    }
  };
}

Result<int64_t> QueryInt(const HttpRequest& request, std::string_view name, int64_t fallback,
                         int64_t min, int64_t max) {
  const auto it = request.query.find(std::string(name));
  if (it == request.query.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Status::InvalidArgument("query parameter '" + std::string(name) +
                                   "': expected an integer in " + std::to_string(min) + ".." +
                                   std::to_string(max) + ", got '" + text.substr(0, 40) + "'");
  }
  return value;
}

std::string QueryString(const HttpRequest& request, std::string_view name) {
  const auto it = request.query.find(std::string(name));
  return it == request.query.end() ? std::string() : it->second;
}

Result<uint64_t> ParseId(std::string_view what, std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0) {
    return Status::NotFound(std::string(what) + " '" + std::string(text.substr(0, 40)) +
                            "' not found");
  }
  return value;
}

Result<std::map<std::string, std::string>> StringMap(const JsonValue& value) {
  ENGRAM_TRY_ASSIGN(const auto members, value.Members());
  std::map<std::string, std::string> out;
  for (const auto& [key, member] : members) {
    ENGRAM_TRY_ASSIGN(out[key], member.String());
  }
  return out;
}

std::string IsoTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(buf, n) + frac;
}

}  // namespace engram::agent::internal
