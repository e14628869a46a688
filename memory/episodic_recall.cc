// Recall: a namespace's episodes ranked by relevance, BM25, recency and importance (the file
// comment of memory/episodic_store.h), over the union of the vector index's and the BM25
// index's candidates; every candidate gets every component exactly.
#include <rocksdb/db.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "memory/episodic_store.h"
#include "memory/internal/checks.h"
#include "memory/internal/episodic_state.h"
#include "memory/internal/layout.h"
#include "retrieval/fusion.h"

namespace engram::memory {
namespace {

using namespace internal;

// Whether every word of each role is among the query's words, by role id.
std::vector<bool> NamedRoles(const NsState& n, std::string_view query) {
  std::vector<std::string> words = retrieval::Bm25Terms(query);
  std::sort(words.begin(), words.end());
  std::vector<bool> named;
  for (const std::vector<std::string>& role : n.roles) {
    named.push_back(!role.empty() && std::all_of(role.begin(), role.end(), [&](const auto& w) {
      return std::binary_search(words.begin(), words.end(), w);
    }));
  }
  return named;
}

// Whether pseudo-relevance feedback runs: asked for, and the feedback hits a small part of the
// namespace (at most a quarter). In a namespace of a few episodes they are all of it, so their
// "relevance model" is just its vocabulary, and with index texts that overlap, the terms it
// would add are those of whichever turn has the most words of its own.
bool FeedbackApplies(const NsState& n, const RecallOptions& options) {
  return options.feedback_terms > 0 &&
         n.info.size() >= 4 * static_cast<size_t>(options.feedback_episodes);
}

// The weighted score of every candidate, with its recency.
void ScoreCandidates(const NsState& n, const RecallOptions& options, std::string_view query,
                     int64_t now, double best_bm25, std::vector<RecalledEpisode>& out) {
  const double half_life_ms = options.half_life_hours * 3600e3;
  const std::vector<bool> named = NamedRoles(n, query);
  for (RecalledEpisode& r : out) {
    const EpisodeInfo& i = n.info.at(r.episode.id);
    const double age = std::max<double>(0.0, static_cast<double>(now - i.timestamp_ms));
    r.recency = std::pow(0.5, age / half_life_ms);
    r.role_named = named[i.role];
    r.score = options.relevance_weight * r.relevance +
              (best_bm25 > 0.0 ? options.bm25_weight * r.bm25 / best_bm25 : 0.0) +
              options.recency_weight * r.recency + options.importance_weight * i.importance +
              (r.role_named ? options.role_weight : 0.0);
  }
}

}  // namespace

Result<double> EpisodicStore::State::MeanIdf(std::string_view ns, const NsState& n) const {
  std::lock_guard lock(n.idf_mu);
  if (n.mean_idf) return *n.mean_idf;
  ENGRAM_TRY_ASSIGN(const double mean, Bm25(ns).MeanIdf(static_cast<int64_t>(n.info.size())));
  n.mean_idf = mean;
  return mean;
}

Result<std::vector<double>> EpisodicStore::State::Cosines(std::string_view ns,
                                                          std::span<const uint64_t> ids,
                                                          std::span<const float> query) const {
  std::vector<double> out;
  out.reserve(ids.size());
  std::string value;
  for (uint64_t id : ids) {
    const rocksdb::Status st = db->Get({}, cf[kEmbeddings], IdKey(ns, id), &value);
    if (!st.ok()) return FromRocks(st, "reading the embedding of episode " + std::to_string(id));
    const std::vector<float> v = DecodeFloats(value);
    double dot = 0.0;
    for (size_t d = 0; d < v.size() && d < query.size(); ++d) dot += v[d] * query[d];
    out.push_back(dot);
  }
  return out;
}

Result<std::vector<std::string>> EpisodicStore::State::IndexTermsOf(std::string_view ns,
                                                                    const NsState& n,
                                                                    uint64_t id) const {
  auto found = n.info.find(id);
  if (found == n.info.end()) return std::vector<std::string>();  // written after this recall began
  const EpisodeInfo& info = found->second;
  const std::set<TurnKey>& turns = n.session_turns[info.session];
  auto it = turns.find({info.timestamp_ms, id});
  std::vector<std::string> before;
  for (int i = 0; i < index_text.context_turns && it != turns.begin(); ++i) {
    --it;
    ENGRAM_TRY_ASSIGN(const std::optional<Episode> e, ReadEpisode(ns, it->second));
    if (e) before.insert(before.begin(), e->text);
  }
  ENGRAM_TRY_ASSIGN(const std::optional<Episode> e, ReadEpisode(ns, id));
  if (!e) return std::vector<std::string>();
  return IndexTerms(index_text, info.timestamp_ms, before, e->text);
}

Result<retrieval::Bm25Query> EpisodicStore::State::ExpandQuery(
    std::string_view ns, const NsState& n, const retrieval::Bm25Index& index,
    const retrieval::Bm25Query& q, std::span<const retrieval::RankedItem> top,
    const RecallOptions& options) const {
  // The relevance model: P(t | R) = sum over feedback hits d of P(d) * tf(t, d) / |d|, with
  // P(d) the hit's share of the feedback hits' scores.
  const size_t hits = std::min(top.size(), static_cast<size_t>(options.feedback_episodes));
  double total = 0.0;
  for (size_t i = 0; i < hits; ++i) total += std::max(top[i].score, 0.0);
  if (total <= 0.0) return q;
  std::map<std::string, double> model;
  std::vector<std::string> feedback_terms;  // the hits' terms
  for (size_t i = 0; i < hits; ++i) {
    ENGRAM_TRY_ASSIGN(const std::vector<std::string> terms, IndexTermsOf(ns, n, top[i].id));
    for (const std::string& t : terms) {
      model[t] += std::max(top[i].score, 0.0) / total / static_cast<double>(terms.size());
    }
    feedback_terms.insert(feedback_terms.end(), terms.begin(), terms.end());
  }
  // The feedback terms' idf, as the query's (terms the index lacks drop out).
  ENGRAM_TRY_ASSIGN(const retrieval::Bm25Query known, index.PrepareTerms(feedback_terms, q.stats));
  std::vector<std::pair<double, const retrieval::Bm25Query::Term*>> ranked;
  for (const retrieval::Bm25Query::Term& t : known.terms) {
    if (t.idf > 0.0) ranked.push_back({model[t.term] * t.idf, &t});
  }
  const size_t keep = std::min(ranked.size(), static_cast<size_t>(options.feedback_terms));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep),
                    ranked.end(), [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second->term < b.second->term;
                    });
  ranked.resize(keep);
  double own = 0.0, expansion = 0.0;
  for (const retrieval::Bm25Query::Term& t : q.terms) own += t.weight;
  for (const auto& [score, t] : ranked) expansion += score;
  if (expansion <= 0.0) return q;
  retrieval::Bm25Query out = q;
  for (const auto& [score, t] : ranked) {
    const double weight = options.feedback_weight * std::max(own, 1.0) * score / expansion;
    auto it = std::find_if(out.terms.begin(), out.terms.end(),
                           [&](const retrieval::Bm25Query::Term& u) { return u.term == t->term; });
    if (it != out.terms.end()) {
      it->weight += weight;
    } else {
      out.terms.push_back({t->term, weight, t->idf});
    }
  }
  std::sort(out.terms.begin(), out.terms.end(),
            [](const retrieval::Bm25Query::Term& a, const retrieval::Bm25Query::Term& b) {
              return a.idf != b.idf ? a.idf > b.idf : a.term < b.term;
            });
  return out;
}

Result<std::vector<float>> EpisodicStore::State::FeedbackVector(
    std::string_view ns, std::span<const float> query, std::span<const retrieval::RankedItem> top,
    const RecallOptions& options) const {
  std::vector<double> sum(query.begin(), query.end());
  const size_t hits = std::min(top.size(), static_cast<size_t>(options.feedback_episodes));
  std::string value;
  for (size_t i = 0; i < hits; ++i) {
    const rocksdb::Status st = db->Get({}, cf[kEmbeddings], IdKey(ns, top[i].id), &value);
    if (st.IsNotFound()) continue;  // written after this recall began
    if (!st.ok())
      return FromRocks(st, "reading the embedding of episode " + std::to_string(top[i].id));
    const std::vector<float> v = DecodeFloats(value);
    for (size_t d = 0; d < v.size() && d < sum.size(); ++d) {
      sum[d] += options.dense_feedback_weight * v[d] / static_cast<double>(hits);
    }
  }
  double norm = 0.0;
  for (double x : sum) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> out(query.begin(), query.end());
  if (norm > 0.0) {
    for (size_t d = 0; d < out.size(); ++d) out[d] = static_cast<float>(sum[d] / norm);
  }
  return out;
}

Status EpisodicStore::State::KeepBest(std::string_view ns, size_t k,
                                      std::vector<RecalledEpisode>& out) const {
  std::sort(out.begin(), out.end(), [](const RecalledEpisode& a, const RecalledEpisode& b) {
    return a.score != b.score ? a.score > b.score : a.episode.id < b.episode.id;
  });
  if (out.size() > k) out.resize(k);
  for (RecalledEpisode& r : out) {
    Result<std::optional<Episode>> e = ReadEpisode(ns, r.episode.id);
    if (!e.ok()) return e.status();
    if (*e) r.episode = std::move(**e);
  }
  return Status::OK();
}

Result<std::vector<RecalledEpisode>> EpisodicStore::State::RecallCandidates(
    std::string_view ns, const NsState& n, std::string_view query,
    std::span<const float> query_vector, const RecallOptions& options, size_t candidates,
    const std::function<bool(uint64_t)>& allowed, bool filtered) const {
  std::unordered_map<uint64_t, double> relevance, bm25;
  // BM25 over the namespace's episodes (rank-bm25's Okapi, as the collections use), first: its
  // best hits can steer the dense query (dense_feedback_weight).
  const retrieval::Bm25Index index = Bm25(ns);
  retrieval::Bm25Query q;
  std::vector<float> dense_query(query_vector.begin(), query_vector.end());
  if (options.bm25_weight != 0.0) {
    retrieval::Bm25Stats stats;
    stats.documents = static_cast<int64_t>(n.info.size());
    stats.average_length = static_cast<double>(n.total_terms) / static_cast<double>(n.info.size());
    ENGRAM_TRY_ASSIGN(stats.mean_idf, MeanIdf(ns, n));
    ENGRAM_TRY_ASSIGN(q, index.Prepare(query, stats));
    ENGRAM_TRY_ASSIGN(std::vector<retrieval::RankedItem> top,
                      index.TopN(q, candidates, filtered ? &allowed : nullptr));
    if (FeedbackApplies(n, options) && !top.empty()) {
      ENGRAM_TRY_ASSIGN(q, ExpandQuery(ns, n, index, q, top, options));
      ENGRAM_TRY_ASSIGN(top, index.TopN(q, candidates, filtered ? &allowed : nullptr));
    }
    for (const retrieval::RankedItem& r : top) bm25[r.id] = r.score;
    if (options.relevance_weight != 0.0 && options.dense_feedback_weight > 0.0 && !top.empty()) {
      ENGRAM_TRY_ASSIGN(dense_query, FeedbackVector(ns, query_vector, top, options));
    }
  }
  if (options.relevance_weight != 0.0) {
    const std::function<bool(int64_t)> allow = [&](int64_t id) {
      return allowed(static_cast<uint64_t>(id));
    };
    Result<std::vector<retrieval::VectorHit>> hits =
        n.index->Search(dense_query, static_cast<int>(candidates), filtered ? &allow : nullptr);
    if (!hits.ok()) return hits.status();
    for (const retrieval::VectorHit& h : *hits) relevance[static_cast<uint64_t>(h.id)] = h.score;
  }
  std::vector<uint64_t> ids;
  for (const auto& [id, v] : relevance) ids.push_back(id);
  for (const auto& [id, v] : bm25) ids.push_back(id);
  if (options.relevance_weight == 0.0 && options.bm25_weight == 0.0) {
    for (const auto& [id, info] : n.info) {  // recency / importance only: every allowed episode
      if (allowed(id)) ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::erase_if(ids, [&](uint64_t id) { return !n.info.count(id); });
  // Every candidate gets every component: the ones a side did not propose are computed.
  std::vector<uint64_t> need_cosine, need_bm25;
  for (uint64_t id : ids) {
    if (options.relevance_weight != 0.0 && !relevance.count(id)) need_cosine.push_back(id);
    if (options.bm25_weight != 0.0 && !bm25.count(id)) need_bm25.push_back(id);
  }
  ENGRAM_TRY_ASSIGN(const std::vector<double> cosines, Cosines(ns, need_cosine, dense_query));
  for (size_t i = 0; i < need_cosine.size(); ++i) relevance[need_cosine[i]] = cosines[i];
  ENGRAM_TRY_ASSIGN(const std::vector<double> scores, index.Score(q, need_bm25));
  for (size_t i = 0; i < need_bm25.size(); ++i) bm25[need_bm25[i]] = scores[i];
  std::vector<RecalledEpisode> out;
  out.reserve(ids.size());
  for (uint64_t id : ids) {
    RecalledEpisode r;
    r.episode.id = id;
    if (auto it = relevance.find(id); it != relevance.end()) r.relevance = it->second;
    if (auto it = bm25.find(id); it != bm25.end()) r.bm25 = it->second;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<RecalledEpisode>> EpisodicStore::Recall(std::string_view ns,
                                                           std::string_view query,
                                                           const RecallOptions& options) const {
  const State& s = *s_;
  if (Status st = ValidateNamespace(ns); !st.ok()) return st;
  if (Status st = internal::CheckRecallOptions(options); !st.ok()) return st;
  // Embed before taking the lock (the embedder is the slow part).
  std::vector<float> query_vector;
  if (options.relevance_weight != 0.0) {
    Result<std::vector<float>> q = s.EmbeddingFor(std::string(query), options.query_embedding);
    if (!q.ok()) return q.status();
    query_vector = std::move(*q);
  }
  std::shared_lock lock(s.mu);
  const NsState* found = s.Find(ns);
  if (found == nullptr || found->info.empty()) return std::vector<RecalledEpisode>();
  const NsState& n = *found;
  const int64_t now = options.now_ms != 0 ? options.now_ms : retrieval::WallClockMs();
  const size_t candidates = options.candidates > 0
                                ? static_cast<size_t>(options.candidates)
                                : std::max<size_t>(4 * static_cast<size_t>(options.k), 50);

  std::optional<uint32_t> session;
  if (!options.session.empty()) {
    auto it = n.session_index.find(options.session);
    if (it == n.session_index.end()) return std::vector<RecalledEpisode>();
    session = it->second;
  }
  const bool filtered = session || options.from_ms != std::numeric_limits<int64_t>::min() ||
                        options.to_ms != std::numeric_limits<int64_t>::max() ||
                        !options.metadata.empty() || n.with_ttl > 0;
  const std::function<bool(uint64_t)> allowed = [&](uint64_t id) {
    auto it = n.info.find(id);
    if (it == n.info.end()) return false;
    const EpisodeInfo& i = it->second;
    if (Expired(i, now) || (session && i.session != *session) || i.timestamp_ms < options.from_ms ||
        i.timestamp_ms > options.to_ms) {
      return false;
    }
    for (const auto& [key, value] : options.metadata) {
      auto m = i.metadata.find(key);
      if (m == i.metadata.end() || m->second != value) return false;
    }
    return true;
  };
  ENGRAM_TRY_ASSIGN(
      std::vector<RecalledEpisode> out,
      s.RecallCandidates(ns, n, query, query_vector, options, candidates, allowed, filtered));
  double best_bm25 = 0.0;
  for (const RecalledEpisode& r : out) best_bm25 = std::max(best_bm25, r.bm25);
  ScoreCandidates(n, options, query, now, best_bm25, out);
  if (Status st = s.KeepBest(ns, static_cast<size_t>(options.k), out); !st.ok()) return st;
  return out;
}

}  // namespace engram::memory
