// RocksDB plumbing shared by the stores built on it (memory's episodic store, the document
// collection): Status from rocksdb::Status, the wall clock, the format marker every store keeps
// under "format" in its default column family, and opening a database with its column families.
//
//   retrieval::RocksDatabase rocks;
//   rocksdb::Status s = rocks.Open(db_path, kCfNames, retrieval::BaseDatabaseOptions(true),
//                                  rocksdb::ColumnFamilyOptions(), /*read_only=*/false);
//   if (!s.ok()) return retrieval::FromRocks(s, "memory", "opening '" + path + "'");
//   rocks.db->Put({}, rocks.cf[1], key, value);
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace engram::retrieval {

// OK, or "<who>: <what>: <RocksDB's message>" as kNotFound, kCorruption or (anything else)
// kIOError.
Status FromRocks(const rocksdb::Status& s, std::string_view who, std::string_view what);

// Unix epoch milliseconds now.
int64_t WallClockMs();

// A RocksDB info log that drops everything: a read-only look must leave a directory as it
// found it (RocksDB otherwise writes a LOG, renaming the last one).
std::shared_ptr<rocksdb::Logger> NullRocksLogger();

// The "format" marker of the database at `db_path`, read through a read-only open that writes
// nothing: nullopt when the key is absent. A RocksDB failure (the database cannot be opened or
// read) is returned as is, for the caller to word as damage.
rocksdb::Status ReadFormatMarker(const std::string& db_path, std::optional<std::string>* marker);

// kNotSupported "<what> '<where>' has format '<found>'; this engram reads '<expected>': <advice>".
Status RefuseFormat(std::string_view what, std::string_view where, std::string_view found,
                    std::string_view expected, std::string_view advice);

// Whether `s` says another process holds the database's lock.
bool IsLockError(const rocksdb::Status& s);

// Options both stores open a writable database with: create (and its column families) when
// `create`, and a few info logs kept rather than one per open forever.
rocksdb::DBOptions BaseDatabaseOptions(bool create);

// An open database and its column families; the handles are released before the database.
struct RocksDatabase {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;  // in the order of the names given to Open

  // Opens `db_path` with the column families `names`, each with `cf_options`; read-only opens
  // write nothing (give `options` a NullRocksLogger too). On failure nothing is held.
  rocksdb::Status Open(const std::string& db_path, std::span<const char* const> names,
                       const rocksdb::DBOptions& options,
                       const rocksdb::ColumnFamilyOptions& cf_options, bool read_only);
  RocksDatabase() = default;
  RocksDatabase(const RocksDatabase&) = delete;
  RocksDatabase& operator=(const RocksDatabase&) = delete;
  ~RocksDatabase();
};

}  // namespace engram::retrieval
