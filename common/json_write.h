// The one way engram turns JSON into text (stdout, stored metadata, files it writes).
// nlohmann's dump() throws on a string that is not valid UTF-8 (a file named "caf\xe9.txt",
// a tag of "\xff"); here such bytes become U+FFFD instead, so output never aborts the process.
// A test (tests/common/json_write_test.cc) fails if `.dump(` appears anywhere else.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace engram {

// Compact text (indent < 0) or pretty-printed with `indent` spaces.
std::string JsonText(const nlohmann::json& value, int indent = -1);
std::string JsonText(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace engram
