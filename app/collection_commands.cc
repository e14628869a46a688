// Document collections from the command line (retrieval/collection.h):
//   engram ingest --collection C [--tag T]… [--sync] [--index KIND] [--json] FILE… | -
//   engram search --collection C [--mode bm25|dense|hybrid] [-k N] [--fusion weighted|rrf]
//                 [--mmr] [--tag T]… [--source-prefix P] [--json] QUERY
//   engram collections [--json]
//   engram docs --collection C [--json]
//   engram delete --collection C ID…
// Collections live under <data-dir>/collections/<name>. Every command uses the default embedder
// (or --model DIR). `ingest` reads .txt .md .html .pdf files, or stdin for "-"; a file that
// cannot be read or parsed is reported and skipped, the rest is ingested, and the exit code is
// then 2.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "app/cli.h"
#include "common/paths.h"
#include "common/progress.h"
#include "inference/bert_embedder.h"
#include "nlohmann/json.hpp"
#include "retrieval/collection.h"
#include "retrieval/document_parser.h"

namespace engram::app {
namespace {

using json = nlohmann::ordered_json;

struct CollectionFlags {
  std::string collection;
  std::string model;
  std::string precision = "auto";
  int threads = 0;
  bool json = false;
};

void AddCommonFlags(CLI::App* cmd, CollectionFlags& f, bool needs_collection) {
  if (needs_collection) {
    cmd->add_option("-c,--collection", f.collection, "Collection name")->required();
  }
  cmd->add_option("--model", f.model,
                  "Embedder: a sentence-transformers directory or bert GGUF (default: all-MiniLM-L6-v2)");
  cmd->add_option("--precision", f.precision, "Embedder precision: auto, f32 or bf16")
      ->default_val("auto");
  AddThreadsOption(cmd, &f.threads);
  cmd->add_flag("--json", f.json, "Print JSON");
}

struct Opened {
  std::unique_ptr<inference::BertEmbedder> embedder;
  std::unique_ptr<retrieval::Collection> collection;
};

Result<Opened> OpenCollection(const GlobalFlags& global, const CollectionFlags& f,
                              const retrieval::CollectionOptions& options = {}) {
  Result<std::string> path =
      retrieval::CollectionPath(ResolveDataDir(global.data_dir).string(), f.collection);
  if (!path.ok()) return path.status();
  Result<inference::EmbedPrecision> precision = inference::ParseEmbedPrecision(f.precision);
  if (!precision.ok()) return precision.status();
  Opened o;
  Result<std::unique_ptr<inference::BertEmbedder>> e = inference::BertEmbedder::OpenOrDefault(
      f.model, {.n_threads = f.threads, .precision = *precision});
  if (!e.ok()) return e.status();
  o.embedder = std::move(*e);
  Result<std::unique_ptr<retrieval::Collection>> c =
      retrieval::Collection::Open(*path, o.embedder.get(), options);
  if (!c.ok()) return c.status();
  o.collection = std::move(*c);
  return o;
}

// ---- ingest ----

struct IngestFlags : CollectionFlags {
  std::vector<std::string> files;
  std::vector<std::string> tags;
  bool sync = false;
  std::string index = "auto";
};

Status RunIngest(const GlobalFlags& global, const IngestFlags& f) {
  if (f.files.empty()) return Status::InvalidArgument("ingest: give files to ingest, or - for stdin");
  retrieval::CollectionOptions options;
  options.sync = f.sync;
  Result<retrieval::IndexKind> kind = retrieval::ParseIndexKind(f.index);
  if (!kind.ok()) return kind.status();
  options.index.kind = *kind;
  Result<Opened> o = OpenCollection(global, f, options);
  if (!o.ok()) return o.status();
  ProgressReporter progress("ingest", f.files.size(), {.unit = "docs"});
  json failed = json::array(), documents = json::array();
  size_t counts[3] = {0, 0, 0};
  uint64_t chunks = 0;
  std::vector<retrieval::DocumentInput> batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    Result<std::vector<retrieval::IngestResult>> r = o->collection->IngestBatch(batch);
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < r->size(); ++i) {
      const retrieval::IngestResult& x = (*r)[i];
      ++counts[static_cast<int>(x.outcome)];
      chunks += x.chunks;
      documents.push_back({{"id", x.id},
                           {"source", batch[i].source},
                           {"outcome", std::string(retrieval::IngestOutcomeName(x.outcome))},
                           {"chunks", x.chunks}});
      if (!f.json) {
        std::printf("%-9s %6llu  %s (%u chunks)\n",
                    std::string(retrieval::IngestOutcomeName(x.outcome)).c_str(),
                    static_cast<unsigned long long>(x.id), batch[i].source.c_str(), x.chunks);
      }
    }
    progress.Add(batch.size());
    batch.clear();
    return Status::OK();
  };
  for (const std::string& file : f.files) {
    retrieval::DocumentInput doc;
    doc.tags = f.tags;
    if (file == "-") {
      std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      Result<retrieval::ParsedDocument> parsed =
          retrieval::ParseDocument(text, retrieval::DocumentFormat::kText, "stdin");
      if (!parsed.ok()) return parsed.status();
      doc.text = std::move(parsed->text);
      doc.source = "stdin";
    } else {
      Result<retrieval::ParsedDocument> parsed = retrieval::ParseDocumentFile(file);
      if (!parsed.ok()) {
        std::fprintf(stderr, "ingest: skipped %s: %s\n", file.c_str(),
                     std::string(parsed.status().message()).c_str());
        failed.push_back({{"source", file}, {"error", std::string(parsed.status().message())}});
        progress.Add(1);
        continue;
      }
      doc.text = std::move(parsed->text);
      doc.title = std::move(parsed->title);
      doc.format = std::string(retrieval::DocumentFormatName(parsed->format));
      doc.source = file;
    }
    batch.push_back(std::move(doc));
    if (batch.size() >= 16) {
      if (Status s = flush(); !s.ok()) return s;
    }
  }
  if (Status s = flush(); !s.ok()) return s;
  progress.Finish();
  if (Status s = o->collection->Flush(); !s.ok()) return s;
  if (f.json) {
    const json out = {{"collection", f.collection},
                      {"added", counts[0]},
                      {"replaced", counts[1]},
                      {"unchanged", counts[2]},
                      {"chunks", chunks},
                      {"documents", documents},
                      {"failed", failed}};
    std::printf("%s\n", out.dump(2).c_str());
  }
  if (!failed.empty()) {
    return Status::InvalidArgument("ingest: " + std::to_string(failed.size()) +
                                   " file(s) could not be read; the others were ingested");
  }
  return Status::OK();
}

// ---- search ----

struct SearchFlags : CollectionFlags {
  std::string query;
  std::string mode = "hybrid";
  std::string fusion = "weighted";
  int k = 5;
  bool mmr = false;
  std::vector<std::string> tags;
  std::string source_prefix;
};

Status RunSearch(const GlobalFlags& global, const SearchFlags& f) {
  retrieval::SearchOptions options;
  Result<retrieval::SearchMode> mode = retrieval::ParseSearchMode(f.mode);
  if (!mode.ok()) return mode.status();
  options.mode = *mode;
  if (f.fusion != "rrf" && f.fusion != "weighted") {
    return Status::InvalidArgument("search: --fusion '" + f.fusion + "' is not rrf or weighted");
  }
  options.fusion = f.fusion == "rrf" ? retrieval::FusionMethod::kRrf : retrieval::FusionMethod::kWeighted;
  if (f.k <= 0) return Status::InvalidArgument("search: -k must be > 0");
  options.k = f.k;
  options.mmr = f.mmr;
  options.tags = f.tags;
  options.source_prefix = f.source_prefix;
  Result<Opened> o = OpenCollection(global, f);
  if (!o.ok()) return o.status();
  Result<std::vector<retrieval::SearchHit>> hits = o->collection->Search(f.query, options);
  if (!hits.ok()) return hits.status();
  if (f.json) {
    json out = {{"collection", f.collection}, {"query", f.query}, {"mode", f.mode}, {"hits", json::array()}};
    for (const retrieval::SearchHit& h : *hits) {
      out["hits"].push_back({{"citation", h.Citation()},
                             {"document", h.document_id},
                             {"chunk", h.chunk_id},
                             {"score", h.score},
                             {"bm25", h.bm25_score},
                             {"dense", h.dense_score},
                             {"begin", h.begin},
                             {"end", h.end},
                             {"title", h.title},
                             {"source", h.source},
                             {"text", h.text}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  for (size_t i = 0; i < hits->size(); ++i) {
    const retrieval::SearchHit& h = (*hits)[i];
    std::string preview = h.text.substr(0, 200);
    for (char& c : preview) c = c == '\n' ? ' ' : c;
    std::printf("%zu. [%s] %.4f  %s\n   %s%s\n", i + 1, h.Citation().c_str(), h.score,
                h.source.c_str(), preview.c_str(), h.text.size() > 200 ? "…" : "");
  }
  return Status::OK();
}

// ---- collections, docs, delete ----

Status RunCollections(const GlobalFlags& global, const CollectionFlags& f) {
  const std::string data_dir = ResolveDataDir(global.data_dir).string();
  json out = json::array();
  for (const std::string& name : retrieval::ListCollections(data_dir)) {
    CollectionFlags one = f;
    one.collection = name;
    Result<Opened> o = OpenCollection(global, one);
    if (!o.ok()) {
      out.push_back({{"name", name}, {"error", std::string(o.status().message())}});
      continue;
    }
    const retrieval::CollectionStats st = o->collection->Stats();
    out.push_back({{"name", name},
                   {"documents", st.documents},
                   {"chunks", st.chunks},
                   {"index", std::string(retrieval::IndexKindName(st.index_kind))}});
  }
  if (f.json) {
    std::printf("%s\n", json({{"data_dir", data_dir}, {"collections", out}}).dump(2).c_str());
  } else {
    for (const auto& c : out) {
      if (c.contains("error")) {
        std::printf("%-24s error: %s\n", c["name"].get<std::string>().c_str(),
                    c["error"].get<std::string>().c_str());
      } else {
        std::printf("%-24s %8llu docs %9llu chunks  %s\n", c["name"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(c["documents"].get<uint64_t>()),
                    static_cast<unsigned long long>(c["chunks"].get<uint64_t>()),
                    c["index"].get<std::string>().c_str());
      }
    }
  }
  return Status::OK();
}

Status RunDocs(const GlobalFlags& global, const CollectionFlags& f) {
  Result<Opened> o = OpenCollection(global, f);
  if (!o.ok()) return o.status();
  Result<std::vector<retrieval::DocumentInfo>> docs = o->collection->List();
  if (!docs.ok()) return docs.status();
  json out = json::array();
  for (const retrieval::DocumentInfo& d : *docs) {
    out.push_back({{"id", d.id},         {"title", d.title},   {"source", d.source},
                   {"format", d.format}, {"tags", d.tags},     {"bytes", d.bytes},
                   {"chunks", d.chunks}, {"sha256", d.sha256}, {"created_ms", d.created_ms},
                   {"updated_ms", d.updated_ms}});
    if (!f.json) {
      std::printf("%6llu  %-40s %8llu bytes %4u chunks  %s\n", static_cast<unsigned long long>(d.id),
                  d.source.c_str(), static_cast<unsigned long long>(d.bytes), d.chunks,
                  d.title.c_str());
    }
  }
  if (f.json) std::printf("%s\n", json({{"collection", f.collection}, {"documents", out}}).dump(2).c_str());
  return Status::OK();
}

struct DeleteFlags : CollectionFlags {
  std::vector<uint64_t> ids;
};

Status RunDelete(const GlobalFlags& global, const DeleteFlags& f) {
  Result<Opened> o = OpenCollection(global, f);
  if (!o.ok()) return o.status();
  for (uint64_t id : f.ids) {
    if (Status s = o->collection->Delete(id); !s.ok()) return s;
    if (!f.json) std::printf("deleted %llu\n", static_cast<unsigned long long>(id));
  }
  if (f.json) std::printf("%s\n", json({{"deleted", f.ids}}).dump().c_str());
  return o->collection->Flush();
}

}  // namespace

void RegisterCollectionCommands(CLI::App& app, const GlobalFlags& global, CommandTable& commands) {
  auto ingest = std::make_shared<IngestFlags>();
  CLI::App* cmd = app.add_subcommand("ingest", "Add documents (.txt .md .html .pdf, - for stdin) to a collection");
  AddCommonFlags(cmd, *ingest, true);
  cmd->add_option("files", ingest->files, "Files to ingest")->required();
  cmd->add_option("--tag", ingest->tags, "Tag the documents (repeatable)");
  cmd->add_flag("--sync", ingest->sync, "fsync every write (durable against power loss)");
  cmd->add_option("--index", ingest->index,
                  "Vector index of a new collection: auto (exact, HNSW from 50,000 chunks), flat, "
                  "hnsw or ivfpq (compressed, for very large collections)")
      ->default_val("auto");
  commands.Add(cmd, [&global, ingest]() { return RunIngest(global, *ingest); });

  auto search = std::make_shared<SearchFlags>();
  cmd = app.add_subcommand("search", "Search a collection; every hit cites document:begin-end");
  AddCommonFlags(cmd, *search, true);
  cmd->add_option("query", search->query, "The query")->required();
  cmd->add_option("--mode", search->mode, "bm25, dense or hybrid")->default_val("hybrid");
  cmd->add_option("-k", search->k, "Hits to return")->default_val(5);
  cmd->add_option("--fusion", search->fusion, "Hybrid fusion: weighted (min-max normalised scores) or rrf")
      ->default_val("weighted");
  cmd->add_flag("--mmr", search->mmr, "Diversify the hits (maximal marginal relevance)");
  cmd->add_option("--tag", search->tags, "Only documents with this tag (repeatable)");
  cmd->add_option("--source-prefix", search->source_prefix, "Only documents whose source starts so");
  commands.Add(cmd, [&global, search]() { return RunSearch(global, *search); });

  auto list = std::make_shared<CollectionFlags>();
  cmd = app.add_subcommand("collections", "List the collections under --data-dir");
  AddCommonFlags(cmd, *list, false);
  commands.Add(cmd, [&global, list]() { return RunCollections(global, *list); });

  auto docs = std::make_shared<CollectionFlags>();
  cmd = app.add_subcommand("docs", "List the documents of a collection");
  AddCommonFlags(cmd, *docs, true);
  commands.Add(cmd, [&global, docs]() { return RunDocs(global, *docs); });

  auto del = std::make_shared<DeleteFlags>();
  cmd = app.add_subcommand("delete", "Delete documents (by id, see `engram docs`) from a collection");
  AddCommonFlags(cmd, *del, true);
  cmd->add_option("ids", del->ids, "Document ids")->required();
  commands.Add(cmd, [&global, del]() { return RunDelete(global, *del); });
}

}  // namespace engram::app
