// /v1/memory: a Mem0-like memory API over the episodic store (memory/episodic_store.h).
//   POST   /v1/memory                 add {"namespace","text"|"messages",...}
//   GET    /v1/memory?namespace=N     recall (with query=), else list (session= optional)
//   POST   /v1/memory/search          recall with the options in the body
//   DELETE /v1/memory?namespace=N     purge the namespace (with session=: forget one session)
//   GET    /v1/memory/{id}            one memory;   PUT: change it;   DELETE: forget it
//   GET    /v1/memory/{id}/history    its versions, oldest first
// The store namespace is always MemoryNamespace(tenant, client namespace): a client names only
// its own namespaces, and ids (counted per namespace) say nothing about other tenants.
#include <chrono>

#include "agent/internal/route_helpers.h"
#include "agent/server.h"

namespace engram::agent {
namespace {

using internal::JsonHandler;
using json = nlohmann::json;
constexpr std::string_view kBody = "request body";
// The longest namespace the episodic store takes ("t.<tenant>:" included).
constexpr size_t kMaxStoreNamespaceBytes = 128;

// The tenant's store namespace for the client namespace `name`.
Result<std::string> StoreNamespace(const HttpRequest& request, const std::string& name) {
  if (name.empty()) {
    return Status::InvalidArgument("'namespace' is required (the memory namespace to use)");
  }
  if (Status st = ValidateClientName("namespace", name); !st.ok()) return st;
  std::string ns = MemoryNamespace(request.tenant, name);
  if (ns.size() > kMaxStoreNamespaceBytes) {
    return Status::InvalidArgument(
        "namespace '" + name + "' is too long: at most " +
        std::to_string(kMaxStoreNamespaceBytes - (ns.size() - name.size())) + " characters");
  }
  return ns;
}

Result<std::string> NamespaceFromQuery(const HttpRequest& request) {
  return StoreNamespace(request, internal::QueryString(request, "namespace"));
}

Result<std::string> NamespaceFromBody(const HttpRequest& request, const JsonValue& body) {
  ENGRAM_TRY_ASSIGN(const std::string name, body.StringFieldOr("namespace", ""));
  return StoreNamespace(request, name);
}

json EpisodeJson(const memory::Episode& e) {
  json out = {{"id", e.id},
              {"text", e.text},
              {"role", e.role},
              {"session", e.session},
              {"metadata", e.metadata},
              {"importance", e.importance},
              {"version", e.version},
              {"created_at", internal::IsoTime(e.timestamp_ms)},
              {"timestamp_ms", e.timestamp_ms}};
  if (e.expires_ms != 0) out["expires_ms"] = e.expires_ms;
  if (!e.sources.empty()) out["sources"] = e.sources;
  return out;
}

json RecalledJson(const std::vector<memory::RecalledEpisode>& recalled) {
  json results = json::array();
  for (const memory::RecalledEpisode& r : recalled) {
    json item = EpisodeJson(r.episode);
    item["score"] = r.score;
    results.push_back(std::move(item));
  }
  return {{"results", std::move(results)}};
}

// The fields an added episode may carry besides its text (shared by every message of a batch).
Status ReadEpisodeFields(const JsonValue& body, memory::Episode& e) {
  ENGRAM_TRY_ASSIGN(e.session, body.StringFieldOr("session", ""));
  ENGRAM_TRY_ASSIGN(e.role, body.StringFieldOr("role", "user"));
  ENGRAM_TRY_ASSIGN(e.importance, body.NumberFieldOr("importance", 0.5));
  if (body.Has("metadata")) {
    ENGRAM_TRY_ASSIGN(const JsonValue metadata, body.Field("metadata"));
    ENGRAM_TRY_ASSIGN(e.metadata, internal::StringMap(metadata));
  }
  return Status::OK();
}

// The episodes of an add: one from "text", or one per element of "messages".
Result<std::vector<memory::Episode>> EpisodesToAdd(const JsonValue& body) {
  memory::Episode base;
  if (Status st = ReadEpisodeFields(body, base); !st.ok()) return st;
  std::vector<memory::Episode> episodes;
  if (body.Has("messages")) {
    ENGRAM_TRY_ASSIGN(const std::vector<JsonValue> messages, body.ArrayField("messages"));
    for (const JsonValue& m : messages) {
      memory::Episode e = base;
      ENGRAM_TRY_ASSIGN(e.role, m.StringFieldOr("role", base.role));
      ENGRAM_TRY_ASSIGN(e.text, m.StringField("content"));
      episodes.push_back(std::move(e));
    }
    if (episodes.empty()) return Status::InvalidArgument("request body: 'messages' is empty");
  } else {
    ENGRAM_TRY_ASSIGN(base.text, body.StringField("text"));
    episodes.push_back(std::move(base));
  }
  return episodes;
}

Result<json> Add(memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromBody(request, body));
  ENGRAM_TRY_ASSIGN(std::vector<memory::Episode> episodes, EpisodesToAdd(body));
  ENGRAM_TRY_ASSIGN(const std::vector<uint64_t> ids, store.AppendBatch(ns, episodes));
  json results = json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    episodes[i].id = ids[i];
    Result<memory::Episode> stored = store.Get(ns, ids[i]);
    json item = EpisodeJson(stored.ok() ? *stored : episodes[i]);
    item["event"] = "ADD";
    results.push_back(std::move(item));
  }
  return json{{"ids", ids}, {"results", std::move(results)}};
}

Result<json> Recall(const Services& services, const std::string& ns, const std::string& query,
                    const memory::RecallOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ENGRAM_TRY_ASSIGN(const auto recalled, services.memory->Recall(ns, query, options));
  if (services.metrics != nullptr) {
    services.metrics->ObserveRecall(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return RecalledJson(recalled);
}

// Every live episode of the namespace (or of one session), by session then time, up to `limit`.
Result<json> List(const memory::EpisodicStore& store, const std::string& ns,
                  const std::string& session, size_t limit) {
  std::vector<std::string> sessions;
  if (!session.empty()) {
    sessions.push_back(session);
  } else {
    ENGRAM_TRY_ASSIGN(sessions, store.Sessions(ns));
  }
  json results = json::array();
  for (const std::string& s : sessions) {
    if (results.size() >= limit) break;
    memory::ListOptions options;
    options.limit = limit - results.size();
    ENGRAM_TRY_ASSIGN(const memory::EpisodePage page, store.ListSession(ns, s, options));
    for (const memory::Episode& e : page.episodes) results.push_back(EpisodeJson(e));
  }
  return json{{"results", std::move(results)}};
}

Result<json> GetOrList(const Services& services, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromQuery(request));
  const std::string session = internal::QueryString(request, "session");
  if (request.query.count("query") == 0) {
    ENGRAM_TRY_ASSIGN(const int64_t limit,
                      internal::QueryInt(request, "limit", 100, 1, memory::kMaxListLimit));
    return List(*services.memory, ns, session, static_cast<size_t>(limit));
  }
  memory::RecallOptions options;
  ENGRAM_TRY_ASSIGN(options.k, internal::QueryInt(request, "k", 10, 1, memory::kMaxRecallK));
  options.session = session;
  return Recall(services, ns, internal::QueryString(request, "query"), options);
}

// "filters": {"session", "metadata": {...}, "from_ms", "to_ms"}.
Status ReadFilters(const JsonValue& body, memory::RecallOptions& options) {
  if (!body.Has("filters")) return Status::OK();
  ENGRAM_TRY_ASSIGN(const JsonValue filters, body.Field("filters"));
  if (!filters.IsObject()) {
    return Status::InvalidArgument("request body: filters: expected an object");
  }
  ENGRAM_TRY_ASSIGN(options.session, filters.StringFieldOr("session", ""));
  if (filters.Has("metadata")) {
    ENGRAM_TRY_ASSIGN(const JsonValue metadata, filters.Field("metadata"));
    ENGRAM_TRY_ASSIGN(options.metadata, internal::StringMap(metadata));
  }
  ENGRAM_TRY_ASSIGN(options.from_ms, filters.IntFieldOr("from_ms", options.from_ms));
  ENGRAM_TRY_ASSIGN(options.to_ms, filters.IntFieldOr("to_ms", options.to_ms));
  return Status::OK();
}

Result<json> Search(const Services& services, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromBody(request, body));
  ENGRAM_TRY_ASSIGN(const std::string query, body.StringField("query"));
  memory::RecallOptions options;
  ENGRAM_TRY_ASSIGN(options.k, body.IntFieldOr("k", 10, 1, memory::kMaxRecallK));
  if (Status st = ReadFilters(body, options); !st.ok()) return st;
  return Recall(services, ns, query, options);
}

// The store's kNotFound as the route's own message, so it reads the same whatever the cause.
template <typename T>
Result<T> Hidden(Result<T> result, uint64_t id) {
  if (result.ok() || result.status().code() != StatusCode::kNotFound) return result;
  return Status::NotFound("memory '" + std::to_string(id) + "' not found");
}

Result<json> GetOne(const memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromQuery(request));
  ENGRAM_TRY_ASSIGN(const uint64_t id, internal::ParseId("memory", request.params.at("id")));
  ENGRAM_TRY_ASSIGN(const memory::Episode e, Hidden(store.Get(ns, id), id));
  return EpisodeJson(e);
}

Result<memory::EpisodeChanges> ReadChanges(const JsonValue& body) {
  memory::EpisodeChanges changes;
  if (body.Has("text")) {
    ENGRAM_TRY_ASSIGN(changes.text, body.StringField("text"));
  }
  if (body.Has("role")) {
    ENGRAM_TRY_ASSIGN(changes.role, body.StringField("role"));
  }
  if (body.Has("importance")) {
    ENGRAM_TRY_ASSIGN(changes.importance, body.NumberField("importance"));
  }
  if (body.Has("metadata")) {
    ENGRAM_TRY_ASSIGN(const JsonValue metadata, body.Field("metadata"));
    ENGRAM_TRY_ASSIGN(changes.metadata, internal::StringMap(metadata));
  }
  if (!changes.text && !changes.role && !changes.importance && !changes.metadata) {
    return Status::InvalidArgument(
        "request body: nothing to change (give text, role, importance or metadata)");
  }
  return changes;
}

Result<json> Update(memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const json doc, request.JsonBody());
  const JsonValue body(doc, std::string(kBody));
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromBody(request, body));
  ENGRAM_TRY_ASSIGN(const uint64_t id, internal::ParseId("memory", request.params.at("id")));
  ENGRAM_TRY_ASSIGN(const memory::EpisodeChanges changes, ReadChanges(body));
  ENGRAM_TRY_ASSIGN([[maybe_unused]] const uint32_t version,
                    Hidden(store.Update(ns, id, changes), id));
  ENGRAM_TRY_ASSIGN(const memory::Episode e, store.Get(ns, id));
  json out = EpisodeJson(e);
  out["event"] = "UPDATE";
  return out;
}

Result<json> History(const memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromQuery(request));
  ENGRAM_TRY_ASSIGN(const uint64_t id, internal::ParseId("memory", request.params.at("id")));
  ENGRAM_TRY_ASSIGN(const std::vector<memory::Episode> versions, Hidden(store.History(ns, id), id));
  json results = json::array();
  for (const memory::Episode& e : versions) results.push_back(EpisodeJson(e));
  return json{{"id", id}, {"results", std::move(results)}};
}

Result<json> DeleteOne(memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromQuery(request));
  ENGRAM_TRY_ASSIGN(const uint64_t id, internal::ParseId("memory", request.params.at("id")));
  if (Status st = store.Forget(ns, id); !st.ok()) {
    if (st.code() == StatusCode::kNotFound) {
      return Status::NotFound("memory '" + std::to_string(id) + "' not found");
    }
    return st;
  }
  return json{{"id", id}, {"deleted", true}};
}

Result<json> Purge(memory::EpisodicStore& store, const HttpRequest& request) {
  ENGRAM_TRY_ASSIGN(const std::string ns, NamespaceFromQuery(request));
  const std::string session = internal::QueryString(request, "session");
  if (!session.empty()) {
    ENGRAM_TRY_ASSIGN(const uint64_t n, store.ForgetSession(ns, session));
    return json{{"deleted", n}, {"session", session}};
  }
  if (Status st = store.PurgeNamespace(ns); !st.ok()) return st;
  return json{{"purged", true}};
}

// Wraps a memory handler: 503 when the server has no memory store.
Handler MemoryHandler(Services& services,
                      std::function<Result<json>(const Services&, const HttpRequest&)> body) {
  return JsonHandler([&services, body = std::move(body)](const HttpRequest& request) {
    if (services.memory == nullptr) {
      return Result<json>(Status::Unavailable("this server has no memory store"));
    }
    return body(services, request);
  });
}

}  // namespace

void AddMemoryRoutes(Router& router, Services& services) {
  router.Add("POST", "/v1/memory", MemoryHandler(services, [](const Services& s, const auto& r) {
               return Add(*s.memory, r);
             }));
  router.Add("GET", "/v1/memory", MemoryHandler(services, GetOrList));
  router.Add("DELETE", "/v1/memory", MemoryHandler(services, [](const Services& s, const auto& r) {
               return Purge(*s.memory, r);
             }));
  router.Add("POST", "/v1/memory/search", MemoryHandler(services, Search));
  router.Add("GET", "/v1/memory/{id}",
             MemoryHandler(services,
                           [](const Services& s, const auto& r) { return GetOne(*s.memory, r); }));
  router.Add("PUT", "/v1/memory/{id}",
             MemoryHandler(services,
                           [](const Services& s, const auto& r) { return Update(*s.memory, r); }));
  router.Add("DELETE", "/v1/memory/{id}",
             MemoryHandler(services, [](const Services& s, const auto& r) {
               return DeleteOne(*s.memory, r);
             }));
  router.Add("GET", "/v1/memory/{id}/history",
             MemoryHandler(services,
                           [](const Services& s, const auto& r) { return History(*s.memory, r); }));
}

}  // namespace engram::agent
