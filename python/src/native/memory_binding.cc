// engram._engram._Store: memory::EpisodicStore for the Python layer (engram/memory.py), which
// checks and shapes arguments; this file converts them, runs the store with the GIL released and
// turns results into dicts.
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "closable.h"
#include "errors.h"
#include "inference/bert_embedder.h"
#include "memory/episodic_store.h"
#include "values.h"

namespace nb = nanobind;

namespace engram::python {
namespace {

using Metadata = std::map<std::string, std::string>;
// One episode to append: session, role, text, metadata, importance, timestamp_ms, expires_ms.
using EpisodeIn =
    std::tuple<std::string, std::string, std::string, Metadata, double, int64_t, int64_t>;

memory::Episode ToEpisode(EpisodeIn&& in) {
  memory::Episode e;
  auto& [session, role, text, metadata, importance, timestamp_ms, expires_ms] = in;
  e.session = std::move(session);
  e.role = std::move(role);
  e.text = std::move(text);
  e.metadata = std::move(metadata);
  e.importance = importance;
  e.timestamp_ms = timestamp_ms;
  e.expires_ms = expires_ms;
  return e;
}

// Recall weights by their Python names; an unknown name is refused, not ignored.
void ApplyWeights(const std::map<std::string, double>& weights, memory::RecallOptions& o) {
  const std::map<std::string, double*> fields = {{"relevance", &o.relevance_weight},
                                                 {"bm25", &o.bm25_weight},
                                                 {"recency", &o.recency_weight},
                                                 {"importance", &o.importance_weight},
                                                 {"half_life_hours", &o.half_life_hours},
                                                 {"feedback", &o.feedback_weight},
                                                 {"dense_feedback", &o.dense_feedback_weight},
                                                 {"role", &o.role_weight}};
  for (const auto& [name, value] : weights) {
    const auto it = fields.find(name);
    if (it == fields.end()) {
      Throw(Status::InvalidArgument("weights: unknown key '" + name +
                                    "' (relevance, bm25, recency, importance, half_life_hours, "
                                    "feedback, dense_feedback, role)"));
    }
    *it->second = value;
  }
}

// At most `limit` live episodes of one session, oldest first, across pages.
std::vector<memory::Episode> ListUpTo(const memory::EpisodicStore& s, const std::string& ns,
                                      const std::string& session, size_t limit) {
  std::vector<memory::Episode> out;
  memory::ListOptions options;
  while (out.size() < limit) {
    options.limit = std::min(limit - out.size(), memory::kMaxListLimit);
    memory::EpisodePage page = Unwrap(s.ListSession(ns, session, options));
    for (memory::Episode& e : page.episodes) out.push_back(std::move(e));
    if (page.next_page_token.empty()) break;
    options.page_token = std::move(page.next_page_token);
  }
  return out;
}

PyDictList EpisodeList(const std::vector<memory::Episode>& episodes) {
  PyDictList out;
  for (const memory::Episode& e : episodes) out.append(EpisodeDict(e));
  return out;
}

// A Python callable as a memory::Summarizer. It runs on the store's calling thread with the GIL
// taken back; an exception it raises is kept in `raised` (rethrown by the caller once the store
// returns) and stops consolidation with kCancelled. `summarize` is borrowed (the caller's
// argument keeps it alive), so copies of the Summarizer made without the GIL touch no reference
// counts.
memory::Summarizer PythonSummarizer(nb::handle summarize, std::exception_ptr& raised) {
  return [summarize, &raised](std::span<const memory::Episode> episodes) -> Result<std::string> {
    nb::gil_scoped_acquire acquire;
    try {
      nb::list batch;
      for (const memory::Episode& e : episodes) batch.append(EpisodeDict(e));
      nb::object text = summarize(batch);
      if (!nb::isinstance<nb::str>(text)) {
        throw nb::type_error(
            ("summarize must return str, not " + std::string(nb::type_name(text.type()).c_str()))
                .c_str());
      }
      Py_ssize_t size = 0;
      const char* utf8 = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
      if (utf8 == nullptr) {
        PyErr_Clear();
        return Status::InvalidArgument("summarize returned text that is not valid UTF-8");
      }
      return std::string(utf8, static_cast<size_t>(size));
    } catch (...) {
      raised = std::current_exception();
      return Status::Cancelled("summarize raised an exception");
    }
  };
}

class Store {
 public:
  Store(const std::string& path, const std::optional<std::string>& embedder, int dim, bool sync,
        const std::string& precision)
      : path_(path), store_("memory store '" + path + "'") {
    nb::gil_scoped_release release;
    memory::StoreOptions options;
    options.sync = sync;
    std::unique_ptr<inference::BertEmbedder> model;
    if (dim > 0) {
      options.dim = dim;
    } else {
      model = Unwrap(inference::BertEmbedder::OpenOrDefault(
          embedder.value_or(""), {.precision = Unwrap(inference::ParseEmbedPrecision(precision))}));
      options.embedder = model.get();
    }
    std::unique_ptr<memory::EpisodicStore> store = Unwrap(memory::EpisodicStore::Open(path, options));
    dim_ = dim > 0 ? dim : model->Dim();
    if (model) embedder_name_ = std::string(model->Name());
    store_.Hold(std::move(model), std::move(store));
  }

  std::vector<uint64_t> Append(const std::string& ns, std::vector<EpisodeIn> items,
                               nb::handle vectors) {
    std::vector<memory::Episode> episodes;
    episodes.reserve(items.size());
    for (EpisodeIn& in : items) episodes.push_back(ToEpisode(std::move(in)));
    if (!vectors.is_none()) {
      std::vector<std::vector<float>> rows = ReadRows(vectors, episodes.size(), dim_, "vectors");
      for (size_t i = 0; i < rows.size(); ++i) episodes[i].embedding = std::move(rows[i]);
    }
    return store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.AppendBatch(ns, episodes)); });
  }

  PyDictList Search(const std::string& ns, const std::string& query, int k,
                    const std::optional<std::string>& session, const Metadata& filters,
                    nb::handle vector, const std::map<std::string, double>& weights,
                    std::optional<int64_t> from_ms, std::optional<int64_t> to_ms) {
    memory::RecallOptions o;
    o.k = k;
    o.session = session.value_or("");
    o.metadata = filters;
    ApplyWeights(weights, o);
    if (from_ms) o.from_ms = *from_ms;
    if (to_ms) o.to_ms = *to_ms;
    if (!vector.is_none()) o.query_embedding = std::move(ReadRows(vector, 1, dim_, "vector")[0]);
    const std::vector<memory::RecalledEpisode> hits =
        store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.Recall(ns, query, o)); });
    PyDictList out;
    for (const memory::RecalledEpisode& h : hits) out.append(RecalledDict(h));
    return out;
  }

  PyOptionalDict Get(const std::string& ns, uint64_t id) {
    Result<memory::Episode> e = store_.Run([&](memory::EpisodicStore& s) { return s.Get(ns, id); });
    if (!e.ok() && e.status().code() == StatusCode::kNotFound) {
      return nb::borrow<PyOptionalDict>(nb::none());
    }
    return nb::borrow<PyOptionalDict>(EpisodeDict(Unwrap(std::move(e))));
  }

  // Live episodes oldest first: one session's, or every session's merged by time.
  PyDictList List(const std::string& ns, const std::optional<std::string>& session, size_t limit) {
    const std::vector<memory::Episode> episodes = store_.Run([&](memory::EpisodicStore& s) {
      if (session) return ListUpTo(s, ns, *session, limit);
      std::vector<memory::Episode> all;
      for (const std::string& name : Unwrap(s.Sessions(ns))) {
        for (memory::Episode& e : ListUpTo(s, ns, name, limit)) all.push_back(std::move(e));
      }
      std::sort(all.begin(), all.end(), [](const memory::Episode& a, const memory::Episode& b) {
        return std::tie(a.timestamp_ms, a.id) < std::tie(b.timestamp_ms, b.id);
      });
      if (all.size() > limit) all.resize(limit);
      return all;
    });
    return EpisodeList(episodes);
  }

  uint32_t Update(const std::string& ns, uint64_t id, std::optional<std::string> text,
                  std::optional<std::string> role, std::optional<Metadata> metadata,
                  std::optional<double> importance, nb::handle vector) {
    memory::EpisodeChanges changes;
    changes.text = std::move(text);
    changes.role = std::move(role);
    changes.metadata = std::move(metadata);
    changes.importance = importance;
    if (!vector.is_none()) changes.embedding = std::move(ReadRows(vector, 1, dim_, "vector")[0]);
    return store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.Update(ns, id, changes)); });
  }

  PyDictList History(const std::string& ns, uint64_t id) {
    return EpisodeList(store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.History(ns, id)); }));
  }

  void Forget(const std::string& ns, const std::vector<uint64_t>& ids) {
    store_.Run([&](memory::EpisodicStore& s) { Check(s.Forget(ns, std::span<const uint64_t>(ids))); });
  }

  uint64_t ForgetSession(const std::string& ns, const std::string& session) {
    return store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.ForgetSession(ns, session)); });
  }

  // Removes the whole namespace; returns how many live episodes it held.
  uint64_t Purge(const std::string& ns) {
    return store_.Run([&](memory::EpisodicStore& s) {
      Result<memory::StoreStats> stats = s.Stats(ns);
      Check(s.PurgeNamespace(ns));
      return stats.ok() ? stats->episodes : 0;
    });
  }

  uint64_t Consolidate(const std::string& ns, const std::string& session,
                       nb::typed<nb::callable, nb::str(PyDictList)> summarize, size_t keep_recent,
                       size_t min_span) {
    std::exception_ptr raised;
    const memory::Summarizer summarizer = PythonSummarizer(summarize, raised);
    Result<uint64_t> id = store_.Run([&](memory::EpisodicStore& s) {
      return s.Consolidate(ns, session, summarizer,
                           {.keep_recent = keep_recent, .min_span = min_span});
    });
    if (raised) std::rethrow_exception(raised);
    return Unwrap(std::move(id));
  }

  std::vector<std::string> Namespaces() {
    return store_.Run([&](memory::EpisodicStore& s) { return s.Namespaces(); });
  }

  std::vector<std::string> Sessions(const std::string& ns) {
    return store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.Sessions(ns)); });
  }

  nb::typed<nb::dict, nb::str, nb::object> Stats(const std::optional<std::string>& ns) {
    const memory::StoreStats st =
        store_.Run([&](memory::EpisodicStore& s) { return Unwrap(s.Stats(ns.value_or(""))); });
    nb::typed<nb::dict, nb::str, nb::object> d;
    d["namespaces"] = st.namespaces;
    d["episodes"] = st.episodes;
    d["index_vectors"] = st.index_vectors;
    d["disk_bytes"] = st.disk_bytes;
    d["index_context_turns"] = st.index_context_turns;
    d["index_date"] = st.index_date;
    d["stemming"] = std::string(retrieval::StemmingName(st.stemming));
    return d;
  }

  void Flush() {
    store_.Run([&](memory::EpisodicStore& s) { Check(s.Flush()); });
  }

  void Checkpoint(const std::string& dir) {
    store_.Run([&](memory::EpisodicStore& s) { Check(s.Checkpoint(dir)); });
  }

  // Waits for calls in flight, then closes the database (saving the vector indexes).
  void Close() { store_.Close(); }
  bool closed() const { return store_.closed(); }
  const std::string& path() const { return path_; }
  int dim() const { return dim_; }
  const std::string& embedder_name() const { return embedder_name_; }

 private:
  std::string path_;
  int dim_ = 0;
  std::string embedder_name_;                          // empty without an embedder
  Closable<memory::EpisodicStore> store_;
};

}  // namespace

void BindMemory(nb::module_& m) {
  using nb::arg;
  nb::class_<Store>(m, "_Store",
                    "The native episodic store behind engram.Memory (arguments checked there).")
      .def(nb::init<const std::string&, const std::optional<std::string>&, int, bool,
                    const std::string&>(),
           arg("path"), arg("embedder").none(), arg("dim"), arg("sync"), arg("precision"),
           "Opens (creating when missing) the store at `path` with the default embedder, the "
           "embedder at `embedder`, or none when `dim` > 0.")
      .def("append", &Store::Append, arg("namespace"), arg("episodes"), arg("vectors").none(),
           "Appends (session, role, text, metadata, importance, timestamp_ms, expires_ms) "
           "tuples in one atomic batch; returns their ids in order.")
      .def("search", &Store::Search, arg("namespace"), arg("query"), arg("k"),
           arg("session").none(), arg("filters"), arg("vector").none(), arg("weights"),
           arg("from_ms").none(), arg("to_ms").none(),
           "The best k episodes for `query` as dicts, best first.")
      .def("get", &Store::Get, arg("namespace"), arg("id"),
           "The episode `id` as a dict, or None when it is not a live episode of `namespace`.")
      .def("list_episodes", &Store::List, arg("namespace"), arg("session").none(), arg("limit"),
           "At most `limit` live episodes, oldest first.")
      .def("update", &Store::Update, arg("namespace"), arg("id"), arg("text").none(),
           arg("role").none(), arg("metadata").none(), arg("importance").none(),
           arg("vector").none(), "Changes an episode; returns its new version.")
      .def("history", &Store::History, arg("namespace"), arg("id"),
           "Every version of an episode, oldest first.")
      .def("forget", &Store::Forget, arg("namespace"), arg("ids"),
           "Removes the episodes `ids` in one atomic write (all, or none when one is missing).")
      .def("forget_session", &Store::ForgetSession, arg("namespace"), arg("session"),
           "Removes a session's episodes; returns how many.")
      .def("purge", &Store::Purge, arg("namespace"),
           "Removes a whole namespace; returns how many episodes it held.")
      .def("consolidate", &Store::Consolidate, arg("namespace"), arg("session"), arg("summarize"),
           arg("keep_recent"), arg("min_span"),
           "Replaces old episodes of a session by summarize(episodes); returns the summary's id "
           "or 0.")
      .def("namespaces", &Store::Namespaces, "The namespaces that hold episodes, sorted.")
      .def("sessions", &Store::Sessions, arg("namespace"),
           "The sessions of a namespace that hold live episodes, sorted.")
      .def("stats", &Store::Stats, arg("namespace").none(),
           "Counts for the whole store (None) or one namespace.")
      .def("flush", &Store::Flush, "Saves the vector indexes and flushes the memtables.")
      .def("checkpoint", &Store::Checkpoint, arg("dir"),
           "A consistent copy of the store in `dir` (must not exist).")
      .def("close", &Store::Close, "Closes the store; later calls raise engram.Error.")
      .def_prop_ro("closed", &Store::closed, "Whether close() was called.")
      .def_prop_ro("path", &Store::path, "The store's directory.")
      .def_prop_ro("dim", &Store::dim, "The embedding dimension.")
      .def_prop_ro("embedder_name", &Store::embedder_name,
                   "The embedder's name; empty without one.");
}

}  // namespace engram::python
