// Times as text: Unix epoch milliseconds as ISO 8601 UTC, the form the CLI prints and the
// Python package returns ("created_at").
#pragma once

#include <cstdint>
#include <string>

namespace engram {

// "2023-05-08T13:56:00Z", with ".mmm" when the time has milliseconds.
std::string FormatUtcTime(int64_t epoch_ms);

}  // namespace engram
