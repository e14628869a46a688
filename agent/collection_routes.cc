// /v1/collections and /v1/qa: a tenant's document collections over HTTP.
//   POST   /v1/collections                      create {"name"} (409 when it exists)
//   GET    /v1/collections                      the tenant's collections
//   GET    /v1/collections/{name}               its statistics and documents
//   DELETE /v1/collections/{name}
//   POST   /v1/collections/{name}/documents     ingest {"documents":[{"source","text",...}]}
//   POST   /v1/collections/{name}/search        {"query","k","mode","rerank","rerank_weight"}
//   POST   /v1/qa                               {"collection","question","mode","k","max_tokens",
//                                                "compress"}
// Collections live in TenantCollectionsDir(data_dir, tenant)/<name> (retrieval::CollectionPath
// under the tenant's directory), so a name only ever reaches the caller's own collections; an
// unknown name and another tenant's read the same (404). Documents come as text in the body:
// the server never opens a path a request names.
#include <algorithm>
#include <shared_mutex>

#include "agent/internal/collection_cache.h"
#include "agent/internal/route_helpers.h"
#include "agent/qa_json.h"
#include "agent/server.h"
#include "inference/lm_reranker.h"
#include "retrieval/document_parser.h"
#include "retrieval/rerank.h"

namespace engram::agent {
namespace {

using internal::CollectionCache;
using internal::CollectionEntry;
using json = nlohmann::json;
constexpr std::string_view kBody = "request body";
constexpr size_t kMaxDocumentsPerRequest = 1000;

struct Context {
  Services* services;
  std::shared_ptr<CollectionCache> cache;
};

// The directory of the tenant's collection `name`.
Result<std::string> CollectionDir(const Services& services, const HttpRequest& request,
                                  const std::string& name) {
  if (Status st = ValidateClientName("collection", name); !st.ok()) return st;
  return retrieval::CollectionPath(TenantDir(services.data_dir, request.tenant), name);
}

// The open collection the path names, or 404.
Result<std::shared_ptr<CollectionEntry>> Named(const Context& c, const HttpRequest& request,
                                               const std::string& name) {
  ENGRAM_TRY_ASSIGN(const std::string dir, CollectionDir(*c.services, request, name));
  return c.cache->Get(dir, name, /*create=*/false, c.services->embedder);
}

// Runs `use` on the entry's collection while holding it open (404 if it was just deleted).
template <typename Use>
Result<json> WithCollection(const std::shared_ptr<CollectionEntry>& entry, bool exclusive,
                            Use use) {
  std::shared_lock<std::shared_mutex> shared(entry->mu, std::defer_lock);
  std::unique_lock<std::shared_mutex> unique(entry->mu, std::defer_lock);
  if (exclusive)
    unique.lock();
  else
    shared.lock();
  if (entry->collection == nullptr) {
    return Status::NotFound("collection '" + entry->name + "' not found");
  }
  return use(*entry->collection);
}

json StatsJson(const std::string& name, const retrieval::CollectionStats& stats) {
  return {{"name", name},
          {"documents", stats.documents},
          {"chunks", stats.chunks},
          {"index", retrieval::IndexKindName(stats.index_kind)}};
}

Result<json> Create(const Context& c, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string name, body.StringField("name"));
  ENGRAM_TRY_ASSIGN(const std::string dir, CollectionDir(*c.services, request, name));
  if (retrieval::ProbeCollection(dir).health != retrieval::CollectionHealth::kMissing) {
    return Status::AlreadyExists("collection '" + name + "' already exists");
  }
  ENGRAM_TRY_ASSIGN(const auto entry,
                    c.cache->Get(dir, name, /*create=*/true, c.services->embedder));
  return WithCollection(entry, false, [&](retrieval::Collection& collection) -> Result<json> {
    return StatsJson(name, collection.Stats());
  });
}

Result<json> ListAll(const Context& c, const HttpRequest& request) {
  json data = json::array();
  for (const std::string& name :
       retrieval::ListCollections(TenantDir(c.services->data_dir, request.tenant))) {
    data.push_back({{"name", name}});
  }
  return json{{"object", "list"}, {"data", std::move(data)}};
}

json DocumentJson(const retrieval::DocumentInfo& d) {
  return {{"id", d.id},
          {"source", d.source},
          {"title", d.title},
          {"format", d.format},
          {"bytes", d.bytes},
          {"chunks", d.chunks},
          {"created_at", internal::IsoTime(d.created_ms)}};
}

Result<json> Describe(const Context& c, const HttpRequest& request) {
  const std::string& name = request.params.at("name");
  ENGRAM_TRY_ASSIGN(const auto entry, Named(c, request, name));
  return WithCollection(entry, false, [&](retrieval::Collection& collection) -> Result<json> {
    json out = StatsJson(name, collection.Stats());
    ENGRAM_TRY_ASSIGN(const std::vector<retrieval::DocumentInfo> docs, collection.List());
    json list = json::array();
    for (const retrieval::DocumentInfo& d : docs) list.push_back(DocumentJson(d));
    out["document_list"] = std::move(list);
    return out;
  });
}

Result<json> Delete(const Context& c, const HttpRequest& request) {
  const std::string& name = request.params.at("name");
  ENGRAM_TRY_ASSIGN(const std::string dir, CollectionDir(*c.services, request, name));
  if (Status st = c.cache->Remove(dir, name); !st.ok()) return st;
  return json{{"name", name}, {"deleted", true}};
}

Result<retrieval::DocumentFormat> TextFormat(const std::string& format) {
  if (format == "txt" || format == "text") return retrieval::DocumentFormat::kText;
  if (format == "md" || format == "markdown") return retrieval::DocumentFormat::kMarkdown;
  if (format == "html") return retrieval::DocumentFormat::kHtml;
  return Status::InvalidArgument("format '" + format +
                                 "' is not one of txt, md, html (send PDFs' text, or ingest "
                                 "them with 'engram ingest')");
}

// One {"source","text","title"?,"format"?,"tags"?} of an ingest request, parsed.
Result<retrieval::DocumentInput> ReadDocument(const JsonValue& item) {
  retrieval::DocumentInput input;
  ENGRAM_TRY_ASSIGN(input.source, item.StringFieldOr("source", ""));
  ENGRAM_TRY_ASSIGN(const std::string text, item.StringField("text"));
  ENGRAM_TRY_ASSIGN(const std::string title, item.StringFieldOr("title", ""));
  ENGRAM_TRY_ASSIGN(const std::string format_name, item.StringFieldOr("format", "txt"));
  Result<retrieval::DocumentFormat> format = TextFormat(format_name);
  if (!format.ok()) return format.status().WithContext(item.Describe());
  ENGRAM_TRY_ASSIGN(retrieval::ParsedDocument parsed,
                    retrieval::ParseDocument(text, *format, input.source));
  input.text = std::move(parsed.text);
  input.title = title.empty() ? std::move(parsed.title) : title;
  input.format = std::string(retrieval::DocumentFormatName(*format));
  if (item.Has("tags")) {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> tags, item.ArrayField("tags"));
    for (const JsonValue& t : tags) {
      ENGRAM_TRY_ASSIGN(input.tags.emplace_back(), t.String());
    }
  }
  return input;
}

Result<std::vector<retrieval::DocumentInput>> ReadDocuments(const JsonValue& body) {
  ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> items, body.ArrayField("documents"));
  if (items.empty() || items.size() > kMaxDocumentsPerRequest) {
    return Status::InvalidArgument("request body: documents: give 1 to " +
                                   std::to_string(kMaxDocumentsPerRequest) + " documents");
  }
  std::vector<retrieval::DocumentInput> inputs;
  for (const JsonValue& item : items) {
    ENGRAM_TRY_ASSIGN(inputs.emplace_back(), ReadDocument(item));
  }
  return inputs;
}

Result<json> Ingest(const Context& c, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  ENGRAM_TRY_ASSIGN(const auto inputs, ReadDocuments(JsonValue(doc, std::string(kBody))));
  ENGRAM_TRY_ASSIGN(const auto entry, Named(c, request, request.params.at("name")));
  return WithCollection(entry, false, [&](retrieval::Collection& collection) -> Result<json> {
    ENGRAM_TRY_ASSIGN(const auto results, collection.IngestBatch(inputs));
    if (Status st = collection.Flush(); !st.ok()) return st;
    json out = json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      out.push_back({{"id", results[i].id},
                     {"source", inputs[i].source},
                     {"outcome", retrieval::IngestOutcomeName(results[i].outcome)},
                     {"chunks", results[i].chunks}});
    }
    return json{{"results", std::move(out)}};
  });
}

// A search's "rerank" (0: off) and "rerank_weight" fields, checked.
Result<retrieval::RerankOptions> ReadRerankOptions(const JsonValue& body) {
  retrieval::RerankOptions options;
  ENGRAM_TRY_ASSIGN(options.candidates,
                    body.IntFieldOr("rerank", 0, 0, retrieval::kMaxRerankCandidates));
  ENGRAM_TRY_ASSIGN(options.weight, body.NumberFieldOr("rerank_weight", options.weight));
  if (options.candidates == 0) return options;
  if (Status st = retrieval::ValidateRerank(options); !st.ok()) return st;
  return options;
}

// `hits` with their first options.candidates rescored by the collection's language model
// reranker (created on first use; one reranked search at a time per collection).
Result<std::vector<retrieval::SearchHit>> Rerank(const Context& c, CollectionEntry& entry,
                                                 std::string_view query,
                                                 std::vector<retrieval::SearchHit> hits,
                                                 const retrieval::RerankOptions& options) {
  std::lock_guard<std::mutex> lock(entry.rerank_mu);
  if (entry.reranker == nullptr) {
    ENGRAM_TRY_ASSIGN(entry.reranker, inference::LmReranker::Create(*c.services->engine));
  }
  return retrieval::RerankHits(query, std::move(hits), *entry.reranker, options);
}

json HitJson(const retrieval::SearchHit& h, bool reranked) {
  json out = {{"document_id", h.document_id},
              {"source", h.source},
              {"title", h.title},
              {"chunk_id", h.chunk_id},
              {"text", h.text},
              {"begin", h.begin},
              {"end", h.end},
              {"sentence_begin", h.sentence_begin},
              {"sentence_end", h.sentence_end},
              {"score", h.score},
              {"citation", h.Citation()}};
  if (reranked) out["rerank_score"] = h.rerank_score;
  return out;
}

Result<json> Search(const Context& c, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string query, body.StringField("query"));
  retrieval::SearchOptions options;
  ENGRAM_TRY_ASSIGN(options.k, body.IntFieldOr("k", 10, 1, retrieval::kMaxSearchK));
  ENGRAM_TRY_ASSIGN(const std::string mode, body.StringFieldOr("mode", "hybrid"));
  ENGRAM_TRY_ASSIGN(options.mode, retrieval::ParseSearchMode(mode));
  if (Status st = retrieval::ValidateSearch(query, options); !st.ok()) return st;
  ENGRAM_TRY_ASSIGN(const retrieval::RerankOptions rerank, ReadRerankOptions(body));
  const bool reranked = rerank.candidates > 0;
  if (reranked && c.services->engine == nullptr) {
    return Status::Unavailable(
        "this server has no generator model to rerank with (start it with --model, or search "
        "without \"rerank\")");
  }
  const size_t k = static_cast<size_t>(options.k);
  if (reranked) options.k = std::max(options.k, rerank.candidates);
  ENGRAM_TRY_ASSIGN(const auto entry, Named(c, request, request.params.at("name")));
  return WithCollection(entry, false, [&](retrieval::Collection& collection) -> Result<json> {
    ENGRAM_TRY_ASSIGN(std::vector<retrieval::SearchHit> hits, collection.Search(query, options));
    if (reranked) {
      ENGRAM_TRY_ASSIGN(hits, Rerank(c, *entry, query, std::move(hits), rerank));
      if (hits.size() > k) hits.resize(k);
    }
    json out = json::array();
    for (const retrieval::SearchHit& h : hits) out.push_back(HitJson(h, reranked));
    return json{{"results", std::move(out)}};
  });
}

Result<AskOptions> ReadAskOptions(const JsonValue& body, const ServeLimits& limits) {
  AskOptions options;
  ENGRAM_TRY_ASSIGN(const std::string mode, body.StringFieldOr("mode", "auto"));
  ENGRAM_TRY_ASSIGN(options.mode, ParseAskMode(mode));
  ENGRAM_TRY_ASSIGN(options.k, body.IntFieldOr("k", options.k, 1, retrieval::kMaxSearchK));
  ENGRAM_TRY_ASSIGN(options.max_answer_tokens,
                    body.IntFieldOr("max_tokens", limits.default_max_tokens, 1, limits.max_tokens));
  ENGRAM_TRY_ASSIGN(options.compress, body.BoolFieldOr("compress", options.compress));
  if (Status st = ValidateAskOptions(options); !st.ok()) return st;
  return options;
}

Result<json> Qa(const Context& c, const HttpRequest& request) {
  if (c.services->engine == nullptr) {
    return Status::Unavailable("this server has no generator model (start it with --model)");
  }
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string name, body.StringField("collection"));
  ENGRAM_TRY_ASSIGN(const std::string question, body.StringField("question"));
  ENGRAM_TRY_ASSIGN(const AskOptions options, ReadAskOptions(body, c.services->limits));
  ENGRAM_TRY_ASSIGN(const auto entry, Named(c, request, name));
  return WithCollection(entry, false, [&](retrieval::Collection& collection) -> Result<json> {
    std::lock_guard<std::mutex> lock(entry->qa_mu);
    if (entry->qa == nullptr) {
      entry->qa = std::make_unique<QaPipeline>(c.services->engine, &collection, nullptr);
    }
    ENGRAM_TRY_ASSIGN(const Answer answer, entry->qa->Ask(question, options));
    return json(AnswerJson(answer));
  });
}

// A handler over the shared context; 503 when the server has no embedder.
Handler Route(const Context& c, Result<json> (*body)(const Context&, const HttpRequest&)) {
  return internal::JsonHandler([c, body](const HttpRequest& request) -> Result<json> {
    if (c.services->embedder == nullptr) {
      return Status::Unavailable("this server has no embedder for collections");
    }
    return body(c, request);
  });
}

}  // namespace

void AddCollectionRoutes(Router& router, Services& services) {
  const Context c{&services, std::make_shared<CollectionCache>()};
  router.Add("POST", "/v1/collections", Route(c, Create));
  router.Add("GET", "/v1/collections", Route(c, ListAll));
  router.Add("GET", "/v1/collections/{name}", Route(c, Describe));
  router.Add("DELETE", "/v1/collections/{name}", Route(c, Delete));
  router.Add("POST", "/v1/collections/{name}/documents", Route(c, Ingest));
  router.Add("POST", "/v1/collections/{name}/search", Route(c, Search));
  router.Add("POST", "/v1/qa", Route(c, Qa));
}

}  // namespace engram::agent
