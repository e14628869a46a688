// Percent-decoding of request targets (agent/internal/url_decode.h).
#include "agent/internal/url_decode.h"

namespace engram::agent::internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text, std::string_view what,
                                  bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      if (i + 2 >= text.size() || HexValue(text[i + 1]) < 0 || HexValue(text[i + 2]) < 0) {
        return Status::InvalidArgument(std::string(what) +
                                       ": '%' must be followed by two hex digits");
      }
      const int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return Status::InvalidArgument(std::string(what) + ": holds %00");
      out += decoded;
      i += 2;
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    Result<std::string> name = PercentDecode(pair.substr(0, eq), "query string", true);
    if (!name.ok()) return name.status();
    Result<std::string> value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                      "query parameter '" + *name + "'", true);
    if (!value.ok()) return value.status();
    out[*name] = std::move(*value);
  }
  return out;
}

}  // namespace engram::agent::internal
