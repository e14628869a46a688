#include "agent/ask_documents.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>

#include "common/paths.h"
#include "common/sha256.h"
#include "retrieval/document_parser.h"

namespace engram::agent {
namespace fs = std::filesystem;
namespace {

// Parsed text that is mostly replacement characters or holds NUL bytes came from a binary file.
bool LooksBinary(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return true;
  size_t replaced = 0;
  for (size_t at = text.find("\xEF\xBF\xBD"); at != std::string_view::npos;
       at = text.find("\xEF\xBF\xBD", at + 3)) {
    ++replaced;
  }
  return replaced * 3 * 10 > text.size();  // more than a tenth of the bytes
}

Result<std::vector<retrieval::DocumentInput>> ReadFiles(std::span<const std::string> files,
                                                        std::map<std::string, std::string>* display) {
  if (files.empty()) return Status::InvalidArgument("ask: no documents; give FILE… or -c COLLECTION");
  std::vector<retrieval::DocumentInput> docs;
  for (const std::string& file : files) {
    ENGRAM_TRY_ASSIGN(retrieval::ParsedDocument parsed, retrieval::ParseDocumentFile(file));
    if (parsed.text.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("ask: '" + file + "' holds no text; give a document with text");
    }
    if (LooksBinary(parsed.text)) {
      return Status::InvalidArgument("ask: '" + file + "' does not look like text (binary data?); "
                                     "give a .txt, .md, .html or .pdf document");
    }
    std::error_code ec;
    const fs::path canonical = fs::canonical(file, ec);
    const std::string source = ec ? file : canonical.string();
    if (!display->emplace(source, file).second) {
      return Status::InvalidArgument("ask: '" + file + "' is named twice; name each file once");
    }
    docs.push_back({.text = std::move(parsed.text), .title = std::move(parsed.title),
                    .source = source, .tags = {},
                    .format = std::string(retrieval::DocumentFormatName(parsed.format))});
  }
  return docs;
}

std::string SetName(const std::vector<retrieval::DocumentInput>& docs) {
  std::vector<std::string> parts;
  for (const retrieval::DocumentInput& d : docs) {
    parts.push_back(d.source + '\0' + d.format + '\0' + Sha256Hex(d.text));
  }
  std::sort(parts.begin(), parts.end());
  std::string all;
  for (const std::string& p : parts) all += p + '\n';
  return "ask-" + Sha256Hex(all).substr(0, 16);
}

// Removes building directories of processes that are gone (a killed ask).
void RemoveAbandoned(const fs::path& building) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(building, ec)) {
    const std::string name = e.path().filename().string();
    const size_t dash = name.rfind('-');
    const long pid = dash == std::string::npos ? 0 : std::atol(name.c_str() + dash + 1);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      fs::remove_all(e.path(), ec);
    }
  }
}

// Ingests `docs` into a private directory and renames it to `final_dir`. Another process may
// have put the same set there first: then ours is dropped.
Status BuildSet(const fs::path& collections, const fs::path& final_dir,
                const std::vector<retrieval::DocumentInput>& docs, retrieval::Embedder* embedder) {
  const fs::path building = collections / ".building";
  std::error_code ec;
  fs::create_directories(building, ec);
  if (ec) {
    return Status::IOError("ask: cannot create '" + building.string() + "': " + ec.message());
  }
  RemoveAbandoned(building);
  const fs::path tmp = building / (final_dir.filename().string() + "-" +
                                   std::to_string(std::random_device{}() % 1000000) + "-" +
                                   std::to_string(::getpid()));
  {
    retrieval::CollectionOptions options;
    options.mode = retrieval::OpenMode::kCreate;
    ENGRAM_TRY_ASSIGN(std::unique_ptr<retrieval::Collection> c,
                      retrieval::Collection::Open(tmp.string(), embedder, options));
    Result<std::vector<retrieval::IngestResult>> r = c->IngestBatch(docs);
    Status st = r.ok() ? c->Flush() : r.status();
    if (!st.ok()) {
      c.reset();
      fs::remove_all(tmp, ec);
      return st;
    }
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);  // another ask renamed the same set first: use theirs
    if (retrieval::ProbeCollection(final_dir.string()).health != retrieval::CollectionHealth::kSound) {
      return Status::IOError("ask: cannot put the documents' collection at '" + final_dir.string() +
                             "'");
    }
  }
  return Status::OK();
}

}  // namespace

Result<DocumentSet> OpenDocumentSet(const fs::path& data_dir, std::span<const std::string> files,
                                    retrieval::Embedder* embedder) {
  DocumentSet set;
  ENGRAM_TRY_ASSIGN(std::vector<retrieval::DocumentInput> docs, ReadFiles(files, &set.display));
  set.name = SetName(docs);
  ENGRAM_TRY_ASSIGN(const std::string dir, retrieval::CollectionPath(data_dir.string(), set.name));
  const retrieval::CollectionProbe probe = retrieval::ProbeCollection(dir);
  if (probe.health == retrieval::CollectionHealth::kForeign) {
    return Status::InvalidArgument("ask: '" + dir + "' is not an engram collection (" +
                                   probe.problem + "); move it out of the data dir");
  }
  if (probe.health == retrieval::CollectionHealth::kDamaged) {
    spdlog::warn("ask: the documents' collection at '{}' is unusable ({}); rebuilding it", dir,
                 probe.problem);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  if (probe.health != retrieval::CollectionHealth::kSound) {
    if (Status st = BuildSet(CollectionsDir(data_dir), dir, docs, embedder); !st.ok()) return st;
    set.ingested = true;
  }
  retrieval::CollectionOptions options;
  options.mode = retrieval::OpenMode::kReadOnly;
  ENGRAM_TRY_ASSIGN(set.collection, retrieval::Collection::Open(dir, embedder, options));
  return set;
}

}  // namespace engram::agent
