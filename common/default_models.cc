#include "common/default_models.h"

#include <system_error>

#include "common/paths.h"
#include "common/sha256.h"

namespace engram {

namespace {

struct LockEntry {
  const char* model;
  const char* role;
  const char* package;
  const char* relative_path;
  const char* sha256;
  uint64_t size_bytes;  // 0: not pinned
  bool optional;
};

// Generated from scripts/models.lock by cmake/DefaultModels.cmake.
constexpr LockEntry kLockEntries[] = {
#include "default_models.inc"
};

// The folder all files share as first path component, or the file itself for a one-file model.
std::string ModelRoot(const std::vector<ModelFileSpec>& files) {
  if (files.size() == 1) return files.front().relative_path;
  const std::string& first = files.front().relative_path;
  return first.substr(0, first.find('/'));
}

std::vector<DefaultModel> BuildModels() {
  std::vector<DefaultModel> models;
  for (const LockEntry& e : kLockEntries) {
    if (models.empty() || models.back().name != e.model) {
      models.push_back(DefaultModel{e.model, e.role, e.package, "", {}, e.optional});
    }
    models.back().files.push_back(ModelFileSpec{e.relative_path, e.sha256, e.size_bytes});
  }
  for (DefaultModel& m : models) m.root = ModelRoot(m.files);
  return models;
}

// "a generator", "an embedder".
std::string WithArticle(std::string_view noun) {
  const bool vowel =
      !noun.empty() && std::string_view("aeiou").find(noun[0]) != std::string_view::npos;
  return std::string(vowel ? "an " : "a ") + std::string(noun);
}

}  // namespace

std::span<const DefaultModel> DefaultModels() {
  static const std::vector<DefaultModel> models = BuildModels();
  return models;
}

Result<const DefaultModel*> FindDefaultModel(std::string_view role) {
  for (const DefaultModel& m : DefaultModels()) {
    if (m.role == role && !m.optional) return &m;
  }
  return Status::NotFound("no default model with role '" + std::string(role) + "'");
}

Result<const DefaultModel*> FindLockModel(std::string_view name) {
  for (const DefaultModel& m : DefaultModels()) {
    if (m.name == name) return &m;
  }
  return Status::NotFound("no model called '" + std::string(name) + "' in scripts/models.lock");
}

std::string FetchCommand(const DefaultModel& model) {
  std::string command = "scripts/fetch_models.sh";
  if (model.optional) command += " --with " + model.name;
  return command;
}

std::string_view ModelFileStateName(ModelFileState state) {
  switch (state) {
    case ModelFileState::kVerified:
      return "verified";
    case ModelFileState::kPresent:
      return "present";
    case ModelFileState::kMissing:
      return "missing";
    case ModelFileState::kDigestMismatch:
      return "digest mismatch";
    case ModelFileState::kWrongSize:
      return "wrong size";
    case ModelFileState::kUnreadable:
      return "unreadable";
  }
  return "unknown";
}

bool ModelCheck::ready() const {
  for (const ModelFileCheck& f : files) {
    if (!IsUsable(f.state)) return false;
  }
  return !files.empty();
}

ModelCheck CheckModel(const std::filesystem::path& models_dir, const DefaultModel& model,
                      bool verify_digest) {
  ModelCheck check;
  check.model = &model;
  check.root = models_dir / model.root;
  for (const ModelFileSpec& spec : model.files) {
    ModelFileCheck file;
    file.path = models_dir / spec.relative_path;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file.path, ec)) {
      file.state = ModelFileState::kMissing;
    } else {
      file.size_bytes = std::filesystem::file_size(file.path, ec);
      check.size_bytes += file.size_bytes;
      if (spec.size_bytes != 0 && file.size_bytes != spec.size_bytes) {
        file.state = ModelFileState::kWrongSize;
      } else if (!verify_digest) {
        file.state = ModelFileState::kPresent;
      } else if (Result<std::string> digest = Sha256File(file.path); !digest.ok()) {
        file.state = ModelFileState::kUnreadable;
        file.error = digest.status().ToString();
      } else {
        file.actual_sha256 = *digest;
        file.state =
            (*digest == spec.sha256) ? ModelFileState::kVerified : ModelFileState::kDigestMismatch;
      }
    }
    check.files.push_back(std::move(file));
  }
  return check;
}

Result<std::filesystem::path> DefaultModelPath(std::string_view role) {
  Result<const DefaultModel*> model = FindDefaultModel(role);
  if (!model.ok()) return model.status();
  Result<std::filesystem::path> dir = ResolveModelsDir();
  if (!dir.ok()) return dir.status();
  const ModelCheck check = CheckModel(*dir, **model, /*verify_digest=*/false);
  for (const ModelFileCheck& f : check.files) {
    if (f.state == ModelFileState::kMissing) {
      return Status::NotFound("default " + std::string(role) + " model file '" + f.path.string() +
                              "' is missing; run " + FetchCommand(**model) +
                              " (or pass a model path)");
    }
  }
  return check.root;
}

Result<std::string> ResolveModelArgument(std::string_view argument, std::string_view role,
                                         const EnvLookup& env) {
  Result<const DefaultModel*> found = FindLockModel(argument);
  if (!found.ok()) return std::string(argument);  // a path, used as given
  const DefaultModel& model = **found;
  const std::string quoted = "model '" + model.name + "'";
  if (!role.empty() && model.role != role) {
    return Status::InvalidArgument(quoted + " is " + WithArticle(model.role) + ", not " +
                                   WithArticle(role) + "; name " + WithArticle(role) +
                                   " model or pass a path");
  }
  Result<std::filesystem::path> dir = ResolveModelsDir(env);
  if (!dir.ok()) return dir.status().WithContext(quoted);
  const ModelCheck check = CheckModel(*dir, model, /*verify_digest=*/false);
  for (size_t i = 0; i < check.files.size(); ++i) {
    const ModelFileCheck& f = check.files[i];
    if (f.state == ModelFileState::kMissing) {
      return Status::NotFound(quoted + " is not downloaded: run " + FetchCommand(model) +
                              " (missing " + f.path.string() + ")");
    }
    if (f.state == ModelFileState::kWrongSize) {
      return Status::Corruption(quoted + " is damaged: " + f.path.string() + " is " +
                                std::to_string(f.size_bytes) + " bytes, not " +
                                std::to_string(model.files[i].size_bytes) + "; run " +
                                FetchCommand(model) + " to replace it");
    }
  }
  return check.root.string();
}

}  // namespace engram
