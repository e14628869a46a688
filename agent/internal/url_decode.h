// Percent-decoding of request targets for the HTTP server: the path and the query string.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace engram::agent::internal {

// "%2Fa%20b" -> "/a b"; with `plus_is_space` (query strings) '+' -> ' '. kInvalidArgument
// naming `what` for a '%' not followed by two hex digits or a decoded NUL.
Result<std::string> PercentDecode(std::string_view text, std::string_view what, bool plus_is_space);

// "a=1&b=x%20y" -> {a: "1", b: "x y"}; a repeated name keeps its last value.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace engram::agent::internal
