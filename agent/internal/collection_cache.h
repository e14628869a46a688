// The server's open collections, one per directory, shared by the requests that use them, and
// the QA pipeline and search reranker of each (created on first use). Collection allows
// concurrent searches beside one writer; the entry's lock keeps a collection from being closed
// and deleted while a request uses it; a QaPipeline answers one question at a time, and a
// reranker scores one search at a time, each under its own lock. A reranker per collection
// keeps its cached passages within one tenant's collection, where later questions reuse them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "agent/qa.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "retrieval/collection.h"
#include "retrieval/embedder.h"
#include "retrieval/reranker.h"

namespace engram::agent::internal {

struct CollectionEntry {
  // Shared by requests that use the collection; exclusive while it is closed for deletion.
  std::shared_mutex mu;
  // Null once the collection was deleted (a request that raced the delete answers 404).
  std::unique_ptr<retrieval::Collection> collection PT_GUARDED_BY(mu);
  std::mutex qa_mu;                                  // one Ask at a time
  std::unique_ptr<QaPipeline> qa GUARDED_BY(qa_mu);  // declared after `collection`: dies first
  std::mutex rerank_mu;                              // one reranked search at a time
  std::unique_ptr<retrieval::Reranker> reranker GUARDED_BY(rerank_mu);
  std::string name;                                  // as the client named it (messages)

  ~CollectionEntry() {
    reranker.reset();
    qa.reset();
    collection.reset();
  }
};

class CollectionCache {
 public:
  // The open collection in `dir`, opened (read-write, with `embedder`, which must outlive the
  // cache) on first use. With `create` a missing collection is created; otherwise kNotFound
  // "collection '<name>' not found".
  Result<std::shared_ptr<CollectionEntry>> Get(const std::string& dir, const std::string& name,
                                               bool create, retrieval::Embedder* embedder);
  // Closes the collection in `dir` (waiting for requests using it) and deletes the directory.
  // kNotFound "collection '<name>' not found" when there is none.
  Status Remove(const std::string& dir, const std::string& name);

 private:
  std::mutex mu_;  // held while opening or removing, so a directory is never opened twice
  std::map<std::string, std::shared_ptr<CollectionEntry>> entries_ GUARDED_BY(mu_);
};

}  // namespace engram::agent::internal
