// What `engram info` shows (and, later, the server's health endpoint): the build, the machine,
// CUDA, where data and models live, whether the default models are present and intact, and the
// versions of the libraries linked in.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/build_info.h"
#include "common/default_models.h"
#include "common/machine_info.h"
#include "kernels/device.h"

namespace engram::agent {

struct SystemReportOptions {
  // The --data-dir flag; empty when not given. Default: empty.
  std::string data_dir_flag;
  // Hash every model file against scripts/models.lock (reads ~190 MB for the defaults, ~240 MB
  // more when the optional gemma3 is there).
  // Default: true.
  bool verify_model_digests = true;
};

struct SystemReport {
  BuildInfo build;
  MachineInfo machine;
  std::string cpu_features;  // "avx2 fma f16c ..."

  bool cuda_compiled = false;
  std::string cuda_architectures;
  kernels::GpuProbe gpus;

  std::filesystem::path data_dir;
  std::filesystem::path models_dir;  // empty when it could not be resolved
  std::string models_dir_error;      // why it could not be resolved
  std::filesystem::path shared_data_dir;
  bool shared_data_found = false;

  std::vector<ModelCheck> models;  // one per lock model, defaults and optional ones
  // Every default model present (and matching, if checked); optional models do not count.
  bool models_verified = false;

  std::vector<std::pair<std::string, std::string>> libraries;  // name, version
};

SystemReport CollectSystemReport(const SystemReportOptions& options);

// The report as one JSON object (the `engram info --json` contract: keys "version", "build",
// "machine", "cuda", "paths", "models", "libraries").
nlohmann::json SystemReportToJson(const SystemReport& report);

// The report as an aligned, human-readable text block.
std::string FormatSystemReport(const SystemReport& report);

}  // namespace engram::agent
