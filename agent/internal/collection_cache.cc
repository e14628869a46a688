// Open collections shared by the server's requests (agent/internal/collection_cache.h).
#include "agent/internal/collection_cache.h"

#include <filesystem>

namespace engram::agent::internal {

namespace {
Status NotFound(const std::string& name) {
  return Status::NotFound("collection '" + name + "' not found");
}
}  // namespace

Result<std::shared_ptr<CollectionEntry>> CollectionCache::Get(const std::string& dir,
                                                              const std::string& name, bool create,
                                                              retrieval::Embedder* embedder) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = entries_.find(dir); it != entries_.end()) return it->second;
  const retrieval::OpenMode mode =
      create ? retrieval::OpenMode::kCreate : retrieval::OpenMode::kReadWrite;
  if (Status st = retrieval::CheckCollection(dir, mode); !st.ok()) {
    if (st.code() == StatusCode::kNotFound) return NotFound(name);
    return st;
  }
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  }
  retrieval::CollectionOptions options;
  options.mode = mode;
  Result<std::unique_ptr<retrieval::Collection>> opened =
      retrieval::Collection::Open(dir, embedder, options);
  if (!opened.ok()) {
    if (opened.status().code() == StatusCode::kNotFound) return NotFound(name);
    return opened.status();
  }
  auto entry = std::make_shared<CollectionEntry>();
  entry->collection = std::move(*opened);
  entry->name = name;
  entries_[dir] = entry;
  return entry;
}

Status CollectionCache::Remove(const std::string& dir, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = entries_.find(dir); it != entries_.end()) {
    std::shared_ptr<CollectionEntry> entry = it->second;
    entries_.erase(it);
    std::unique_lock<std::shared_mutex> exclusive(entry->mu);
    std::lock_guard<std::mutex> qa_lock(entry->qa_mu);
    std::lock_guard<std::mutex> rerank_lock(entry->rerank_mu);
    entry->reranker.reset();
    entry->qa.reset();
    entry->collection.reset();
  } else {
    const retrieval::CollectionHealth health = retrieval::ProbeCollection(dir).health;
    if (health != retrieval::CollectionHealth::kSound &&
        health != retrieval::CollectionHealth::kDamaged) {
      return NotFound(name);  // never delete a directory that is not a collection
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    return Status::IOError("collection '" + name + "': cannot delete its files: " + ec.message());
  }
  return Status::OK();
}

}  // namespace engram::agent::internal
