// RawDb: a store's RocksDB opened directly, for tests that damage or age a store on purpose.
#pragma once

#include <rocksdb/db.h>

#include <filesystem>
#include <memory>
#include <vector>

namespace engram::memory::testing {

// Opens the raw RocksDB database of a store (every column family), to change its format marker
// or damage it.
struct RawDb {
  explicit RawDb(const std::filesystem::path& db_path) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {"default", "episodes", "sessions", "embeddings", "versions", "postings", "terms"}) {
      rocksdb::ColumnFamilyOptions o;
      o.compaction_style = rocksdb::kCompactionStyleUniversal;  // as the store
      cfs.emplace_back(name, o);
    }
    rocksdb::DB* raw = nullptr;
    status = rocksdb::DB::Open({}, db_path.string(), cfs, &handles, &raw);
    db.reset(raw);
  }
  ~RawDb() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  }
  rocksdb::Status status;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::unique_ptr<rocksdb::DB> db;
};

}  // namespace engram::memory::testing
