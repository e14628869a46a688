// engram._engram._Collection: retrieval::Collection for the Python layer (engram/collection.py),
// run with the GIL released; results become dicts.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bindings.h"
#include "closable.h"
#include "errors.h"
#include "inference/bert_embedder.h"
#include "retrieval/collection.h"
#include "retrieval/document_parser.h"
#include "values.h"

namespace nb = nanobind;

namespace engram::python {
namespace {

PyDict IngestDict(const retrieval::IngestResult& r, const std::string& source) {
  PyDict d;
  d["id"] = r.id;
  d["outcome"] = std::string(retrieval::IngestOutcomeName(r.outcome));
  d["chunks"] = r.chunks;
  d["source"] = source;
  return d;
}

// A file read and parsed as `engram ingest` does: its canonical path is its source.
retrieval::DocumentInput ReadDocumentFile(const std::string& path,
                                          const std::vector<std::string>& tags) {
  retrieval::ParsedDocument parsed = Unwrap(retrieval::ParseDocumentFile(path));
  retrieval::DocumentInput doc;
  doc.text = std::move(parsed.text);
  doc.title = std::move(parsed.title);
  doc.format = std::string(retrieval::DocumentFormatName(parsed.format));
  doc.tags = tags;
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  doc.source = ec ? path : canonical.string();
  return doc;
}

class Collection {
 public:
  Collection(const std::string& path, const std::optional<std::string>& embedder, bool create,
             bool sync, const std::string& precision)
      : path_(path), collection_("collection '" + path + "'") {
    nb::gil_scoped_release release;
    retrieval::CollectionOptions options;
    options.mode = create ? retrieval::OpenMode::kCreate : retrieval::OpenMode::kReadWrite;
    options.sync = sync;
    Check(retrieval::CheckCollection(path, options.mode));  // before loading the model
    auto model = Unwrap(inference::BertEmbedder::OpenOrDefault(
        embedder.value_or(""), {.precision = Unwrap(inference::ParseEmbedPrecision(precision))}));
    auto collection = Unwrap(retrieval::Collection::Open(path, model.get(), options));
    collection_.Hold(std::move(model), std::move(collection));
  }

  PyDict Ingest(std::string text, std::string source, std::string title,
                std::vector<std::string> tags, std::string format) {
    retrieval::DocumentInput doc{.text = std::move(text),
                                 .title = std::move(title),
                                 .source = std::move(source),
                                 .tags = std::move(tags),
                                 .format = std::move(format)};
    const retrieval::IngestResult r =
        collection_.Run([&](retrieval::Collection& c) { return Unwrap(c.Ingest(doc)); });
    return IngestDict(r, doc.source);
  }

  PyDict IngestFile(const std::string& path, const std::vector<std::string>& tags) {
    retrieval::DocumentInput doc;
    const retrieval::IngestResult r = collection_.Run([&](retrieval::Collection& c) {
      doc = ReadDocumentFile(path, tags);
      return Unwrap(c.Ingest(doc));
    });
    return IngestDict(r, doc.source);
  }

  PyDictList Search(const std::string& query, int k, const std::string& mode,
                    const std::vector<std::string>& tags, const std::string& source_prefix) {
    retrieval::SearchOptions o;
    o.mode = Unwrap(retrieval::ParseSearchMode(mode));
    o.k = k;
    o.tags = tags;
    o.source_prefix = source_prefix;
    const std::vector<retrieval::SearchHit> hits =
        collection_.Run([&](retrieval::Collection& c) { return Unwrap(c.Search(query, o)); });
    PyDictList out;
    for (const retrieval::SearchHit& h : hits) out.append(HitDict(h));
    return out;
  }

  void Delete(const std::vector<uint64_t>& ids) {
    collection_.Run([&](retrieval::Collection& c) { Check(c.Delete(std::span<const uint64_t>(ids))); });
  }

  PyDictList List() {
    const std::vector<retrieval::DocumentInfo> docs =
        collection_.Run([&](retrieval::Collection& c) { return Unwrap(c.List()); });
    PyDictList out;
    for (const retrieval::DocumentInfo& d : docs) out.append(DocumentDict(d));
    return out;
  }

  PyOptionalDict Get(uint64_t id) {
    Result<retrieval::DocumentInfo> d = collection_.Run([&](retrieval::Collection& c) { return c.Get(id); });
    if (!d.ok() && d.status().code() == StatusCode::kNotFound) {
      return nb::borrow<PyOptionalDict>(nb::none());
    }
    return nb::borrow<PyOptionalDict>(DocumentDict(Unwrap(std::move(d))));
  }

  std::string Text(uint64_t id) {
    return collection_.Run([&](retrieval::Collection& c) { return Unwrap(c.DocumentText(id)); });
  }

  PyDict Stats() {
    const retrieval::CollectionStats st = collection_.Run([&](retrieval::Collection& c) { return c.Stats(); });
    PyDict d;
    d["documents"] = st.documents;
    d["chunks"] = st.chunks;
    d["index_kind"] = std::string(retrieval::IndexKindName(st.index_kind));
    d["index_bytes"] = st.index_bytes;
    d["index_title"] = st.index_title;
    d["stemming"] = std::string(retrieval::StemmingName(st.stemming));
    d["sentence_vectors"] = st.sentence_vectors;
    return d;
  }

  void Flush() {
    collection_.Run([&](retrieval::Collection& c) { Check(c.Flush()); });
  }

  void Close() { collection_.Close(); }
  bool closed() const { return collection_.closed(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Closable<retrieval::Collection> collection_;
};

}  // namespace

void BindCollection(nb::module_& m) {
  using nb::arg;
  nb::class_<Collection>(m, "_Collection",
                         "The native document collection behind engram.Collection.")
      .def(nb::init<const std::string&, const std::optional<std::string>&, bool, bool,
                    const std::string&>(),
           arg("path"), arg("embedder").none(), arg("create"), arg("sync"), arg("precision"),
           "Opens the collection in directory `path` (created when missing if `create`).")
      .def("ingest", &Collection::Ingest, arg("text"), arg("source"), arg("title"), arg("tags"),
           arg("format"), "Adds or replaces the document `source`; returns what happened.")
      .def("ingest_file", &Collection::IngestFile, arg("path"), arg("tags"),
           "Parses a .txt/.md/.html/.pdf file and ingests it under its canonical path.")
      .def("search", &Collection::Search, arg("query"), arg("k"), arg("mode"), arg("tags"),
           arg("source_prefix"), "The best k chunks for `query` as dicts, best first.")
      .def("delete", &Collection::Delete, arg("ids"),
           "Deletes documents in one atomic write (all, or none when one is missing).")
      .def("list_documents", &Collection::List, "Every document's description.")
      .def("get", &Collection::Get, arg("id"), "A document's description, or None.")
      .def("text", &Collection::Text, arg("id"), "A document's text as its chunks hold it.")
      .def("stats", &Collection::Stats, "Document and chunk counts, index kind and size.")
      .def("flush", &Collection::Flush, "Saves the vector index and flushes the memtables.")
      .def("close", &Collection::Close, "Closes the collection; later calls raise engram.Error.")
      .def_prop_ro("closed", &Collection::closed, "Whether close() was called.")
      .def_prop_ro("path", &Collection::path, "The collection's directory.");
}

}  // namespace engram::python
