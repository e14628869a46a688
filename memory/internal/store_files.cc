#include "memory/internal/store_files.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "common/input_file.h"
#include "common/random_id.h"
#include "memory/internal/layout.h"
#include "retrieval/rocks_store.h"

namespace engram::memory::internal {

namespace fs = std::filesystem;

// The one message for a store whose files are damaged (never confused with "not a store").
Status Damaged(const std::string& path, std::string_view what) {
  return Status::Corruption("memory store '" + path + "' is damaged (" + std::string(what) +
                            "); restore it from a checkpoint or backup");
}

// 16 random bytes, hex: binds the store's index files to its database.
std::string NewStoreId() { return RandomHex(16); }

std::string IndexOwner(std::string_view store_id, std::string_view ns) {
  return std::string(store_id) + "/" + std::string(ns);
}

// Where `path` stands, judged without writing to it: sets *existing when it holds a store whose
// RocksDB files are in place; an empty or missing directory is a new store. A store with its
// CURRENT or MANIFEST missing is kCorruption (Damaged); anything else is kInvalidArgument.
Status InspectDirectory(const std::string& path, bool* existing) {
  *existing = false;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::OK();
  if (!fs::is_directory(path, ec)) {
    return Status::InvalidArgument("memory: '" + path + "' is a file, not a store directory");
  }
  const fs::path db = fs::path(path) / "db";
  if (fs::is_directory(db, ec) && !fs::is_empty(db, ec)) {
    if (!fs::exists(db / "CURRENT", ec)) return Damaged(path, "db/CURRENT is missing");
    Result<std::string> current = ReadFileBounded(db / "CURRENT", 4096, "RocksDB CURRENT file");
    if (!current.ok()) return Damaged(path, "db/CURRENT is unreadable");
    std::string manifest = *current;
    while (!manifest.empty() && (manifest.back() == '\n' || manifest.back() == '\r')) {
      manifest.pop_back();
    }
    if (!manifest.starts_with("MANIFEST-") || manifest.find('/') != std::string::npos) {
      return Damaged(path, "db/CURRENT does not name a MANIFEST file");
    }
    if (!fs::is_regular_file(db / manifest, ec)) {
      return Damaged(path, "db/CURRENT names " + manifest + ", which is missing");
    }
    *existing = true;
    return Status::OK();
  }
  // No database: only the empty folders an interrupted creation leaves are a new store.
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if ((name == "index" || name == "db") && e.is_directory(ec) && fs::is_empty(e.path(), ec)) {
      continue;
    }
    if (name == "index" || name == "db") return Damaged(path, "its database folder db/ is missing");
    return Status::InvalidArgument("memory: '" + path +
                                   "' exists and is not an engram memory store; use an empty or "
                                   "new directory");
  }
  return Status::OK();
}

// The format marker of an existing store, read without writing ("" when there is none).
Result<std::string> ReadFormat(const std::string& path, const fs::path& db_path) {
  std::optional<std::string> format;
  const rocksdb::Status s = retrieval::ReadFormatMarker(db_path.string(), &format);
  if (!s.ok()) return Damaged(path, "RocksDB cannot read it: " + s.ToString());
  return format.value_or(std::string());
}

Result<bool> UnfinishedCreation(const std::string& path, const fs::path& db_path) {
  std::vector<std::string> families;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db_path.string(), &families);
  if (!s.ok()) return Damaged(path, "RocksDB cannot read it: " + s.ToString());
  // The store's families, or some of them beyond RocksDB's "default": opening a new store
  // creates them one by one before any write, so a kill can land between two. "default" alone
  // is any empty RocksDB database, not a store.
  std::sort(families.begin(), families.end());
  std::vector<std::string> ours(std::begin(kCfNames), std::end(kCfNames));
  std::sort(ours.begin(), ours.end());
  if (families.size() < 2 ||
      !std::includes(ours.begin(), ours.end(), families.begin(), families.end())) {
    return false;
  }
  rocksdb::DBOptions options;
  options.info_log = retrieval::NullRocksLogger();
  retrieval::RocksDatabase ro;
  const char* const kDefault[] = {rocksdb::kDefaultColumnFamilyName.c_str()};
  s = ro.Open(db_path.string(), kDefault, options, rocksdb::ColumnFamilyOptions(),
              /*read_only=*/true);
  if (!s.ok()) return Damaged(path, "RocksDB cannot read it: " + s.ToString());
  std::unique_ptr<rocksdb::Iterator> it(ro.db->NewIterator({}, ro.cf[0]));
  it->SeekToFirst();
  if (!it->status().ok()) return Damaged(path, "RocksDB cannot read it: " + it->status().ToString());
  return !it->Valid();
}

Status CheckFormat(const std::string& path, std::string_view format) {
  if (format.empty()) {
    return Status::InvalidArgument("memory: '" + path +
                                   "' holds a database that is not an engram memory store; use "
                                   "an empty or new directory");
  }
  if (format != kFormat && format != kFormatWithoutStemming && format != kUpgradableFormat) {
    return retrieval::RefuseFormat("memory store", path, format, kFormat,
                                   "export it with the older engram or start a new store");
  }
  return Status::OK();
}

rocksdb::DBOptions DatabaseOptions() {
  rocksdb::DBOptions o = retrieval::BaseDatabaseOptions(/*create=*/true);
  // One flush job (one MANIFEST write) for every column family at close, not one each.
  o.atomic_flush = true;
  return o;
}

// Universal compaction: every process that opens the store (each CLI command) flushes small
// table files whose keys (new ids) rarely overlap older ones; leveled compaction would only
// move them down one by one (a "trivial move") and never merge them, so their number would grow
// with every command. Universal compaction merges sorted runs of similar size, which keeps the
// file count logarithmic in the data and the cost per byte amortised.
//
// One block cache for all column families of a store. RocksDB's default is a separate 8 MB
// cache per column family; at a million episodes a recall reads postings segments, embeddings
// and records scattered over gigabytes, and every miss re-reads, checks and decompresses a
// block from the page cache. The cache fills only as blocks are read, so small stores stay small.
rocksdb::ColumnFamilyOptions TableOptions() {
  static constexpr size_t kBlockCacheBytes = size_t{128} << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  rocksdb::ColumnFamilyOptions o;
  o.compaction_style = rocksdb::kCompactionStyleUniversal;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

}  // namespace engram::memory::internal
