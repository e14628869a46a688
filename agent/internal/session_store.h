// The session records of every tenant: one JSON file per session at
// TenantSessionsDir(data_dir, tenant)/<id>.json (docs/formats/session.md), replaced atomically
// (temp file, fsync, rename, fsync of the directory), so a crash leaves the old record or the
// new one, never a torn one.
//
// Ids are 32 random lower-case hex digits (common/random_id.h, from std::random_device): they
// say nothing about other sessions or tenants. An id from a request is checked (ValidateSessionId)
// before any path is built from it; a tenant only ever reaches its own directory, so another
// tenant's id is simply not found.
//
// Thread safety: all methods may run concurrently; callers serialise writes to one session
// (SessionLocks).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_runtime.h"
#include "agent/tenants.h"
#include "common/result.h"

namespace engram::agent::internal {

// OK for 32 lower-case hex digits; kInvalidArgument "session id '...': expected 32 hex digits".
Status ValidateSessionId(std::string_view id);

class SessionStore {
 public:
  explicit SessionStore(std::string data_dir);

  // A new session with a fresh id, created_ms = updated_ms = now; the record is durable when
  // this returns. kInvalidArgument for bad settings (CheckSettings) or tenant name.
  Result<SessionInfo> Create(const Tenant& tenant, const SessionSettings& settings);
  // kNotFound "session '<id>' not found" for an unknown id (or another tenant's).
  Result<SessionInfo> Load(const Tenant& tenant, std::string_view id) const;
  // Replaces the record of info.id atomically.
  Status Save(const Tenant& tenant, const SessionInfo& info) const;
  // Removes the record. kNotFound for an unknown id.
  Status Remove(const Tenant& tenant, std::string_view id) const;
  // The tenant's sessions, most recently updated first. Damaged records are skipped with a
  // warning.
  Result<std::vector<SessionInfo>> List(const Tenant& tenant) const;

  std::string RecordPath(const Tenant& tenant, std::string_view id) const;

 private:
  std::string data_dir_;
};

// Writes `text` to `path` atomically and durably: <path>.tmp, fsync, rename, fsync of the
// directory. The .tmp is removed on failure.
Status WriteFileDurably(const std::string& path, std::string_view text);

}  // namespace engram::agent::internal
