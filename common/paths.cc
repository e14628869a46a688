#include "common/paths.h"

#include <cstdlib>
#include <string>

#ifndef ENGRAM_SOURCE_DIR
#error "ENGRAM_SOURCE_DIR must be defined by the build (common/CMakeLists.txt)"
#endif

namespace engram {

namespace {

// An unset or empty variable both mean "not given".
const char* NonEmpty(const EnvLookup& env, const char* name) {
  const char* value = env(name);
  return (value != nullptr && value[0] != '\0') ? value : nullptr;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

std::filesystem::path SourceDir() { return std::filesystem::path(ENGRAM_SOURCE_DIR); }

std::filesystem::path ResolveDataDir(std::string_view flag, const EnvLookup& env) {
  if (!flag.empty()) return std::filesystem::path(flag);
  if (const char* dir = NonEmpty(env, "ENGRAM_DATA_DIR")) return dir;
  return "engram-data";
}

Result<std::filesystem::path> ResolveModelsDir(const EnvLookup& env) {
  if (const char* dir = NonEmpty(env, "ENGRAM_MODELS_DIR")) return std::filesystem::path(dir);
  if (const char* home = NonEmpty(env, "HOME")) {
    return std::filesystem::path(home) / ".cache" / "engram" / "models";
  }
  return Status::FailedPrecondition(
      "cannot locate the models directory: neither ENGRAM_MODELS_DIR nor HOME is set; "
      "set ENGRAM_MODELS_DIR to the folder scripts/fetch_models.sh filled");
}

std::filesystem::path ResolveSharedDataDir(const EnvLookup& env) {
  if (const char* dir = NonEmpty(env, "ENGRAM_SHARED_DATA")) return dir;
  return (SourceDir() / ".." / "shared" / "data").lexically_normal();
}

Result<std::filesystem::path> RequireSharedData(std::string_view relative, const EnvLookup& env) {
  const std::filesystem::path root = ResolveSharedDataDir(env);
  const std::filesystem::path path = root / relative;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  return Status::NotFound("shared evaluation data '" + std::string(relative) +
                          "' not found under '" + root.string() +
                          "'; set ENGRAM_SHARED_DATA to the folder that holds squad/, xquad/, "
                          "leval/, locomo/, haystack/ and tokenizers/");
}

std::filesystem::path CollectionsDir(const std::filesystem::path& data_dir) {
  return data_dir / "collections";
}

std::filesystem::path MemoryDir(const std::filesystem::path& data_dir) {
  return data_dir / "memory";
}

std::filesystem::path KvCacheDir(const std::filesystem::path& data_dir) { return data_dir / "kv"; }

}  // namespace engram
