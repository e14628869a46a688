// The documents `engram ask FILE…` asks: files parsed, ingested once into a collection kept under
// the data dir and keyed by what they are, so asking the same files again reuses it.
//
//   Result<DocumentSet> set = OpenDocumentSet(data_dir, {"docs/architecture.md"}, &embedder);
//   QaPipeline qa(engine, set->collection.get(), kv);
//   for (auto& [source, name] : set->display) qa.SetDisplayName(source, name);
//
// Key: sha256 over each file's canonical path, format and parsed-text digest, so a changed or
// moved file is a new set and an unchanged one is found again. The collection is
// <data dir>/collections/ask-<16 hex>. A new set is ingested into a private directory under
// collections/.building and renamed into place when complete, so a killed ask leaves nothing
// half-written and two processes asking at once both end with the same whole collection (the
// first rename wins; the other's copy is dropped). A damaged set is rebuilt.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "retrieval/collection.h"
#include "retrieval/embedder.h"

namespace engram::agent {

struct DocumentSet {
  std::unique_ptr<retrieval::Collection> collection;  // opened read-only
  std::string name;                                   // "ask-<16 hex>"
  std::map<std::string, std::string> display;        // canonical source -> path as given
  bool ingested = false;                              // false: found from an earlier ask
};

// Every file is read and checked before anything is written: kNotFound for a missing file,
// kInvalidArgument for a directory, an unknown extension, a file without text or one that looks
// binary (naming the file), kInvalidArgument for no files or the same file twice.
Result<DocumentSet> OpenDocumentSet(const std::filesystem::path& data_dir,
                                    std::span<const std::string> files,
                                    retrieval::Embedder* embedder);

}  // namespace engram::agent
