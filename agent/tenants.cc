// TenantKeys: the API-key file, and the names the server derives from a tenant (agent/tenants.h).
#include "agent/tenants.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/paths.h"

namespace engram::agent {
namespace {

constexpr size_t kMinKeyChars = 16;

bool IsNameChar(char c, bool allow_dot) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || (allow_dot && c == '.');
}

bool ValidTenantName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!IsNameChar(c, /*allow_dot=*/false)) return false;
  }
  return true;
}

// Equal without an early exit, so the time taken says nothing about where two keys differ.
bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

Result<TenantKeys> TenantKeys::Load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("API key file '" + path + "' does not exist (or is not a file)");
  }
  std::ifstream in(path);
  if (!in) return Status::IOError("API key file '" + path + "': cannot be read");
  TenantKeys keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = "API key file '" + path + "' line " + std::to_string(number);
    std::istringstream fields(line);
    std::string key, tenant, extra;
    if (!(fields >> key) || key[0] == '#') continue;
    if (!(fields >> tenant) || (fields >> extra)) {
      return Status::InvalidArgument(where + ": expected 'KEY TENANT'");
    }
    if (key.size() < kMinKeyChars) {
      return Status::InvalidArgument(where + ": the key is shorter than " +
                                     std::to_string(kMinKeyChars) + " characters");
    }
    if (!ValidTenantName(tenant)) {
      return Status::InvalidArgument(where + ": tenant '" + tenant +
                                     "' is not [A-Za-z0-9_-]{1,64}");
    }
    if (tenant == kLocalTenant) {
      return Status::InvalidArgument(where + ": tenant '" + tenant +
                                     "' is reserved for the server without API keys (the CLI's "
                                     "own data); choose another name");
    }
    if (!keys.tenants_.emplace(key, tenant).second) {
      return Status::InvalidArgument(where + ": this key is listed twice");
    }
  }
  return keys;
}

std::optional<Tenant> TenantKeys::Find(std::string_view key) const {
  // Every stored key is compared, so the time does not depend on which one matches.
  std::optional<Tenant> found;
  for (const auto& [stored, tenant] : tenants_) {
    if (ConstantTimeEqual(stored, key)) found = Tenant{tenant};
  }
  return found;
}

Status ValidateClientName(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > 96) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(name.substr(0, 100)) +
                                   "' must be 1 to 96 characters");
  }
  for (char c : name) {
    if (!IsNameChar(c, /*allow_dot=*/true)) {
      return Status::InvalidArgument(std::string(what) + " '" + std::string(name) +
                                     "' may hold only letters, digits, '.', '_' and '-'");
    }
  }
  if (name == "." || name == "..") {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(name) +
                                   "' is not a name");
  }
  return Status::OK();
}

std::string MemoryNamespace(const Tenant& tenant, std::string_view name) {
  if (tenant.local()) return std::string(name);
  return "t." + tenant.name + ":" + std::string(name);
}

std::string TenantDir(const std::string& data_dir, const Tenant& tenant) {
  if (tenant.local()) return data_dir;
  return (std::filesystem::path(data_dir) / "tenants" / tenant.name).string();
}

std::string TenantCollectionsDir(const std::string& data_dir, const Tenant& tenant) {
  return CollectionsDir(TenantDir(data_dir, tenant)).string();
}

std::string TenantSessionsDir(const std::string& data_dir, const Tenant& tenant) {
  return (std::filesystem::path(TenantDir(data_dir, tenant)) / "sessions").string();
}

std::optional<std::string> StrandedLocalCollectionsDir(const std::string& data_dir) {
  const std::filesystem::path dir =
      std::filesystem::path(data_dir) / "tenants" / std::string(kLocalTenant) / "collections";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;
  return dir.string();
}

}  // namespace engram::agent
