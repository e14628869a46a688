// What `engram inspect` prints about a GGUF file: metadata and the tensor table, as JSON or
// as a readable table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "inference/gguf.h"

namespace engram::inference {

// {"path", "version", "alignment", "data_offset", "file_bytes", "architecture" (or null),
//  "metadata": {key: value, …}, "tensors": [{name, type, shape, offset, bytes}, …],
//  "tensor_types": {type: count}, "tensor_bytes"}. `max_array` cuts long arrays (the
// 49k-entry vocabulary) to their first elements plus a "…(N more)" marker; 0 keeps all.
nlohmann::ordered_json GgufToJson(const GgufFile& gguf, size_t max_array = 16);

// Header, metadata (one line each, long values cut) and the tensor table.
std::string FormatGgufReport(const GgufFile& gguf);

}  // namespace engram::inference
