// The memory store's files as a whole, before and around RocksDB (private to memory/): telling
// a new, existing, damaged or foreign directory apart without writing to it, the format marker,
// the store identity and the owner stamp that binds index files to it, and the RocksDB options.
// docs/formats/episodic_store.md describes the layout.
#pragma once

#include <rocksdb/options.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/status.h"

namespace engram::memory::internal {

// 5: the "index_text" record also says how BM25's terms are stemmed. 4: BM25 indexes each
// episode's index text (memory/internal/index_text.h), described by the "index_text" record,
// terms never stemmed; it is read and written as it is. 3 (BM25 over the text alone, postings in
// retrieval::Bm25Index segments) is upgraded in place by Open to 5; older versions (2 had a key
// per posting, 1 one id counter for every namespace) are refused, not migrated.
inline constexpr std::string_view kFormat = "engram-memory 5";
inline constexpr std::string_view kFormatWithoutStemming = "engram-memory 4";
inline constexpr std::string_view kUpgradableFormat = "engram-memory 3";

// kCorruption "memory store '<path>' is damaged (<what>); restore it from a checkpoint or
// backup": the one message for a store whose files are damaged (never "not a store").
Status Damaged(const std::string& path, std::string_view what);

// 32 lower-case hex digits from 16 random bytes.
std::string NewStoreId();

// The owner stamped on a namespace's index file (VectorIndex::Save / Load): the store's random
// identity and the namespace, so a file copied from another store or namespace is never
// trusted; the file's sequence is the namespace's generation, so a stale one is not either.
std::string IndexOwner(std::string_view store_id, std::string_view ns);

// Where `path` stands, judged without writing to it: *existing when it holds a store whose
// RocksDB files are in place; false for a missing or empty directory (a new store). A store
// with db/CURRENT or its MANIFEST missing is Damaged; a directory holding something else is
// kInvalidArgument.
Status InspectDirectory(const std::string& path, bool* existing);

// The format marker of an existing store, read through a read-only open ("" when there is
// none); a database RocksDB cannot open is Damaged.
Result<std::string> ReadFormat(const std::string& path, const std::filesystem::path& db_path);

// Whether the database of an existing store directory is what a creation killed before its
// first write leaves: nothing in the default column family (every write of the store puts
// records there) and exactly the store's column families. Such a store is created again; anything
// else is judged by its format marker. Read-only; a database RocksDB cannot read is Damaged.
Result<bool> UnfinishedCreation(const std::string& path, const std::filesystem::path& db_path);

// "" is not a store (kInvalidArgument); kFormat, kFormatWithoutStemming and kUpgradableFormat
// pass; anything else is
// kNotSupported "memory store '<path>' has format '<found>'; this engram reads 'engram-memory 5':
// export it with the older engram or start a new store".
Status CheckFormat(const std::string& path, std::string_view format);

rocksdb::DBOptions DatabaseOptions();
// Options of every column family.
rocksdb::ColumnFamilyOptions TableOptions();

}  // namespace engram::memory::internal
