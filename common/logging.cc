#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>

namespace engram {

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  using spdlog::level::level_enum;
  if (lower == "trace") return level_enum::trace;
  if (lower == "debug") return level_enum::debug;
  if (lower == "info") return level_enum::info;
  if (lower == "warn" || lower == "warning") return level_enum::warn;
  if (lower == "error") return level_enum::err;
  if (lower == "off") return level_enum::off;
  return Status::InvalidArgument("unknown log level '" + std::string(name) +
                                 "'; use one of: " + std::string(kLogLevelNames));
}

Status InitLogging(std::string_view level) {
  Result<spdlog::level::level_enum> parsed = ParseLogLevel(level);
  if (!parsed.ok()) return parsed.status();
  // Not registered by name, so calling InitLogging again replaces the logger instead of throwing.
  auto logger = std::make_shared<spdlog::logger>(
      "engram", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("%^[%H:%M:%S.%e %l]%$ %v");
  logger->set_level(*parsed);
  spdlog::set_default_logger(std::move(logger));
  return Status::OK();
}

}  // namespace engram
