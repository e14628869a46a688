#include "agent/system_report.h"

#include <faiss/Index.h>
#include <poppler/cpp/poppler-version.h>
#include <rocksdb/version.h>
#include <spdlog/version.h>

#include <boost/version.hpp>
#include <sstream>
#include <system_error>

#include "common/paths.h"
#include "kernels/cpu_features.h"

namespace engram::agent {

namespace {

std::string Dotted(int major, int minor, int patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::vector<std::pair<std::string, std::string>> LinkedLibraries() {
  return {
      {"faiss", Dotted(FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR, FAISS_VERSION_PATCH)},
      {"rocksdb", rocksdb::GetRocksVersionAsString(/*with_patch=*/true)},
      {"poppler-cpp", poppler::version_string()},
      {"spdlog", Dotted(SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH)},
      {"nlohmann_json", Dotted(NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                               NLOHMANN_JSON_VERSION_PATCH)},
      {"boost", Dotted(BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100)},
  };
}

// How a model looks in one word: "verified", or the worst state of any of its files.
std::string ModelState(const ModelCheck& check) {
  for (const ModelFileCheck& f : check.files) {
    if (!IsUsable(f.state)) return std::string(ModelFileStateName(f.state));
  }
  return std::string(ModelFileStateName(check.files.empty() ? ModelFileState::kMissing
                                                            : check.files.front().state));
}

// One model's rows of the table: role, name, size, state; its path; each unusable file.
template <typename Row>
void FormatModel(const ModelCheck& m, const Row& row) {
  const std::string files =
      std::to_string(m.files.size()) + (m.files.size() == 1 ? " file" : " files");
  row(m.model->role, m.model->name + "  " + FormatBytes(m.size_bytes) + "  " + files + "  sha256 " +
                         ModelState(m));
  row("", m.root.string());
  for (const ModelFileCheck& f : m.files) {
    if (!IsUsable(f.state)) {
      row("", "  " + std::string(ModelFileStateName(f.state)) + ": " + f.path.string());
    }
  }
}

}  // namespace

SystemReport CollectSystemReport(const SystemReportOptions& options) {
  SystemReport r;
  r.build = GetBuildInfo();
  r.machine = DescribeMachine();
  r.cpu_features = kernels::CpuFeatureString(kernels::GetCpuFeatures());
  r.cuda_compiled = kernels::CudaCompiled();
  r.cuda_architectures = kernels::CudaArchitectures();
  r.gpus = kernels::ProbeGpus();

  r.data_dir = ResolveDataDir(options.data_dir_flag);
  if (Result<std::filesystem::path> dir = ResolveModelsDir(); dir.ok()) {
    r.models_dir = *dir;
  } else {
    r.models_dir_error = std::string(dir.status().message());
  }
  r.shared_data_dir = ResolveSharedDataDir();
  std::error_code ec;
  r.shared_data_found = std::filesystem::is_directory(r.shared_data_dir, ec);

  r.models_verified = !r.models_dir.empty();
  for (const DefaultModel& model : DefaultModels()) {
    if (r.models_dir.empty()) break;
    r.models.push_back(CheckModel(r.models_dir, model, options.verify_model_digests));
    // An optional model is reported, never required: missing, it does not make info fail.
    if (!model.optional) r.models_verified = r.models_verified && r.models.back().ready();
  }
  r.libraries = LinkedLibraries();
  return r;
}

nlohmann::json SystemReportToJson(const SystemReport& r) {
  using nlohmann::json;
  json gpus = json::array();
  for (const kernels::GpuDevice& d : r.gpus.devices) {
    gpus.push_back({{"index", d.index},
                    {"name", d.name},
                    {"memory_bytes", d.total_memory_bytes},
                    {"compute_capability", std::to_string(d.compute_capability_major) + "." +
                                               std::to_string(d.compute_capability_minor)}});
  }
  json models = json::array();
  for (const ModelCheck& m : r.models) {
    json files = json::array();
    for (size_t i = 0; i < m.files.size(); ++i) {
      const ModelFileCheck& f = m.files[i];
      json file = {{"path", f.path.string()},
                   {"state", ModelFileStateName(f.state)},
                   {"size_bytes", f.size_bytes},
                   {"expected_sha256", m.model->files[i].sha256}};
      if (!f.actual_sha256.empty()) file["actual_sha256"] = f.actual_sha256;
      if (!f.error.empty()) file["error"] = f.error;
      files.push_back(std::move(file));
    }
    models.push_back({{"name", m.model->name},
                      {"role", m.model->role},
                      {"package", m.model->package},
                      {"path", m.root.string()},
                      {"state", ModelState(m)},
                      {"ready", m.ready()},
                      {"optional", m.model->optional},
                      {"fetch_command", FetchCommand(*m.model)},
                      {"size_bytes", m.size_bytes},
                      {"files", std::move(files)}});
  }
  json libraries = json::object();
  for (const auto& [name, version] : r.libraries) libraries[name] = version;

  json paths = {{"data_dir", r.data_dir.string()},
                {"models_dir", r.models_dir.string()},
                {"shared_data_dir", r.shared_data_dir.string()},
                {"shared_data_found", r.shared_data_found}};
  if (!r.models_dir_error.empty()) paths["models_dir_error"] = r.models_dir_error;

  return {{"version", r.build.version},
          {"build",
           {{"version", r.build.version},
            {"commit", r.build.git_commit},
            {"build_type", r.build.build_type},
            {"compiler", r.build.compiler},
            {"system", r.build.system}}},
          {"machine",
           {{"hostname", r.machine.hostname},
            {"cpu", r.machine.cpu_model},
            {"cpu_features", r.cpu_features},
            {"hardware_threads", r.machine.hardware_threads},
            {"memory_bytes", r.machine.memory_bytes},
            {"kernel", r.machine.kernel}}},
          {"cuda",
           {{"compiled", r.cuda_compiled},
            {"architectures", r.cuda_architectures},
            {"gpu_visible", !r.gpus.devices.empty()},
            {"driver_version", r.gpus.driver_version},
            {"reason", r.gpus.reason},
            {"devices", std::move(gpus)}}},
          {"paths", std::move(paths)},
          {"models", std::move(models)},
          {"models_verified", r.models_verified},
          {"libraries", std::move(libraries)}};
}

std::string FormatSystemReport(const SystemReport& r) {
  std::ostringstream out;
  auto row = [&out](std::string_view key, const std::string& value) {
    out << "  " << key << std::string(key.size() < 14 ? 14 - key.size() : 1, ' ') << value << "\n";
  };

  out << "engram " << r.build.version << " (commit " << r.build.git_commit << ", "
      << r.build.build_type << ", " << r.build.compiler << ")\n";

  out << "machine\n";
  row("cpu", MachineSummary(r.machine));
  row("simd", r.cpu_features);
  row("kernel", r.machine.kernel);

  out << "cuda\n";
  row("built", r.cuda_compiled ? "yes (sm " + r.cuda_architectures + ")" : "no");
  if (r.gpus.devices.empty()) {
    row("gpu", "none visible (" + r.gpus.reason + ")");
  } else {
    for (const kernels::GpuDevice& d : r.gpus.devices) {
      row("gpu " + std::to_string(d.index), d.name + ", " + FormatBytes(d.total_memory_bytes) +
                                                ", sm " +
                                                std::to_string(d.compute_capability_major) +
                                                std::to_string(d.compute_capability_minor));
    }
  }

  out << "paths\n";
  row("data dir", r.data_dir.string());
  row("models dir",
      r.models_dir.empty() ? "unresolved: " + r.models_dir_error : r.models_dir.string());
  row("shared data", r.shared_data_dir.string() +
                         (r.shared_data_found ? "" : "  (not found; set ENGRAM_SHARED_DATA)"));

  out << "models\n";
  for (const ModelCheck& m : r.models) {
    if (!m.model->optional) FormatModel(m, row);
  }
  if (!r.models_verified) row("", "run scripts/fetch_models.sh to download and verify them");
  bool optional_header = false;
  for (const ModelCheck& m : r.models) {
    if (!m.model->optional) continue;
    if (!optional_header) out << "optional models\n";
    optional_header = true;
    FormatModel(m, row);
    if (!m.ready()) row("", "run " + FetchCommand(*m.model) + " to download and verify it");
  }

  out << "libraries\n";
  std::string libs;
  for (const auto& [name, version] : r.libraries)
    libs += (libs.empty() ? "" : ", ") + name + " " + version;
  row("linked", libs);
  return out.str();
}

}  // namespace engram::agent
