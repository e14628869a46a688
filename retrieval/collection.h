// A persistent collection of documents, searchable by BM25, by dense vectors, or both.
//
//   auto c = Collection::Open(CollectionPath(data_dir, "papers"), &embedder, {});
//   (*c)->Ingest({.text = parsed.text, .title = parsed.title, .source = "paper.pdf"});
//   auto hits = (*c)->Search("what limits decode speed?", {.mode = SearchMode::kHybrid, .k = 5});
//   // (*hits)[0].Citation() == "3:1042-1876": document 3, bytes 1042..1876 of its text
//
// Storage (format "engram-collection 6", docs/architecture.md): one RocksDB database per
// collection (column families: meta, documents, chunks, postings, terms; the last two hold a
// retrieval::Bm25Index over chunk ids). A collection of another format version is refused
// (kNotSupported: re-ingest it), but formats 5 (no sentence vectors), 4 (BM25 terms not stemmed
// either) and 3 (chunks indexed without their document's title either) are read and written as
// they are. A document, its chunks (text, span, embedding, sentence vectors),
// its BM25 postings and the corpus statistics are written in one WriteBatch, so a crash (even
// SIGKILL) leaves each document fully present or absent. The FAISS index (retrieval/vector_index.h)
// lives beside the database in `vectors.faiss`, saved atomically with the RocksDB sequence number
// it reflects; on Open a stale or missing index is caught up from the chunks (ids added or removed
// since), never left out of sync.
//
// Document identity: a document is its `source`. Ingesting a source that is there replaces it
// (or leaves it, when text, title, tags and format are the same); two sources with the same
// text are two documents. An empty source is named by its content, "sha256:<12 hex digits>".
// The CLI passes a file's canonical path, or for standard input --name or "stdin:<12 hex>".
//
// Index ownership: the database holds a random identity (meta key "instance", written at
// creation, or at the first writable open of an older collection) and `vectors.faiss` is saved
// with it as its owner (VectorIndex::Save). An index file with another owner or none (copied
// from another collection, or written before identities) is not trusted: it is rebuilt from
// the embeddings in the database, with a warning.
//
// Health: ProbeCollection tells a missing, foreign, damaged or sound collection apart without
// writing anything. Open refuses damaged ones (kCorruption) and never modifies them.
//
// Units: a search ranks chunks (sentence-aware, token-budgeted pieces of a document, made with
// the embedder's token counts); every hit carries its document id and byte span.
//
// Thread safety: any number of concurrent Search/List calls alongside one writer
// (Ingest/Delete/Flush); writers are serialised internally.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "retrieval/bm25.h"
#include "retrieval/chunker.h"
#include "retrieval/embedder.h"
#include "retrieval/vector_index.h"

namespace engram::retrieval {

struct DocumentInput {
  std::string text;    // the parsed text; citations are byte offsets into it
  std::string title;
  // The document's identity (see above): a canonical path, a URL, a name; empty: derived from
  // the text. Source, title and tags are stored as UTF-8 (invalid bytes become U+FFFD).
  std::string source;
  std::vector<std::string> tags;
  std::string format = "txt";
};

struct DocumentInfo {
  uint64_t id = 0;
  std::string title, source, format, sha256;
  std::vector<std::string> tags;
  int64_t created_ms = 0, updated_ms = 0;  // Unix epoch milliseconds
  uint64_t bytes = 0;
  uint32_t chunks = 0;
};

enum class IngestOutcome {
  kAdded,
  kReplaced,   // the source was there with other content: the old document is gone
  kUnchanged,  // the source is there with the same text, title, tags, format: nothing written
};
std::string_view IngestOutcomeName(IngestOutcome o);

struct IngestResult {
  uint64_t id = 0;
  IngestOutcome outcome = IngestOutcome::kAdded;
  uint32_t chunks = 0;
};

// What Open may do to the directory.
enum class OpenMode {
  // The collection must exist. Nothing on disk is written: the database opens read-only (so it
  // works while another process ingests), a stale index is caught up in memory only, and
  // Ingest / Delete / Flush are kFailedPrecondition.
  kReadOnly,
  kReadWrite,  // the collection must exist
  kCreate,     // created when missing (or an empty directory); only ingest should use this
};

// Limits every Search checks (ValidateSearch).
inline constexpr int kMaxSearchK = 1000;
inline constexpr int kMaxSearchCandidates = 10000;
inline constexpr size_t kMaxQueryBytes = 16 * 1024;

struct CollectionOptions {
  // Checked by Open (kInvalidArgument naming the field): max_tokens within 1..the embedder's
  // MaxTokens, overlap_tokens within 0..max_tokens-1; bm25 k1 within 0..100, b within 0..1.
  ChunkOptions chunking;
  Bm25Params bm25;
  OpenMode mode = OpenMode::kReadWrite;
  // The vector index. Its kind (auto, flat, hnsw, ivfpq) is fixed when the collection is
  // created; later opens use the stored kind whatever this says.
  VectorIndexOptions index;
  bool sync = false;  // fsync the write-ahead log on every ingest/delete
  // Index each chunk as ChunkIndexText(document title, chunk text), for BM25 and for its
  // embedding, so a paragraph that never names its subject is still found by it ("When did the
  // Broncos win?" and a paragraph of the article "Super Bowl 50"). Fixed when the collection is
  // created; later opens use the stored choice. Default true: on SQuAD among the L-Eval
  // distractors it raised hybrid recall@1 from 0.775 to 0.787, 0.790 held out (docs/benchmarks.md).
  bool index_title = true;
  // How BM25 cuts terms (retrieval/bm25.h): kEnglish stems them, so "painted" finds "painting".
  // Fixed when the collection is created (collections of format 4 and older never stem). Default
  // kEnglish: on SQuAD among the L-Eval distractors it raised hybrid recall@1 held out
  // (docs/benchmarks.md, issue 24's sixth session).
  Stemming stemming = Stemming::kEnglish;
  // Also embed each sentence of every chunk (SplitSentences, with the title as the chunk has
  // it) and store the vectors with the chunk (int8, about 400 bytes a sentence), so hybrid
  // search's rescoring can score a chunk by its best sentence (RescoreOptions::sentence_cosine):
  // a chunk has one embedding, which blends all its sentences, while a question is mostly
  // answered by one. Ingest embeds about twice the tokens. Fixed when the collection is created
  // (false writes format 5, as before; collections of format 5 and older have none). Default
  // true: on SQuAD among the L-Eval distractors it raised hybrid recall@1 held out from 0.829 to
  // 0.844, at twice the ingest time (docs/benchmarks.md, issue 24's seventh session).
  bool sentence_vectors = true;
};

enum class SearchMode { kBm25, kDense, kHybrid };
std::string_view SearchModeName(SearchMode m);
Result<SearchMode> ParseSearchMode(std::string_view s);

// Hybrid's default is kWeighted: on SQuAD dev (the first 1,500 questions, `engram eval
// retrieval --fusion-sweep`) it gave recall@1 0.720 against RRF's 0.641 (bm25 alone 0.681).
enum class FusionMethod {
  kRrf,       // reciprocal rank fusion: Σ 1 / (rrf_k + rank)
  kWeighted,  // dense_weight · dense + (1 - dense_weight) · bm25, each min-max normalised
};

// Hybrid search's second stage. The first max(candidates, k) fused chunks (with mmr, every
// candidate MMR considers) are rescored as
//   fused score + cosine × cos(query, chunk) + sentence_cosine × max cos(query, sentence)
//                + coverage × TermMatch::coverage + sentence × TermMatch::sentence
//                + bigrams × TermMatch::bigrams
// (retrieval/term_match.h; the query terms' idf is BM25's; the sentences' vectors are stored at
// ingest, CollectionOptions::sentence_vectors, and a chunk without them counts its own cosine
// as its best sentence's) and sorted by it. It separates an answering paragraph from its
// article's neighbours, which share its vocabulary and its title: on SQuAD among the L-Eval
// distractors held-out hybrid recall@1 went from 0.790 to 0.815 (`engram eval retrieval
// --cross-validate`, docs/benchmarks.md "Rescoring hybrid's first candidates"), 0.829 with
// stemmed terms, 0.844 with the best sentence's cosine. The term weights are what every one of
// the 24 leave-one-article-out folds chose in three runs; the cosines what 22 of 24 folds chose
// (issue 24's seventh session). candidates 0: off.
struct RescoreOptions {
  int candidates = 30;  // 0..kMaxSearchCandidates
  // Finite, 0..kMaxRescoreWeight.
  double cosine = 1.5;
  double sentence_cosine = 5.0;
  double coverage = 1.5;
  double sentence = 1.5;
  double bigrams = 0.75;
};
inline constexpr double kMaxRescoreWeight = 100.0;

// Every numeric field is checked by Search (ValidateSearch); the ranges are given here.
struct SearchOptions {
  SearchMode mode = SearchMode::kHybrid;
  int k = 10;  // 1..kMaxSearchK
  FusionMethod fusion = FusionMethod::kWeighted;
  double rrf_k = 60.0;        // finite, 0..1e6
  // Finite, 0..1. 0.4: every one of the 24 leave-one-article-out folds on SQuAD among the L-Eval
  // distractors chose it over 0.5, 0.6, 0.3, 0.2 and RRF (`engram eval retrieval
  // --cross-validate`, docs/benchmarks.md).
  double dense_weight = 0.4;
  int candidates = 0;         // per mode before fusion, 0..kMaxSearchCandidates; 0: max(4k, 50)
  RescoreOptions rescore;     // hybrid only: rescore the first fused candidates
  bool mmr = false;           // maximal marginal relevance over the (rescored) candidates
  double mmr_lambda = 0.7;    // relevance vs diversity, finite, 0..1
  // Filters (all must hold): documents carrying every tag, sources starting with a prefix, one
  // document.
  std::vector<std::string> tags;
  std::string source_prefix;
  std::optional<uint64_t> document;
};

struct SearchHit {
  uint64_t chunk_id = 0, document_id = 0;
  double score = 0.0;       // the mode's score (RRF or weighted sum for hybrid)
  double bm25_score = 0.0;  // components, 0 when the chunk was not in that list
  double dense_score = 0.0;   // (for a rescored hybrid hit, its exact cosine with the query)
  double rerank_score = 0.0;  // the reranker's, when the hit was reranked (retrieval/rerank.h)
  size_t begin = 0, end = 0;  // byte span in the document's text
  // The chunk's sentence nearest the query (a byte span in the document's text, within begin..end)
  // when hybrid search rescored the hit in a collection with sentence vectors; else the chunk's
  // span.
  size_t sentence_begin = 0, sentence_end = 0;
  std::string text, title, source;
  std::string Citation() const;  // "<document>:<begin>-<end>"
};

struct CollectionStats {
  uint64_t documents = 0, chunks = 0;
  double average_chunk_terms = 0.0;
  IndexKind index_kind = IndexKind::kFlat;
  size_t index_bytes = 0;
  double index_seconds = 0.0;  // spent adding to / removing from the vector index since Open
  bool index_title = false;    // chunks are indexed with their document's title
  Stemming stemming = Stemming::kNone;  // how BM25 cuts terms
  bool sentence_vectors = false;        // ingest stores each chunk's sentence vectors
};

// What a chunk is indexed as when titles are: "<title>. <chunk text>" (no '.' added after a
// title ending in punctuation); the chunk text alone for an empty title. Hits still return the
// chunk's own text and span.
std::string ChunkIndexText(std::string_view title, std::string_view chunk);

// kInvalidArgument naming the option or the query unless: the query holds a non-space
// character and at most kMaxQueryBytes, and every option is within its range (SearchOptions).
// Search calls it; servers and the CLI may call it before loading anything.
Status ValidateSearch(std::string_view query, const SearchOptions& options);

enum class CollectionHealth {
  kMissing,  // no directory, or an empty one
  kSound,    // a readable engram collection
  kDamaged,  // an engram collection that cannot be opened (`problem` says why)
  kForeign,  // something else (`problem` says what)
};
struct CollectionProbe {
  CollectionHealth health = CollectionHealth::kMissing;
  std::string problem;  // for kDamaged / kForeign: "db/CURRENT is missing"
  // kForeign for an engram collection of another format version: the marker it has
  // ("engram-collection 2"); Open refuses it with kNotSupported saying what to do.
  std::string format;
};
// Looks at `dir` without writing anything (RocksDB is opened read-only, without its log).
CollectionProbe ProbeCollection(const std::string& dir);

// The refusal Open would give `dir` for `mode` before loading anything: OK for a sound
// collection (or a missing one with kCreate), else kNotFound / kInvalidArgument / kCorruption
// as described at Open. Writes nothing.
Status CheckCollection(const std::string& dir, OpenMode mode);

class Collection {
 public:
  // Opens the collection in `dir` as options.mode allows. `embedder` (not owned, must outlive
  // the collection) embeds chunks and queries; it must be the one the collection was created
  // with (same name and dimension: kFailedPrecondition otherwise). Never writes to a directory
  // it refuses: missing (unless kCreate) is kNotFound, foreign kInvalidArgument ("not an
  // engram collection"), damaged kCorruption ("collection 'c' at 'dir' is damaged (what);
  // ..."), in use by another writer kUnavailable.
  static Result<std::unique_ptr<Collection>> Open(const std::string& dir, Embedder* embedder,
                                                  const CollectionOptions& options);
  ~Collection();  // saves the vector index when it changed

  Result<IngestResult> Ingest(const DocumentInput& document);
  // Several documents with their chunks embedded together (faster); each document is still
  // written atomically on its own terms. Results in input order. Two documents with the same
  // source (after UTF-8 repair) in one batch are kInvalidArgument, nothing written.
  Result<std::vector<IngestResult>> IngestBatch(std::span<const DocumentInput> documents);
  // kNotFound for an unknown id.
  Status Delete(uint64_t document_id);
  // All or nothing: every id must exist (else kNotFound naming each missing one and nothing is
  // deleted); the documents go in one atomic write. Repeated ids count once.
  Status Delete(std::span<const uint64_t> document_ids);
  Result<std::vector<DocumentInfo>> List() const;
  Result<DocumentInfo> Get(uint64_t document_id) const;
  // The document's text as its chunks hold it, so byte offsets match every hit's span (bytes no
  // chunk covers, white space between chunks, read as spaces). kNotFound for an unknown id.
  Result<std::string> DocumentText(uint64_t document_id) const;

  Result<std::vector<SearchHit>> Search(std::string_view query, const SearchOptions& options) const;

  // Saves the vector index (atomically, with the sequence number it reflects and the
  // collection's identity) and flushes the database's memtables, so the next Open is quick.
  Status Flush();
  CollectionStats Stats() const;
  const std::string& dir() const;

 private:
  struct State;
  explicit Collection(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

// <data_dir>/collections/<name>; kInvalidArgument for names other than [A-Za-z0-9._-]{1,64}.
Result<std::string> CollectionPath(const std::string& data_dir, std::string_view name);
// Names of the collections under <data_dir>/collections, sorted: the sound and the damaged ones
// (ProbeCollection tells which), not foreign directories.
std::vector<std::string> ListCollections(const std::string& data_dir);

}  // namespace engram::retrieval
