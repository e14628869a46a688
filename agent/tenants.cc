// TEMPORARY (h-sessions): a minimal tenants.cc so sessions can be built and tested before the
// HTTP helper's real one lands on main. The lead drops this file at merge.
#include "agent/tenants.h"

#include <filesystem>
#include <fstream>

namespace engram::agent {
namespace {

bool NameChars(std::string_view name, std::string_view extra, size_t max) {
  if (name.empty() || name.size() > max) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<TenantKeys> TenantKeys::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("api keys file '" + path + "' does not exist");
  TenantKeys keys;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space < 16 ||
        !NameChars(line.substr(space + 1), "_-", 64) || keys.tenants_.count(line.substr(0, space))) {
      return Status::InvalidArgument("api keys file '" + path + "' line " + std::to_string(n) +
                                     ": expected 'KEY TENANT'");
    }
    keys.tenants_[line.substr(0, space)] = line.substr(space + 1);
  }
  return keys;
}

std::optional<Tenant> TenantKeys::Find(std::string_view key) const {
  auto it = tenants_.find(std::string(key));
  if (it == tenants_.end()) return std::nullopt;
  return Tenant{it->second};
}

Status ValidateClientName(std::string_view what, std::string_view name) {
  if (NameChars(name, "._-", 96)) return Status::OK();
  return Status::InvalidArgument(std::string(what) + " '" + std::string(name.substr(0, 100)) +
                                 "' is not a valid name; use 1 to 96 of A-Z a-z 0-9 . _ -");
}

std::string MemoryNamespace(const Tenant& tenant, std::string_view name) {
  return "t." + tenant.name + ":" + std::string(name);
}

std::string TenantDir(const std::string& data_dir, const Tenant& tenant) {
  return (std::filesystem::path(data_dir) / "tenants" / tenant.name).string();
}
std::string TenantCollectionsDir(const std::string& data_dir, const Tenant& tenant) {
  return (std::filesystem::path(TenantDir(data_dir, tenant)) / "collections").string();
}
std::string TenantSessionsDir(const std::string& data_dir, const Tenant& tenant) {
  return (std::filesystem::path(TenantDir(data_dir, tenant)) / "sessions").string();
}

}  // namespace engram::agent
