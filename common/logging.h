// Logging on spdlog. Everything logs to stderr (stdout is reserved for command output such as
// --json objects and generated text). Call InitLogging once at startup; library code then uses
// spdlog's free functions directly: spdlog::info("loaded {} tensors", n).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/result.h"

namespace engram {

// The names accepted by --log-level, in increasing severity.
inline constexpr std::string_view kLogLevelNames = "trace, debug, info, warn, error, off";

// Parses "trace", "debug", "info", "warn" (or "warning"), "error", "off"; case-insensitive.
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Points the default logger at stderr with engram's pattern and sets its level.
// Fails (and changes nothing) when `level` is not a known level name.
Status InitLogging(std::string_view level);

}  // namespace engram
