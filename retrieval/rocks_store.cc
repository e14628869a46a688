#include "retrieval/rocks_store.h"

#include <chrono>

namespace engram::retrieval {
namespace {

class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view who, std::string_view what) {
  if (s.ok()) return Status::OK();
  const StatusCode code = s.IsNotFound()     ? StatusCode::kNotFound
                          : s.IsCorruption() ? StatusCode::kCorruption
                                             : StatusCode::kIOError;
  return Status(code, std::string(who) + ": " + std::string(what) + ": " + s.ToString());
}

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<rocksdb::Logger> NullRocksLogger() { return std::make_shared<NullLogger>(); }

rocksdb::Status ReadFormatMarker(const std::string& db_path, std::optional<std::string>* marker) {
  marker->reset();
  rocksdb::DBOptions options;
  options.info_log = NullRocksLogger();
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, db_path, cfs, &handles, &raw);
  if (!s.ok()) return s;
  std::string value;
  s = raw->Get({}, handles[0], "format", &value);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  if (s.IsNotFound()) return rocksdb::Status::OK();
  if (s.ok()) *marker = std::move(value);
  return s;
}

Status RefuseFormat(std::string_view what, std::string_view where, std::string_view found,
                    std::string_view expected, std::string_view advice) {
  return Status::NotSupported(std::string(what) + " '" + std::string(where) + "' has format '" +
                              std::string(found) + "'; this engram reads '" +
                              std::string(expected) + "': " + std::string(advice));
}

bool IsLockError(const rocksdb::Status& s) {
  return s.IsIOError() && s.ToString().find("lock") != std::string::npos;
}

rocksdb::DBOptions BaseDatabaseOptions(bool create) {
  rocksdb::DBOptions o;
  o.create_if_missing = create;
  o.create_missing_column_families = create;
  // Each process that opens a store starts a new info LOG; keep a few, not 1,000.
  o.keep_log_file_num = 3;
  return o;
}

rocksdb::Status RocksDatabase::Open(const std::string& db_path, std::span<const char* const> names,
                                    const rocksdb::DBOptions& options,
                                    const rocksdb::ColumnFamilyOptions& cf_options,
                                    bool read_only) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : names) cfs.emplace_back(name, cf_options);
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(options, db_path, cfs, &handles, &raw)
                : rocksdb::DB::Open(options, db_path, cfs, &handles, &raw);
  if (!s.ok()) return s;
  db.reset(raw);
  cf = std::move(handles);
  return s;
}

RocksDatabase::~RocksDatabase() {
  for (auto* h : cf) {
    if (h != nullptr && db != nullptr) db->DestroyColumnFamilyHandle(h);
  }
}

}  // namespace engram::retrieval
