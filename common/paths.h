// Where engram keeps and finds things. Each location has one resolution rule, used by the CLI,
// the server, tests and benchmarks alike:
//
//   data dir     --data-dir flag > $ENGRAM_DATA_DIR > ./engram-data
//   models dir   $ENGRAM_MODELS_DIR > $HOME/.cache/engram/models
//   shared data  $ENGRAM_SHARED_DATA > <source tree>/../shared/data
//
// The lookup of environment variables is a parameter so that tests can supply their own.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "common/result.h"

namespace engram {

// Returns the value of an environment variable, or nullptr when it is unset.
using EnvLookup = std::function<const char*(const char*)>;
// The process environment (std::getenv).
EnvLookup ProcessEnv();

// The data directory (collections, memory stores, caches). `flag` is the --data-dir value,
// empty when not given. Not created here; relative paths stay relative to the working directory.
std::filesystem::path ResolveDataDir(std::string_view flag, const EnvLookup& env = ProcessEnv());

// The data directory's layout, owned here: every store lives in one subdirectory.
//   <data dir>/collections/<name>   document collections (retrieval/collection.h)
//   <data dir>/memory               the episodic memory store (memory/episodic_store.h)
//   <data dir>/kv                   cached document KV caches of `engram ask` (agent/)
std::filesystem::path CollectionsDir(const std::filesystem::path& data_dir);
std::filesystem::path MemoryDir(const std::filesystem::path& data_dir);
std::filesystem::path KvCacheDir(const std::filesystem::path& data_dir);

// The directory scripts/fetch_models.sh fills. Fails only when neither ENGRAM_MODELS_DIR nor
// HOME is set.
Result<std::filesystem::path> ResolveModelsDir(const EnvLookup& env = ProcessEnv());

// The evaluation data folder (see ../shared/data/README.md). Not checked for existence.
std::filesystem::path ResolveSharedDataDir(const EnvLookup& env = ProcessEnv());

// `relative` (e.g. "squad/dev-v1.1.shared.json") inside the shared data folder, or kNotFound
// with a message naming the folder searched and ENGRAM_SHARED_DATA. Tests and evals that need
// the data call this and fail with its message.
Result<std::filesystem::path> RequireSharedData(std::string_view relative,
                                                const EnvLookup& env = ProcessEnv());

// The source tree engram was built from (compiled in). Used for defaults only.
std::filesystem::path SourceDir();

}  // namespace engram
