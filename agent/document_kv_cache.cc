#include "agent/document_kv_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "common/input_file.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "common/sha256.h"

namespace engram::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kLockName = "LOCK";
constexpr std::string_view kMemoName = "model_digests.json";
constexpr std::string_view kEntrySuffix = ".kv";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr size_t kMaxKeyChars = 128;
constexpr int64_t kMemoVersion = 1;
constexpr uint64_t kMaxMemoBytes = uint64_t{16} << 20;

std::string Quoted(const fs::path& path) { return "'" + path.string() + "'"; }

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status CheckKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyChars || !IsLowerHex(key)) {
    std::string shown(key.substr(0, 80));
    if (key.size() > 80) shown += "...";
    return Status::InvalidArgument("document kv cache: entry key '" + shown +
                                   "' is not 1 to 128 lower-case hex characters; make keys with "
                                   "DocumentKvCache::EntryKey");
  }
  return Status::OK();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What a name in the cache dir is: a file of entry `key` (the entry file itself when `main`),
// a temp file, or none of ours.
struct NameKind {
  enum { kOther, kEntry, kTemp } kind = kOther;
  std::string key;
  bool main = false;
};

NameKind ClassifyName(std::string_view name) {
  NameKind k;
  if (name == std::string(kMemoName) + std::string(kTempSuffix)) {
    k.kind = NameKind::kTemp;
    return k;
  }
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos || !CheckKey(name.substr(0, dot)).ok() ||
      name.substr(dot, kEntrySuffix.size()) != kEntrySuffix) {
    return k;
  }
  k.key = std::string(name.substr(0, dot));
  if (EndsWith(name, kTempSuffix)) {
    k.kind = NameKind::kTemp;
  } else {
    k.kind = NameKind::kEntry;
    k.main = name.size() == dot + kEntrySuffix.size();
  }
  return k;
}

struct EntryFiles {
  std::vector<fs::path> files;  // regular files: <key>.kv and its sidecars
  uint64_t bytes = 0;
  bool has_main = false;
  timespec mtime{};  // of <key>.kv
};

struct DirScan {
  std::map<std::string, EntryFiles> entries;  // by key; includes orphan sidecars
  std::vector<fs::path> temps;
};

Result<DirScan> ScanDir(const fs::path& dir) {
  DirScan scan;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const NameKind kind = ClassifyName(path.filename().string());
    if (kind.kind == NameKind::kOther) continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;  // removed meanwhile
    if (!S_ISREG(st.st_mode)) continue;
    if (kind.kind == NameKind::kTemp) {
      scan.temps.push_back(path);
      continue;
    }
    EntryFiles& entry = scan.entries[kind.key];
    entry.files.push_back(path);
    entry.bytes += static_cast<uint64_t>(st.st_size);
    if (kind.main) {
      entry.has_main = true;
      entry.mtime = st.st_mtim;
    }
  }
  if (ec) {
    return Status::IOError("document kv cache: cannot list directory " + Quoted(dir) + ": " +
                           ec.message() + "; check its permissions");
  }
  return scan;
}

// Removes `files`; a failure is logged. Returns whether all are gone.
bool RemoveFiles(const std::vector<fs::path>& files, std::string_view why) {
  bool all = true;
  for (const fs::path& f : files) {
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) {
      all = false;
      spdlog::warn("document kv cache: cannot remove {} ({}): {}; remove it by hand", Quoted(f),
                   why, std::generic_category().message(errno));
    }
  }
  return all;
}

// Every file of entry `key`, temp files included (for removal under the lock).
std::vector<fs::path> AllFilesOf(const fs::path& dir, std::string_view key) {
  const std::string prefix = std::string(key) + std::string(kEntrySuffix);
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().starts_with(prefix)) files.push_back(it->path());
  }
  return files;
}

// Sets a file's access and modification times to now, with the clock's full resolution (file
// systems stamp writes with a coarse clock, which would tie entries used in quick succession).
// Returns 0 or an errno.
int Touch(const fs::path& path) {
  timespec now[2];
  ::clock_gettime(CLOCK_REALTIME, &now[0]);
  now[1] = now[0];
  return ::utimensat(AT_FDCWD, path.c_str(), now, 0) == 0 ? 0 : errno;
}

// An exclusive flock on <dir>/LOCK, held until destruction.
class DirLock {
 public:
  static Result<DirLock> Acquire(const fs::path& dir) {
    const fs::path path = dir / kLockName;
    ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      return ErrnoStatus("document kv cache: cannot open lock file " + Quoted(path) +
                             " (check the permissions of " + Quoted(dir) + ")",
                         errno);
    }
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) {
        return ErrnoStatus("document kv cache: cannot lock " + Quoted(path), errno);
      }
    }
    return DirLock(std::move(fd));
  }

 private:
  explicit DirLock(ScopedFd fd) : fd_(std::move(fd)) {}
  ScopedFd fd_;  // closing it releases the lock
};

// --- the model digest memo ---------------------------------------------------------------------

struct MemoEntry {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;
};
using Memo = std::map<std::string, MemoEntry>;  // by canonical path

Result<Memo> ParseMemo(const nlohmann::json& doc, const fs::path& path) {
  const JsonValue root(doc, "kv cache model digest memo " + Quoted(path));
  Result<int64_t> version = root.IntField("version");
  if (!version.ok()) return version.status();
  if (*version != kMemoVersion) {
    return Status::NotSupported(root.Describe() + ": version " + std::to_string(*version) +
                                ", this engram reads version " + std::to_string(kMemoVersion));
  }
  Result<JsonValue> models = root.Field("models");
  if (!models.ok()) return models.status();
  Result<std::vector<std::pair<std::string, JsonValue>>> members = models->Members();
  if (!members.ok()) return members.status();
  Memo memo;
  for (const auto& [model, value] : *members) {
    MemoEntry e;
    Result<int64_t> size = value.IntField("size", 0);
    if (!size.ok()) return size.status();
    Result<int64_t> mtime = value.IntField("mtime_ns");
    if (!mtime.ok()) return mtime.status();
    Result<std::string> sha = value.StringField("sha256");
    if (!sha.ok()) return sha.status();
    if (sha->size() != 64 || !IsLowerHex(*sha)) {
      return Status::Corruption(value.Describe() + ".sha256: not 64 lower-case hex characters");
    }
    memo[model] = {*size, *mtime, *sha};
  }
  return memo;
}

// The memo, or an empty one when it is missing or damaged (logged: it is only a cache).
Memo ReadMemo(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  Result<nlohmann::json> doc = ReadJsonFile(path, "kv cache model digest memo", kMaxMemoBytes);
  Result<Memo> memo = doc.ok() ? ParseMemo(*doc, path) : Result<Memo>(doc.status());
  if (!memo.ok()) {
    spdlog::warn(
        "document kv cache: ignoring the model digest memo ({}); models will be hashed "
        "again and the memo rewritten",
        memo.status().ToString());
    return {};
  }
  return std::move(*memo);
}

// Writes `text` to <path>.tmp and renames it over `path`. Call under the lock.
Status WriteFileAtomically(const fs::path& path, std::string_view text) {
  const fs::path tmp = path.string() + std::string(kTempSuffix);
  Status s;
  {
    ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoStatus("document kv cache: cannot create " + Quoted(tmp), errno);
    size_t done = 0;
    while (s.ok() && done < text.size()) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = ErrnoStatus("document kv cache: cannot write " + Quoted(tmp), errno);
      } else {
        done += static_cast<size_t>(n);
      }
    }
    if (s.ok() && ::fsync(fd.get()) != 0) {
      s = ErrnoStatus("document kv cache: cannot fsync " + Quoted(tmp), errno);
    }
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("document kv cache: cannot rename " + Quoted(tmp) + " to " + Quoted(path),
                    errno);
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

Result<FileStamp> StampOf(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus("document kv cache: cannot stat model file " + Quoted(path), errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("document kv cache: model " + Quoted(path) +
                                   " is not a regular file");
  }
  return FileStamp{static_cast<int64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void AppendU64(Sha256& hash, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  hash.Update(std::span<const uint8_t>(b, 8));
}

}  // namespace

Result<std::unique_ptr<DocumentKvCache>> DocumentKvCache::Open(const fs::path& dir,
                                                               uint64_t limit_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (fs::exists(st) && !fs::is_directory(st)) {
    return Status::InvalidArgument("document kv cache: " + Quoted(dir) +
                                   " exists and is not a directory; move it away or use another "
                                   "data dir");
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::IOError("document kv cache: cannot create directory " + Quoted(dir) + ": " +
                           ec.message() + "; check the permissions of its parent");
  }
  const fs::path lock = dir / kLockName;
  ScopedFd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    return ErrnoStatus("document kv cache: cannot open lock file " + Quoted(lock) +
                           " (check the permissions of " + Quoted(dir) + ")",
                       errno);
  }
  return std::unique_ptr<DocumentKvCache>(new DocumentKvCache(dir, limit_bytes));
}

Result<std::string> DocumentKvCache::ModelDigest(const std::string& model_path) const {
  std::error_code ec;
  const fs::path canonical = fs::canonical(model_path, ec);
  if (ec) {
    return Status(
        ec == std::errc::no_such_file_or_directory ? StatusCode::kNotFound : StatusCode::kIOError,
        "document kv cache: cannot find model file " + Quoted(model_path) + ": " + ec.message());
  }
  Result<FileStamp> before = StampOf(canonical);
  if (!before.ok()) return before.status();

  const fs::path memo_path = dir_ / kMemoName;
  {
    const Memo memo = ReadMemo(memo_path);
    const auto it = memo.find(canonical.string());
    if (it != memo.end() && it->second.size == before->size &&
        it->second.mtime_ns == before->mtime_ns) {
      return it->second.sha256;
    }
  }

  spdlog::info("document kv cache: hashing model file {} ({} bytes, once per file)",
               Quoted(canonical), before->size);
  Result<std::string> digest = Sha256File(canonical);
  if (!digest.ok()) return digest.status();
  Result<FileStamp> after = StampOf(canonical);
  if (!after.ok()) return after.status();
  if (!(*after == *before)) {
    spdlog::warn(
        "document kv cache: model file {} changed while it was hashed; its digest is not "
        "remembered",
        Quoted(canonical));
    return digest;
  }

  Result<DirLock> lock = DirLock::Acquire(dir_);
  if (!lock.ok()) {
    spdlog::warn("{}; the model digest is not remembered", lock.status().ToString());
    return digest;
  }
  Memo memo = ReadMemo(memo_path);  // again: another process may have added to it
  memo[canonical.string()] = {before->size, before->mtime_ns, *digest};
  std::erase_if(memo, [](const auto& model) {  // forget model files that are gone
    std::error_code gone;
    return !fs::exists(model.first, gone) && !gone;
  });
  nlohmann::json models = nlohmann::json::object();
  for (const auto& [model, e] : memo) {
    models[model] = {{"size", e.size}, {"mtime_ns", e.mtime_ns}, {"sha256", e.sha256}};
  }
  const nlohmann::json doc = {{"version", kMemoVersion}, {"models", std::move(models)}};
  Status written = WriteFileAtomically(memo_path, JsonText(doc, 1) + "\n");
  if (!written.ok()) {
    spdlog::warn("{}; the model digest is not remembered", written.ToString());
  }
  return digest;
}

std::string DocumentKvCache::EntryKey(std::string_view model_digest, std::string_view variant,
                                      std::span<const int32_t> tokens) {
  Sha256 hash;
  hash.Update(std::string_view("engram document kv cache entry v1"));
  AppendU64(hash, model_digest.size());
  hash.Update(model_digest);
  AppendU64(hash, variant.size());
  hash.Update(variant);
  AppendU64(hash, tokens.size());
  std::vector<uint8_t> bytes(tokens.size() * 4);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto t = static_cast<uint32_t>(tokens[i]);
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<uint8_t>(t >> (8 * b));
  }
  hash.Update(bytes);
  return ToHex(hash.Finish());
}

Result<bool> DocumentKvCache::Load(std::string_view key, inference::LlamaContext& ctx) const {
  if (Status s = CheckKey(key); !s.ok()) return s;
  const fs::path path = dir_ / (std::string(key) + std::string(kEntrySuffix));
  struct stat before;
  if (::stat(path.c_str(), &before) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus("document kv cache: cannot stat entry " + Quoted(path), errno);
  }
  const Status loaded = ctx.LoadCache(path.string());
  if (loaded.ok()) {
    if (const int err = Touch(path); err != 0 && err != ENOENT) {
      spdlog::debug("document kv cache: cannot mark {} as used: {}", Quoted(path),
                    std::generic_category().message(err));
    }
    return true;
  }
  switch (loaded.code()) {
    case StatusCode::kNotFound:  // evicted or replaced since the stat
      return false;
    case StatusCode::kCorruption:
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotSupported:
      break;
    default:
      return loaded.WithContext("document kv cache: cannot load entry " + Quoted(path));
  }
  // Remove the file, unless another process has replaced it since (then it is not the file
  // that failed).
  Result<DirLock> lock = DirLock::Acquire(dir_);
  if (!lock.ok()) {
    spdlog::warn("document kv cache: entry {} is unusable ({}), and {}", Quoted(path),
                 loaded.ToString(), lock.status().ToString());
    return false;
  }
  struct stat now;
  if (::stat(path.c_str(), &now) == 0 && now.st_dev == before.st_dev &&
      now.st_ino == before.st_ino) {
    RemoveFiles(AllFilesOf(dir_, key), "an unusable entry");
    spdlog::warn(
        "document kv cache: removed entry {}: {}; the documents will be prefilled and "
        "cached again",
        Quoted(path), loaded.ToString());
  }
  return false;
}

Status DocumentKvCache::Store(std::string_view key, inference::LlamaContext& ctx) const {
  if (Status s = CheckKey(key); !s.ok()) return s;
  const fs::path path = dir_ / (std::string(key) + std::string(kEntrySuffix));
  std::error_code ec;
  fs::create_directories(dir_, ec);  // removed by hand since Open; a failure shows below
  Result<DirLock> lock = DirLock::Acquire(dir_);
  if (!lock.ok()) return lock.status();

  // Leftovers of killed processes: every writer holds the lock while its temp files exist, and
  // a Store writes an entry's sidecars only together with its <key>.kv.
  Result<DirScan> scan = ScanDir(dir_);
  if (!scan.ok()) return scan.status();
  RemoveFiles(scan->temps, "a temp file left by a killed process");
  for (const auto& [k, entry] : scan->entries) {
    if (!entry.has_main) RemoveFiles(entry.files, "a file of an incomplete entry");
  }
  if (auto it = scan->entries.find(std::string(key)); it != scan->entries.end()) {
    if (!RemoveFiles(it->second.files, "the entry being replaced")) {
      return Status::IOError("document kv cache: cannot replace entry " + Quoted(path) +
                             ": its files cannot be removed; check the permissions of " +
                             Quoted(dir_));
    }
  }

  Status saved = ctx.SaveCache(path.string());
  if (!saved.ok()) {
    RemoveFiles(AllFilesOf(dir_, key), "a partly written entry");
    return saved.WithContext("document kv cache: cannot store entry " + Quoted(path) +
                             " (check free space and permissions in " + Quoted(dir_) + ")");
  }
  if (const int err = Touch(path); err != 0) {
    spdlog::debug("document kv cache: cannot mark {} as used: {}", Quoted(path),
                  std::generic_category().message(err));
  }
  if (limit_bytes_ == 0) return Status::OK();

  scan = ScanDir(dir_);
  if (!scan.ok()) return scan.status();
  const auto self = scan->entries.find(std::string(key));
  if (self == scan->entries.end() || !self->second.has_main) {
    return Status::IOError("document kv cache: entry " + Quoted(path) +
                           " vanished right after it was saved: something other than engram "
                           "removes files in " +
                           Quoted(dir_));
  }
  if (self->second.bytes > limit_bytes_) {
    RemoveFiles(self->second.files, "an entry larger than the limit");
    return Status::ResourceExhausted(
        "document kv cache: entry " + Quoted(path) + " takes " +
        std::to_string(self->second.bytes) + " bytes, more than the cache limit of " +
        std::to_string(limit_bytes_) + " bytes, so it was not kept; raise the limit to cache " +
        "this document set");
  }
  uint64_t total = 0;
  std::vector<std::pair<timespec, std::string>> others;  // (last use, key)
  for (const auto& [k, entry] : scan->entries) {
    total += entry.bytes;
    if (k != key) others.emplace_back(entry.mtime, k);
  }
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.tv_sec, a.first.tv_nsec, a.second) <
           std::tie(b.first.tv_sec, b.first.tv_nsec, b.second);
  });
  for (const auto& [mtime, k] : others) {
    if (total <= limit_bytes_) break;
    const EntryFiles& victim = scan->entries.at(k);
    if (RemoveFiles(victim.files, "evicting the least recently used entry")) {
      total -= victim.bytes;
      spdlog::debug("document kv cache: evicted entry {} ({} bytes)", k, victim.bytes);
    }
  }
  return Status::OK();
}

DocumentKvCache::Stats DocumentKvCache::stats() const {
  Stats stats;
  stats.limit_bytes = limit_bytes_;
  Result<DirScan> scan = ScanDir(dir_);
  if (!scan.ok()) return stats;
  for (const auto& [k, entry] : scan->entries) {
    if (!entry.has_main) continue;
    ++stats.entries;
    stats.bytes += entry.bytes;
  }
  return stats;
}

}  // namespace engram::agent
