// Tenants: who an API key belongs to, and where each tenant's data lives. The key alone decides
// the tenant; the tenant is a prefix of every stored name the server derives here (memory
// namespaces, collection and session directories), never something a request body says, so no
// handler can reach another tenant's data by naming it.
//
//   Result<TenantKeys> keys = TenantKeys::Load("/etc/engram/keys");   // lines "KEY TENANT"
//   std::optional<Tenant> t = keys->Find(bearer_token);
//   std::string ns = MemoryNamespace(*t, "notes");   // "t.acme:notes"
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/status.h"

namespace engram::agent {

// The tenant of a server without API keys and of the CLI (`engram chat`): one user, whose data
// is the data the CLI works on (`engram ingest`, `engram memory`): its collections are
// <data_dir>/collections, its memory namespaces are the client's names unprefixed, its sessions
// <data_dir>/sessions. An API key file may not name it.
inline constexpr std::string_view kLocalTenant = "local";

struct Tenant {
  std::string name;  // [A-Za-z0-9_-]{1,64}; kLocalTenant when the server runs without API keys
  bool local() const { return name == kLocalTenant; }
};

class TenantKeys {
 public:
  // Lines "KEY TENANT" (blank lines and lines starting with '#' ignored). kInvalidArgument
  // naming the file and line for a malformed line, a bad tenant name, a key shorter than 16
  // characters or a key listed twice; kNotFound when the file does not exist.
  static Result<TenantKeys> Load(const std::string& path);
  // The tenant of `key` (compared in constant time); nullopt for an unknown key.
  std::optional<Tenant> Find(std::string_view key) const;
  bool empty() const { return tenants_.empty(); }
  size_t size() const { return tenants_.size(); }

 private:
  std::map<std::string, std::string> tenants_;  // key -> tenant
};

// A client-chosen name (memory namespace, collection, session id): [A-Za-z0-9._-]{1,96}.
// kInvalidArgument "<what> '<name>' ..." otherwise.
Status ValidateClientName(std::string_view what, std::string_view name);

// The episodic-store namespace of a tenant's client namespace: "t.<tenant>:<name>" ("<name>"
// for the local tenant).
std::string MemoryNamespace(const Tenant& tenant, std::string_view name);
// <data_dir>/tenants/<tenant>, or <data_dir> itself for the local tenant (so a server without
// API keys works on the CLI's own collections and sessions): the tenant's collections/ and
// sessions/ live below. Every route derives its paths from it.
std::string TenantDir(const std::string& data_dir, const Tenant& tenant);
std::string TenantCollectionsDir(const std::string& data_dir, const Tenant& tenant);
std::string TenantSessionsDir(const std::string& data_dir, const Tenant& tenant);
// Where servers before commit 00091fa kept the collections a keyless client created over HTTP
// (<data_dir>/tenants/local/collections), when that directory exists: they are not read there.
std::optional<std::string> StrandedLocalCollectionsDir(const std::string& data_dir);

}  // namespace engram::agent
