#include "agent/internal/session_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "agent/internal/session_json.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "common/random_id.h"

namespace engram::agent::internal {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kRecordFormat = "engram-session 1";
constexpr size_t kIdDigits = 32;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckTenant(const Tenant& tenant) {
  const std::string& n = tenant.name;
  const bool ok = !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (ok) return Status::OK();
  return Status::InvalidArgument("sessions: tenant name '" + n.substr(0, 64) +
                                 "' is not valid ([A-Za-z0-9_-]{1,64})");
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("sessions: cannot open directory '" + dir + "'", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("sessions: cannot fsync directory '" + dir + "'", err);
  return Status::OK();
}

Status WriteAll(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("sessions: cannot write '" + path + "'", errno);
    text.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

}  // namespace

Status WriteFileDurably(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("sessions: cannot create '" + tmp + "'", errno);
  Status s = WriteAll(fd, text, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("sessions: cannot fsync '" + tmp + "'", errno);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("sessions: cannot close '" + tmp + "'", errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("sessions: cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectory(fs::path(path).parent_path().string());
}

Status ValidateSessionId(std::string_view id) {
  const bool ok = id.size() == kIdDigits && std::all_of(id.begin(), id.end(), [](char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                  });
  if (ok) return Status::OK();
  std::string shown;
  for (char c : id.substr(0, 40)) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return Status::InvalidArgument("session id '" + shown +
                                 "': expected 32 lower-case hex digits, as session ids are");
}

SessionStore::SessionStore(std::string data_dir) : data_dir_(std::move(data_dir)) {}

std::string SessionStore::RecordPath(const Tenant& tenant, std::string_view id) const {
  return (fs::path(TenantSessionsDir(data_dir_, tenant)) / (std::string(id) + ".json")).string();
}

Result<SessionInfo> SessionStore::Create(const Tenant& tenant, const SessionSettings& settings) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckSettings(settings); !s.ok()) return s;
  const std::string dir = TenantSessionsDir(data_dir_, tenant);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("sessions: cannot create '" + dir + "': " + ec.message());
  SessionInfo info;
  info.settings = settings;
  info.created_ms = info.updated_ms = NowMs();
  do {
    info.id = RandomHex(kIdDigits / 2);
  } while (fs::exists(RecordPath(tenant, info.id)));
  if (Status s = Save(tenant, info); !s.ok()) return s;
  return info;
}

Result<SessionInfo> SessionStore::Load(const Tenant& tenant, std::string_view id) const {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = ValidateSessionId(id); !s.ok()) return s;
  const std::string path = RecordPath(tenant, id);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Status::NotFound("session '" + std::string(id) + "' not found");
  }
  ENGRAM_TRY_ASSIGN(nlohmann::json doc, ReadJsonFile(path, "session record"));
  JsonValue root(doc, "session record '" + path + "'");
  ENGRAM_TRY_ASSIGN(std::string format, root.StringField("format"));
  if (format != kRecordFormat) {
    return Status::NotSupported("session record '" + path + "': format '" + format + "' is not " +
                                std::string(kRecordFormat));
  }
  nlohmann::json body = doc;
  body.erase("format");
  JsonValue rest(body, "session record '" + path + "'");
  ENGRAM_TRY_ASSIGN(SessionInfo info, SessionFromJson(rest));
  if (info.id != id) {
    return Status::Corruption("session record '" + path + "' holds id '" + info.id + "'");
  }
  return info;
}

Status SessionStore::Save(const Tenant& tenant, const SessionInfo& info) const {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = ValidateSessionId(info.id); !s.ok()) return s;
  nlohmann::json record = SessionToJson(info);
  record["format"] = kRecordFormat;
  return WriteFileDurably(RecordPath(tenant, info.id), JsonText(record, 2) + "\n");
}

Status SessionStore::Remove(const Tenant& tenant, std::string_view id) const {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = ValidateSessionId(id); !s.ok()) return s;
  const std::string path = RecordPath(tenant, id);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::NotFound("session '" + std::string(id) + "' not found");
    return ErrnoStatus("sessions: cannot remove '" + path + "'", errno);
  }
  return SyncDirectory(fs::path(path).parent_path().string());
}

Result<std::vector<SessionInfo>> SessionStore::List(const Tenant& tenant) const {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  std::vector<SessionInfo> out;
  std::error_code ec;
  const fs::path dir = TenantSessionsDir(data_dir_, tenant);
  if (!fs::is_directory(dir, ec)) return out;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".json" || !ValidateSessionId(p.stem().string()).ok()) continue;
    Result<SessionInfo> info = Load(tenant, p.stem().string());
    if (!info.ok()) {
      spdlog::warn("sessions: skipping '{}': {}", p.string(), info.status().message());
      continue;
    }
    out.push_back(std::move(*info));
  }
  if (ec) return Status::IOError("sessions: cannot list '" + dir.string() + "': " + ec.message());
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return a.updated_ms != b.updated_ms ? a.updated_ms > b.updated_ms : a.id < b.id;
  });
  return out;
}

}  // namespace engram::agent::internal
