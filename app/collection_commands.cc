// Document collections from the command line (retrieval/collection.h):
//   engram ingest --collection C [--tag T]… [--name NAME] [--sync] [--index KIND] [--json]
//                 FILE… | -
//   engram search --collection C [--mode bm25|dense|hybrid] [-k N] [--fusion weighted|rrf]
//                 [--mmr] [--tag T]… [--source-prefix P] [--rerank N] [--json] QUERY
//   engram collections [--json]
//   engram docs --collection C [--json]
//   engram delete --collection C ID…
// Collections live under <data-dir>/collections/<name>. Every command uses the default embedder
// (or --model DIR). Only `ingest` creates a collection; the read commands (search, docs,
// collections) open it read-only and write nothing, and a missing one is an error that lists
// the collections there are.
// `ingest` reads .txt .md .html .pdf files, or stdin for "-" (at most once). It is all or
// nothing: every file is read and parsed before the collection is created or changed, and one
// that cannot be is an error naming it, with nothing ingested.
// A document's identity (what a later ingest replaces) is a file's canonical path (so f.txt,
// ./f.txt and a symlink to it are one document), and for stdin --name NAME, else
// "stdin:<first 12 hex digits of the text's sha256>". Every JSON output goes through JsonText,
// so invalid UTF-8 in names, tags or queries cannot abort it.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "app/cli.h"
#include "app/collection_path.h"
#include "common/input_file.h"
#include "common/json_write.h"
#include "common/paths.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "inference/bert_embedder.h"
#include "inference/engine.h"
#include "inference/lm_reranker.h"
#include "nlohmann/json.hpp"
#include "retrieval/collection.h"
#include "retrieval/document_parser.h"
#include "retrieval/rerank.h"

namespace engram::app {
namespace {

using json = nlohmann::json;  // JsonText takes this type (keys come out sorted)

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
  cmd->add_option("--precision", f.precision, "Embedder precision: auto, f32, bf16 or int8")
      ->default_val("auto");
  AddThreadsOption(cmd, &f.threads);
  cmd->add_flag("--json", f.json, "Print JSON");
}

struct Opened {
  std::unique_ptr<inference::BertEmbedder> embedder;
  std::unique_ptr<retrieval::Collection> collection;
};

}  // namespace

Result<std::string> CheckedCollectionPath(const GlobalFlags& global, const std::string& name,
                                          retrieval::OpenMode mode) {
  const std::string data_dir = ResolveDataDir(global.data_dir).string();
  Result<std::string> path = retrieval::CollectionPath(data_dir, name);
  if (!path.ok()) return path.status();
  const Status st = retrieval::CheckCollection(*path, mode);
  if (st.code() != StatusCode::kNotFound) {
    if (!st.ok()) return st;
    return path;
  }
  std::string existing;
  for (const std::string& c : retrieval::ListCollections(data_dir)) {
    existing += (existing.empty() ? "" : ", ") + c;
  }
  return Status::NotFound("collection '" + name + "' does not exist (collections: " +
                          (existing.empty() ? std::string("none") : existing) +
                          "); create it with 'engram ingest -c " + name + " FILE'");
}

namespace {

Result<Opened> OpenCollection(const GlobalFlags& global, const CollectionFlags& f,
                              retrieval::CollectionOptions options) {
  Result<std::string> path = CheckedCollectionPath(global, f.collection, options.mode);
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

retrieval::CollectionOptions WithMode(retrieval::OpenMode mode) {
  retrieval::CollectionOptions options;
  options.mode = mode;
  return options;
}

Result<Opened> OpenForReading(const GlobalFlags& global, const CollectionFlags& f) {
  return OpenCollection(global, f, WithMode(retrieval::OpenMode::kReadOnly));
}

// ---- ingest ----

struct IngestFlags : CollectionFlags {
  std::vector<std::string> files;
  std::vector<std::string> tags;
  std::string name;
  bool sync = false;
  std::string index = "auto";
  std::string stemming = "english";
  bool sentence_vectors = true;
};

// One document to read: `arg` as given (its extension picks the format), `source` its identity.
struct IngestItem {
  std::string arg, source;
};

// The documents a command names, each once: files by canonical path (the first naming wins),
// "-" at most once. Files that cannot be resolved keep their argument as source and fail when
// read.
Result<std::vector<IngestItem>> PlanIngest(const IngestFlags& f) {
  if (f.files.empty()) return Status::InvalidArgument("ingest: give files to ingest, or - for stdin");
  const auto dashes = std::count(f.files.begin(), f.files.end(), "-");
  if (dashes > 1) {
    return Status::InvalidArgument("ingest: '-' (standard input) is given " +
                                   std::to_string(dashes) + " times; it can be read once");
  }
  if (!f.name.empty() && dashes == 0) {
    return Status::InvalidArgument("ingest: --name names the document read from standard input; "
                                   "give - as well, or drop --name");
  }
  std::vector<IngestItem> items;
  std::set<std::string> seen;
  for (const std::string& file : f.files) {
    std::string source = file;
    if (file != "-") {
      std::error_code ec;
      const std::filesystem::path canonical = std::filesystem::canonical(file, ec);
      if (!ec) source = canonical.string();
    }
    if (seen.insert(source).second) items.push_back({file, source});
  }
  return items;
}

// Reads standard input once (it cannot be read again): the document it holds.
Result<retrieval::DocumentInput> ReadStdinDocument(const IngestFlags& f) {
  Result<std::string> text = ReadInput("-", kMaxDocumentBytes, "document");
  if (!text.ok()) return text.status();
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument(
        "ingest: standard input is empty (or only white space); nothing to ingest");
  }
  Result<retrieval::ParsedDocument> parsed =
      retrieval::ParseDocument(*text, retrieval::DocumentFormat::kText, "stdin");
  if (!parsed.ok()) return parsed.status();
  retrieval::DocumentInput doc;
  doc.tags = f.tags;
  doc.text = std::move(parsed->text);
  doc.source = f.name.empty() ? "stdin:" + Sha256Hex(doc.text).substr(0, 12) : f.name;
  return doc;
}

// Reads and parses one item; stdin comes from `stdin_doc`, read before.
Result<retrieval::DocumentInput> ReadIngestItem(const IngestItem& item, const IngestFlags& f,
                                                const retrieval::DocumentInput& stdin_doc) {
  if (item.arg == "-") return stdin_doc;
  retrieval::DocumentInput doc;
  doc.tags = f.tags;
  Result<retrieval::ParsedDocument> parsed = retrieval::ParseDocumentFile(item.arg);
  if (!parsed.ok()) return parsed.status();
  doc.text = std::move(parsed->text);
  doc.title = std::move(parsed->title);
  doc.format = std::string(retrieval::DocumentFormatName(parsed->format));
  doc.source = item.source;
  return doc;
}

// The all-or-nothing check: stdin and every file read and parsed (then dropped, so that memory
// holds one batch at a time later) before anything is created or changed. The error names
// the first file that fails and how many do.
Result<retrieval::DocumentInput> CheckIngestItems(const std::vector<IngestItem>& items,
                                                  const IngestFlags& f) {
  retrieval::DocumentInput stdin_doc;
  size_t failed = 0;
  Status first;
  for (const IngestItem& item : items) {
    Status s;
    if (item.arg == "-") {
      Result<retrieval::DocumentInput> doc = ReadStdinDocument(f);
      if (doc.ok()) stdin_doc = std::move(*doc);
      s = doc.ok() ? Status::OK() : doc.status();
    } else {
      Result<retrieval::ParsedDocument> parsed = retrieval::ParseDocumentFile(item.arg);
      s = parsed.ok() ? Status::OK() : parsed.status();
    }
    if (!s.ok() && failed++ == 0) first = s;
  }
  if (failed == 0) return stdin_doc;
  std::string message(first.message());
  if (failed > 1) message += " (and " + std::to_string(failed - 1) + " more of the files)";
  return Status(first.code(), "ingest: nothing was ingested: " + message);
}

Status RunIngest(const GlobalFlags& global, const IngestFlags& f) {
  Result<std::vector<IngestItem>> items = PlanIngest(f);
  if (!items.ok()) return items.status();
  Result<retrieval::DocumentInput> stdin_doc = CheckIngestItems(*items, f);
  if (!stdin_doc.ok()) return stdin_doc.status();
  retrieval::CollectionOptions options;
  options.mode = retrieval::OpenMode::kCreate;
  options.sync = f.sync;
  Result<retrieval::IndexKind> kind = retrieval::ParseIndexKind(f.index);
  if (!kind.ok()) return kind.status();
  options.index.kind = *kind;
  if (!retrieval::ParseStemming(f.stemming, &options.stemming)) {
    return Status::InvalidArgument("ingest: --stemming is '" + f.stemming +
                                   "'; use english (Snowball stems, the default) or none (text "
                                   "that is not English)");
  }
  options.sentence_vectors = f.sentence_vectors;
  Result<Opened> o = OpenCollection(global, f, options);
  if (!o.ok()) return o.status();
  ProgressReporter progress("ingest", items->size(), {.unit = "docs"});
  json documents = json::array();
  size_t counts[3] = {0, 0, 0};
  uint64_t chunks = 0;
  std::vector<retrieval::DocumentInput> batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    Result<std::vector<retrieval::IngestResult>> r = o->collection->IngestBatch(batch);
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < r->size(); ++i) {
      const retrieval::IngestResult& x = (*r)[i];
      const std::string outcome(retrieval::IngestOutcomeName(x.outcome));
      ++counts[static_cast<int>(x.outcome)];
      chunks += x.chunks;
      documents.push_back(
          {{"id", x.id}, {"source", batch[i].source}, {"outcome", outcome}, {"chunks", x.chunks}});
      if (!f.json) {
        std::printf("%-9s %6llu  %s (%u chunks)\n", outcome.c_str(),
                    static_cast<unsigned long long>(x.id), batch[i].source.c_str(), x.chunks);
      }
    }
    progress.Add(batch.size());
    batch.clear();
    return Status::OK();
  };
  for (const IngestItem& item : *items) {
    // A file that changed since the check and no longer reads: the documents before it are
    // in (and were printed), the error says so.
    Result<retrieval::DocumentInput> doc = ReadIngestItem(item, f, *stdin_doc);
    if (!doc.ok()) {
      if (Status s = flush(); !s.ok()) return s;
      return doc.status().WithContext("ingest: '" + item.arg +
                                      "' changed while ingesting; the documents before it were "
                                      "ingested");
    }
    batch.push_back(std::move(*doc));
    if (batch.size() >= 16) {
      if (Status s = flush(); !s.ok()) return s;
    }
  }
  if (Status s = flush(); !s.ok()) return s;
  progress.Finish();
  if (Status s = o->collection->Flush(); !s.ok()) return s;
  if (f.json) {
    const json out = {{"collection", f.collection}, {"added", counts[0]},
                      {"replaced", counts[1]},      {"unchanged", counts[2]},
                      {"chunks", chunks},           {"documents", documents}};
    std::printf("%s\n", JsonText(out, 2).c_str());
  }
  return Status::OK();
}

// ---- search ----

struct SearchFlags : CollectionFlags {
  std::string query;
  std::string mode = "hybrid";
  std::string fusion = "weighted";
  int k = 5;
  double rrf_k = 60.0, dense_weight = retrieval::SearchOptions{}.dense_weight, mmr_lambda = 0.7;
  int candidates = 0;
  int rescore = retrieval::RescoreOptions{}.candidates;  // hybrid's second stage; 0: off
  bool mmr = false;
  std::vector<std::string> tags;
  std::string source_prefix;
  int rerank = 0;  // rescore the first N hits; 0: off
  std::string reranker = "lm";
  double rerank_weight = retrieval::RerankOptions{}.weight;
};

// --rerank N: the first N of `hits` rescored by the default language model's question
// likelihood, then cut to k.
Result<std::vector<retrieval::SearchHit>> Rerank(const SearchFlags& f,
                                                 const retrieval::RerankOptions& options,
                                                 std::vector<retrieval::SearchHit> hits) {
  ENGRAM_TRY_ASSIGN(const std::unique_ptr<inference::Engine> engine, inference::Engine::Load({}));
  ENGRAM_TRY_ASSIGN(const std::unique_ptr<inference::LmReranker> reranker,
                    inference::LmReranker::Create(*engine, {.threads = f.threads}));
  ENGRAM_TRY_ASSIGN(hits, retrieval::RerankHits(f.query, std::move(hits), *reranker, options));
  if (hits.size() > static_cast<size_t>(f.k)) hits.resize(static_cast<size_t>(f.k));
  return hits;
}

Status RunSearch(const GlobalFlags& global, const SearchFlags& f) {
  retrieval::SearchOptions options;
  Result<retrieval::SearchMode> mode = retrieval::ParseSearchMode(f.mode);
  if (!mode.ok()) return mode.status();
  options.mode = *mode;
  if (f.fusion != "rrf" && f.fusion != "weighted") {
    return Status::InvalidArgument("search: --fusion '" + f.fusion + "' is not rrf or weighted");
  }
  options.fusion = f.fusion == "rrf" ? retrieval::FusionMethod::kRrf : retrieval::FusionMethod::kWeighted;
  options.k = f.k;
  options.rrf_k = f.rrf_k;
  options.dense_weight = f.dense_weight;
  options.candidates = f.candidates;
  options.rescore.candidates = f.rescore;
  options.mmr = f.mmr;
  options.mmr_lambda = f.mmr_lambda;
  options.tags = f.tags;
  options.source_prefix = f.source_prefix;
  // The library checks again; checking first spares loading the embedder for a bad request.
  if (Status st = retrieval::ValidateSearch(f.query, options); !st.ok()) return st;
  const retrieval::RerankOptions rerank{.candidates = f.rerank, .weight = f.rerank_weight};
  if (f.rerank > 0) {
    if (Status st = retrieval::ValidateRerank(rerank); !st.ok()) return st;
    options.k = std::max(options.k, f.rerank);
  }
  Result<Opened> o = OpenForReading(global, f);
  if (!o.ok()) return o.status();
  Result<std::vector<retrieval::SearchHit>> hits = o->collection->Search(f.query, options);
  if (!hits.ok()) return hits.status();
  if (f.rerank > 0) hits = Rerank(f, rerank, *std::move(hits));
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
                             {"rerank", h.rerank_score},
                             {"begin", h.begin},
                             {"end", h.end},
                             {"sentence_begin", h.sentence_begin},
                             {"sentence_end", h.sentence_end},
                             {"title", h.title},
                             {"source", h.source},
                             {"text", h.text}});
    }
    std::printf("%s\n", JsonText(out, 2).c_str());
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

// One collection's line: a damaged one is listed as such (and not opened, so not touched).
json DescribeCollection(const GlobalFlags& global, const CollectionFlags& f,
                        const std::string& data_dir, const std::string& name) {
  Result<std::string> path = retrieval::CollectionPath(data_dir, name);
  const retrieval::CollectionProbe probe =
      path.ok() ? retrieval::ProbeCollection(*path) : retrieval::CollectionProbe{};
  if (probe.health == retrieval::CollectionHealth::kDamaged) {
    return {{"name", name}, {"status", "damaged"}, {"error", probe.problem}};
  }
  CollectionFlags one = f;
  one.collection = name;
  Result<Opened> o = OpenForReading(global, one);
  if (!o.ok()) {
    return {{"name", name}, {"status", "error"}, {"error", std::string(o.status().message())}};
  }
  const retrieval::CollectionStats st = o->collection->Stats();
  return {{"name", name},
          {"status", "ok"},
          {"documents", st.documents},
          {"chunks", st.chunks},
          {"index", std::string(retrieval::IndexKindName(st.index_kind))},
          {"index_title", st.index_title},
          {"stemming", std::string(retrieval::StemmingName(st.stemming))},
          {"sentence_vectors", st.sentence_vectors}};
}

Status RunCollections(const GlobalFlags& global, const CollectionFlags& f) {
  const std::string data_dir = ResolveDataDir(global.data_dir).string();
  json out = json::array();
  for (const std::string& name : retrieval::ListCollections(data_dir)) {
    out.push_back(DescribeCollection(global, f, data_dir, name));
  }
  if (f.json) {
    std::printf("%s\n", JsonText(json({{"data_dir", data_dir}, {"collections", out}}), 2).c_str());
    return Status::OK();
  }
  for (const auto& c : out) {
    const std::string status = c["status"].get<std::string>();
    if (status != "ok") {
      std::printf("%-24s %s: %s\n", c["name"].get<std::string>().c_str(), status.c_str(),
                  c["error"].get<std::string>().c_str());
    } else {
      std::printf("%-24s %8llu docs %9llu chunks  %s\n", c["name"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(c["documents"].get<uint64_t>()),
                  static_cast<unsigned long long>(c["chunks"].get<uint64_t>()),
                  c["index"].get<std::string>().c_str());
    }
  }
  return Status::OK();
}

Status RunDocs(const GlobalFlags& global, const CollectionFlags& f) {
  Result<Opened> o = OpenForReading(global, f);
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
  if (f.json) {
    std::printf("%s\n", JsonText(json({{"collection", f.collection}, {"documents", out}}), 2).c_str());
  }
  return Status::OK();
}

struct DeleteFlags : CollectionFlags {
  std::vector<uint64_t> ids;
};

Status RunDelete(const GlobalFlags& global, const DeleteFlags& f) {
  Result<Opened> o = OpenCollection(global, f, WithMode(retrieval::OpenMode::kReadWrite));
  if (!o.ok()) return o.status();
  // All or nothing: an unknown id deletes none of the others.
  if (Status s = o->collection->Delete(f.ids); !s.ok()) return s;
  if (!f.json) {
    for (uint64_t id : f.ids) std::printf("deleted %llu\n", static_cast<unsigned long long>(id));
  }
  if (f.json) std::printf("%s\n", JsonText(json({{"deleted", f.ids}})).c_str());
  return o->collection->Flush();
}

}  // namespace

void RegisterCollectionCommands(CLI::App& app, const GlobalFlags& global, CommandTable& commands) {
  auto ingest = std::make_shared<IngestFlags>();
  CLI::App* cmd = app.add_subcommand("ingest", "Add documents (.txt .md .html .pdf, - for stdin) to a collection");
  AddCommonFlags(cmd, *ingest, true);
  cmd->add_option("files", ingest->files, "Files to ingest")->required();
  cmd->add_option("--tag", ingest->tags, "Tag the documents (repeatable)");
  cmd->add_option("--name", ingest->name,
                  "Identity of the stdin document (default: stdin:<sha256 prefix of its text>)");
  cmd->add_flag("--sync", ingest->sync, "fsync every write (durable against power loss)");
  cmd->add_option("--index", ingest->index,
                  "Vector index of a new collection: auto (exact, HNSW from 50,000 chunks), flat, "
                  "hnsw or ivfpq (compressed, for very large collections)")
      ->default_val("auto");
  cmd->add_option("--stemming", ingest->stemming,
                  "How BM25 cuts the words of a new collection: english (Snowball stems, so "
                  "'painted' finds 'painting') or none (for text that is not English)")
      ->default_val("english");
  cmd->add_flag("--no-sentence-vectors{false}", ingest->sentence_vectors,
                "A new collection stores no sentence vectors: ingest embeds half the tokens, and "
                "hybrid search ranks a chunk by its one vector (default: stored)");
  commands.Add(cmd, [&global, ingest]() { return RunIngest(global, *ingest); });

  auto search = std::make_shared<SearchFlags>();
  cmd = app.add_subcommand("search", "Search a collection; every hit cites document:begin-end");
  AddCommonFlags(cmd, *search, true);
  cmd->add_option("query", search->query, "The query")->required();
  cmd->add_option("--mode", search->mode, "bm25, dense or hybrid")->default_val("hybrid");
  cmd->add_option("-k", search->k, "Hits to return (1..1000)")->default_val(5);
  cmd->add_option("--fusion", search->fusion, "Hybrid fusion: weighted (min-max normalised scores) or rrf")
      ->default_val("weighted");
  cmd->add_option("--rrf-k", search->rrf_k, "RRF fusion constant (0..1e6)")->default_val(60.0);
  cmd->add_option("--dense-weight", search->dense_weight, "Weighted fusion: dense share (0..1)")
      ->default_val(retrieval::SearchOptions{}.dense_weight);
  cmd->add_option("--candidates", search->candidates,
                  "Candidates per mode before fusion (0: max(4k, 50))")
      ->default_val(0);
  cmd->add_option("--rescore", search->rescore,
                  "Hybrid: rescore the first N fused chunks by cosine and term matches (0: off)")
      ->default_val(retrieval::RescoreOptions{}.candidates);
  cmd->add_flag("--mmr", search->mmr, "Diversify the hits (maximal marginal relevance)");
  cmd->add_option("--mmr-lambda", search->mmr_lambda, "MMR relevance vs diversity (0..1)")
      ->default_val(0.7);
  cmd->add_option("--tag", search->tags, "Only documents with this tag (repeatable)");
  cmd->add_option("--source-prefix", search->source_prefix, "Only documents whose source starts so");
  cmd->add_option("--rerank", search->rerank,
                  "Rescore the first N hits with --reranker (0: off; 1..100)")
      ->default_val(0)
      ->check(CLI::Range(0, retrieval::kMaxRerankCandidates));
  cmd->add_option("--reranker", search->reranker,
                  "lm: the default language model's question likelihood (about a second a query)")
      ->default_val("lm")
      ->check(CLI::IsMember({"lm"}));
  cmd->add_option("--rerank-weight", search->rerank_weight,
                  "The reranker's weight beside the search score (default 2)");
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
