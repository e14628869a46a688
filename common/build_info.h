// What this binary is: version, source commit and build configuration. Every `engram bench`
// and `engram eval` JSON object carries it, so a figure can be traced to the code behind it.
#pragma once

#include <string_view>

namespace engram {

struct BuildInfo {
  std::string_view version;     // "0.1.0"
  std::string_view git_commit;  // short hash, "+dirty" when built with uncommitted changes,
                                // "unknown" outside a git checkout
  std::string_view build_type;  // "RelWithDebInfo", ...
  std::string_view compiler;    // "GNU 12.2.0"
  std::string_view system;      // "Linux-6.1.0 x86_64"
};

const BuildInfo& GetBuildInfo();

}  // namespace engram
