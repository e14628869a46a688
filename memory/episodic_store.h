// EpisodicStore: a persistent, crash-safe, multi-tenant memory of conversation turns.
//
//   memory::StoreOptions options;
//   options.embedder = &embedder;                 // or options.dim, and pass embeddings in
//   auto store = memory::EpisodicStore::Open("/var/lib/app/memory", options);
//   if (!store.ok()) return store.status();
//   memory::Episode e;
//   e.session = "2026-11-28";  e.role = "user";  e.text = "My sister Ana lives in Porto.";
//   Result<uint64_t> id = (*store)->Append("user-42", e);       // durable when it returns
//   auto recalled = (*store)->Recall("user-42", "where does Ana live?", {.k = 5});
//   // (*recalled)[0].episode.text == "My sister Ana lives in Porto."
//
// Namespaces are hard walls: every call names one, and nothing it does reads, counts, returns or
// changes another namespace's data (keys carry the namespace as a prefix; each namespace has its
// own vector index and BM25 statistics). Use one namespace per user or tenant.
//
// Recall ranks a namespace's episodes by
//   relevance_weight  · cosine(query, episode)
// + bm25_weight       · BM25(query, episode) / the best BM25 among the candidates
// + recency_weight    · 0.5 ^ (age / half_life)
// + importance_weight · importance
// + role_weight       · [the query names the episode's role]
// over the union of the top candidates by vector similarity and by BM25 (a component whose
// weight is 0 adds no candidates); every candidate gets every component exactly. BM25 there is
// over each episode's index text (its session date and the turns before it, StoreOptions) for
// the query expanded by pseudo-relevance feedback; the embedding is of the episode's text
// (EmbeddingText). RecallOptions documents each.
//
// Ids are per namespace: each namespace counts its own ids from 1 (a counter that survives
// PurgeNamespace, so an id is never reused within a namespace), so the ids one namespace sees
// say nothing about another's writes.
//
// Durability: with StoreOptions::sync (the default) a write is in the fsynced RocksDB log when the
// call returns, so it survives a crash or power loss. The vector index of each namespace is
// saved beside the database, sealed with the store's random identity, the namespace and its
// write generation; on Open an index that is missing, damaged, behind, or sealed for another
// store or namespace (a copied file) is rebuilt from the stored embeddings (the index is a
// cache; the database is the truth), never trusted.
//
// A damaged store (db/CURRENT or a MANIFEST missing, unreadable database files) is reported as
// kCorruption "memory store '<path>' is damaged (...)" and not written to; a directory that
// holds something else is kInvalidArgument "not an engram memory store".
//
// Checked values: every numeric field the API takes (times, importance, recall weights, k,
// half-life, list limits) is checked where it enters; NaN, infinities and out-of-range values
// are kInvalidArgument naming the field and its range (the constants below).
//
// Thread safety: any number of concurrent readers (Get, ListSession, Recall, History, Stats) with
// writers; writes are serialised internally.
//
// Storage (RocksDB column families; keys start with "<namespace>\0"):
//   default     "format" ("engram-memory 5"), "embedder", "store_id" (32 random hex digits),
//               "index_text" (the index text's context turns, date and stemming, JSON),
//               "next_id/<ns>" (the namespace's id counter, big-endian u64),
//               "ns/<ns>" (per-namespace statistics and write generation, JSON)
//   episodes    <ns>\0<id>                      -> the episode (JSON, without its embedding)
//   sessions    <ns>\0<session>\0<time><id>     -> "" (session/time index)
//   embeddings  <ns>\0<id>                      -> float32 × dim
//   versions    <ns>\0<id><version>             -> an earlier version (JSON)
//   postings    <ns>\0<term>\0<first id>        -> a segment of up to 128 postings (BM25 of
//                                                  each episode's index text, StoreOptions)
//   terms       <ns>\0<term>                    -> document frequency
// (postings and terms are one retrieval::Bm25Index per namespace) and index/<ns>.vindex
// (retrieval/vector_index.h; its sequence is the seal described above). A store of format
// "engram-memory 4" (terms never stemmed) is read and written as it is. Open upgrades a store of
// format "engram-memory 3" (BM25 over each turn's text alone) in place, re-indexing BM25 with
// the index text StoreOptions gives; another format version is refused (kNotSupported, naming
// both versions).
// docs/formats/episodic_store.md has the details.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "retrieval/bm25.h"
#include "retrieval/embedder.h"
#include "retrieval/vector_index.h"

namespace engram::memory {

// The largest episode text Append and Update accept.
inline constexpr size_t kMaxEpisodeTextBytes = 1 << 20;
// Times (timestamps, expiries, recall and list ranges, `now`): Unix epoch milliseconds from
// 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. (0 means "now" or "never" where said.)
inline constexpr int64_t kMinTimeMs = 0;
inline constexpr int64_t kMaxTimeMs = 253402300799999;
// RecallOptions::k and ::candidates, ListOptions::limit: at most this many.
inline constexpr int kMaxRecallK = 10000;
inline constexpr int kMaxRecallCandidates = 100000;
inline constexpr size_t kMaxListLimit = 10000;
// Recall weights: finite, in [0, kMaxRecallWeight].
inline constexpr double kMaxRecallWeight = 1e6;
// StoreOptions::index_context_turns: at most this many.
inline constexpr int kMaxContextTurns = 16;
// RecallOptions::feedback_terms and ::feedback_episodes: at most this many.
inline constexpr int kMaxFeedbackTerms = 100;
// RecallOptions::half_life_hours: finite, in (0, kMaxHalfLifeHours] (about 11,400 years).
inline constexpr double kMaxHalfLifeHours = 1e8;

struct Episode {
  uint64_t id = 0;           // assigned by Append; unique in its namespace, from 1
  std::string session;       // the conversation it belongs to (any text without NUL, <= 256 bytes)
  std::string role;          // "user", "assistant", a speaker's name...
  std::string text;          // <= kMaxEpisodeTextBytes
  int64_t timestamp_ms = 0;  // Unix epoch ms in [kMinTimeMs, kMaxTimeMs]; 0 on Append means now
  double importance = 0.5;   // in [0, 1]
  std::map<std::string, std::string> metadata;
  int64_t expires_ms = 0;    // TTL: 0 never; else a time (as above) from which it is gone
  uint32_t version = 1;      // 1 on Append, +1 per Update
  std::vector<uint64_t> sources;  // a summary's source episodes (Consolidate)
  // Append/Update: when empty, the store's embedder embeds `text`; otherwise used as given
  // (dim floats; normalised by the store). Returned episodes leave it empty unless asked.
  std::vector<float> embedding;
};

struct StoreOptions {
  // Embeds episode texts and recall queries; not owned, must outlive the store. May be null when
  // every Append passes an embedding and every Recall passes a query embedding (then `dim` is
  // required). A store remembers its embedder's name and dimension and refuses another.
  retrieval::Embedder* embedder = nullptr;
  int dim = 0;  // without an embedder: the embedding dimension
  // fsync the log on every write, so an acknowledged write survives power loss. Default true.
  bool sync = true;
  // The per-namespace vector index (default: exact below 50,000 episodes, HNSW above).
  retrieval::VectorIndexOptions index;
  // Open refuses a directory that holds no store unless this is set. Default true.
  bool create_if_missing = true;
  // The store's embedder embeds an episode as EmbeddingText(episode, embed_date): with its date
  // first when set. Queries are embedded as they are. Default false: on LoCoMo the date gave no
  // held-out gain beside the default recall (0.726 dated against 0.730 plain,
  // docs/benchmarks.md), and without it a store's vectors are the embedder's of the text.
  bool embed_date = false;
  // What BM25 indexes for an episode: its UTC date ("8 May 2023", when index_date), the texts of
  // up to `index_context_turns` turns before it in its session (by time, then id) and its own
  // text, so a reply ("yes, it was so inspiring!") is found by the words of what it answers.
  // A write re-indexes the turns whose context it changes (forgetting a turn removes its words
  // from the next turns' index texts). Fixed when a store is created: an existing store keeps
  // its own (Stats reports them). Defaults: what `engram eval memory --cross-validate` chose on
  // LoCoMo (docs/benchmarks.md). Checked: index_context_turns in [0, kMaxContextTurns].
  int index_context_turns = 2;
  bool index_date = true;
  // How BM25 cuts the index text's terms and the query's (retrieval/bm25.h): kEnglish stems them,
  // so "What has Melanie painted?" finds "my horse painting". Fixed when a store is created
  // (stores of format 4 never stem). Default kEnglish: on LoCoMo it raised evidence recall@10
  // held out (docs/benchmarks.md, issue 24's sixth session).
  retrieval::Stemming stemming = retrieval::Stemming::kEnglish;
};

// What the store's embedder embeds for episode `e`: "[8 May 2023] <text>" with the UTC date of
// e.timestamp_ms when `with_date`, else the text alone. Callers that pass embeddings in can
// embed this text to rank as the store's own embeddings would.
std::string EmbeddingText(const Episode& e, bool with_date = true);

// The defaults are what `engram eval memory --cross-validate` chooses on LoCoMo with stemmed
// index texts: every leave-one-conversation-out fold chose bm25 1.5 and four role 0.1. Three
// chose BM25 feedback of 50 terms (× 1.0), two 25 (× 1.5); 25 × 1.0 stays the default, because
// 50 terms took recall at 100,000 episodes past its 20 ms p99 budget (25.3 ms) for 0.002 of
// in-sample recall. Evidence recall@10 held out 0.814, against 0.793 unstemmed and 0.641 for
// the earlier defaults (bm25 0.5, recency 0.05, no feedback, BM25 over the text alone);
// docs/benchmarks.md has the ablation. LoCoMo asks about old events; conversations that ask
// about recent things want some recency (recency_weight 0.05-0.1).
// Checked by Recall: k in [1, kMaxRecallK]; weights finite in [0, kMaxRecallWeight];
// half_life_hours finite in (0, kMaxHalfLifeHours]; now_ms 0 or a time; from_ms / to_ms their
// open defaults or times, from_ms <= to_ms; candidates in [0, kMaxRecallCandidates].
struct RecallOptions {
  int k = 10;
  double relevance_weight = 1.0;
  double bm25_weight = 1.5;
  double recency_weight = 0.0;
  double importance_weight = 0.1;
  double half_life_hours = 24.0 * 30;
  int64_t now_ms = 0;  // the time recency is measured from; 0: the wall clock
  // Filters (all must hold).
  std::string session;  // empty: every session
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();  // inclusive
  std::map<std::string, std::string> metadata;          // each key must have this value
  int candidates = 0;  // per component before scoring; 0: max(4k, 50)
  // Pseudo-relevance feedback for BM25 (RM3): the `feedback_terms` terms that best mark the
  // best `feedback_episodes` BM25 hits (each term's share of those hits, weighted by their
  // scores, times its idf) join the query, together weighing feedback_weight × the query's own
  // terms; BM25 is then the expanded query's. 0 terms: off. Checked: feedback_terms in
  // [0, kMaxFeedbackTerms], feedback_episodes in [1, kMaxFeedbackTerms], feedback_weight finite
  // in [0, kMaxRecallWeight]. It runs only in a namespace of at least 4 × feedback_episodes
  // live episodes (in fewer, the feedback hits would be most of the namespace).
  int feedback_terms = 25;
  int feedback_episodes = 5;
  double feedback_weight = 1.0;
  // Pseudo-relevance feedback for the embedding (Rocchio): the query vector plus
  // dense_feedback_weight × the mean embedding of the best `feedback_episodes` BM25 hits,
  // normalised, is what relevance is the cosine with. 0: off. Checked: finite in
  // [0, kMaxRecallWeight].
  double dense_feedback_weight = 0.0;
  // Added to the score of an episode whose role the query names ("what did Caroline say about
  // ..." and role "Caroline"; every word of the role among the query's words, case-folded).
  // Checked: finite in [0, kMaxRecallWeight]. 0.1: every leave-one-conversation-out fold on
  // LoCoMo chose it over 0 (held-out evidence recall@10 0.784 -> 0.793, multi-hop 0.378 ->
  // 0.407; `engram eval memory --cross-validate`, docs/benchmarks.md), and four of five with
  // stemmed index texts.
  double role_weight = 0.1;
  // Use this query embedding instead of embedding the query text.
  std::vector<float> query_embedding;
};

struct RecalledEpisode {
  Episode episode;
  double score = 0.0;
  double relevance = 0.0, bm25 = 0.0, recency = 0.0;  // components before weighting
  bool role_named = false;  // the query names the episode's role (RecallOptions::role_weight)
};

// Checked by ListSession: limit in [1, kMaxListLimit]; from_ms / to_ms as in RecallOptions.
struct ListOptions {
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();  // inclusive
  size_t limit = 100;
  // Paging: pass the last page's next_page_token; empty for the first page.
  std::string page_token;
};

struct EpisodePage {
  std::vector<Episode> episodes;  // by time, then id
  std::string next_page_token;    // empty when there is nothing more
};

// What Update changes; unset fields keep their value. A new text is re-embedded (or takes
// `embedding`).
struct EpisodeChanges {
  std::optional<std::string> text, role;
  std::optional<double> importance;
  std::optional<std::map<std::string, std::string>> metadata;
  std::optional<int64_t> expires_ms;
  std::vector<float> embedding;
};

// Summarises episodes (oldest first) into one text, e.g. with a language model.
using Summarizer = std::function<Result<std::string>(std::span<const Episode>)>;

struct ConsolidateOptions {
  size_t keep_recent = 8;  // the newest episodes of the session stay as they are
  size_t min_span = 4;     // do nothing unless at least this many would be replaced
};

struct StoreStats {
  uint64_t namespaces = 0, episodes = 0;  // Stats(ns): 1 / that namespace's episodes
  uint64_t index_vectors = 0;             // vectors in the vector index(es)
  uint64_t disk_bytes = 0;                // database files and index files (whole store)
  int index_context_turns = 0;            // the store's index text (StoreOptions)
  bool index_date = false;
  retrieval::Stemming stemming = retrieval::Stemming::kNone;
};

class EpisodicStore {
 public:
  // Opens or creates the store in `path`. A directory holding something else, another format
  // version, or a store made with another embedder is refused with a clear error and not
  // written to.
  static Result<std::unique_ptr<EpisodicStore>> Open(const std::string& path,
                                                     const StoreOptions& options);
  ~EpisodicStore();  // saves the vector indexes that changed

  // Appends `episode` to namespace `ns` (created on first use) and returns its id.
  // kInvalidArgument for a bad namespace name ([A-Za-z0-9._:@-]{1,128}), a session with NUL or
  // over 256 bytes, text over kMaxEpisodeTextBytes, text, role, session or metadata that is not
  // valid UTF-8, importance outside [0, 1] (or NaN), a timestamp or expiry outside
  // [kMinTimeMs, kMaxTimeMs] (other than 0), or an embedding of the wrong size or not finite.
  Result<uint64_t> Append(std::string_view ns, const Episode& episode);
  // Appends several episodes in one atomic write (all or none survive a crash) and one vector
  // index update: much faster for imports. Ids in input order; the same checks as Append, all
  // made before anything is written (a message names the first bad episode's position).
  Result<std::vector<uint64_t>> AppendBatch(std::string_view ns, std::span<const Episode> episodes);

  // kNotFound when `id` is not a live episode of `ns` (also when it is in another namespace, or
  // expired). `with_embedding` fills Episode::embedding.
  Result<Episode> Get(std::string_view ns, uint64_t id, bool with_embedding = false) const;

  // The live episodes of one session in a time range, by time, a page at a time.
  Result<EpisodePage> ListSession(std::string_view ns, std::string_view session,
                                  const ListOptions& options) const;

  // The best k episodes for `query` (see the file comment). An unknown namespace gives an empty
  // result, not an error.
  Result<std::vector<RecalledEpisode>> Recall(std::string_view ns, std::string_view query,
                                              const RecallOptions& options) const;

  // Changes an episode; the previous version goes to its history. Returns the new version.
  Result<uint32_t> Update(std::string_view ns, uint64_t id, const EpisodeChanges& changes);
  // Every version of an episode, oldest first, the current one last (a consolidated source's
  // history ends with its last version). kNotFound for an unknown or expired id.
  Result<std::vector<Episode>> History(std::string_view ns, uint64_t id) const;

  // Removes an episode with its embedding, postings and history. kNotFound when absent.
  Status Forget(std::string_view ns, uint64_t id);
  // Removes several episodes in one atomic write: all of them, or (kNotFound naming every id
  // that is not a live episode of `ns`) none. A repeated id counts once.
  Status Forget(std::string_view ns, std::span<const uint64_t> ids);
  // Removes every episode of a session in one atomic write; returns how many.
  Result<uint64_t> ForgetSession(std::string_view ns, std::string_view session);
  // Removes everything of a namespace, its index file included. OK when it does not exist.
  Status PurgeNamespace(std::string_view ns);
  // Removes the episodes whose TTL has passed at `now_ms` (0: now, else a time), in every
  // namespace (one atomic write per namespace); returns how many. (Expired episodes are
  // invisible before that already.)
  Result<uint64_t> PurgeExpired(int64_t now_ms = 0);

  // Replaces the session's episodes older than its newest keep_recent by one summary episode
  // (role "summary", sources = their ids, time = the newest source's, importance = the highest).
  // The sources leave recall and listing but keep their history. Returns the summary's id, or 0
  // when there was too little to consolidate. `summarize` runs without the store's write lock;
  // if a source is updated meanwhile, nothing is written and the result is kFailedPrecondition
  // (call again). A source forgotten meanwhile is simply left out.
  Result<uint64_t> Consolidate(std::string_view ns, std::string_view session,
                               const Summarizer& summarize, const ConsolidateOptions& options = {});

  // A consistent copy of the whole store in `dir` (must not exist), openable with Open.
  Status Checkpoint(const std::string& dir);
  // Saves the vector indexes that changed and flushes the database's memtables (also done by
  // the destructor), so the next Open is quick. The destructor then also waits (up to a
  // minute) for the compactions RocksDB has scheduled, so a process that opens the store for
  // one write (the CLI) leaves a bounded number of table files behind.
  Status Flush();

  // The whole store (ns empty) or one namespace.
  Result<StoreStats> Stats(std::string_view ns = {}) const;
  // The namespaces that hold episodes, sorted.
  std::vector<std::string> Namespaces() const;
  // The sessions of a namespace that hold live episodes, sorted (empty for an unknown one).
  Result<std::vector<std::string>> Sessions(std::string_view ns) const;

 private:
  struct State;
  explicit EpisodicStore(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace engram::memory
