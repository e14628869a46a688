// Bm25Index: BM25 postings and document frequencies in RocksDB, with exact top-N queries.
//
//   retrieval::Bm25Index index(db, postings_cf, terms_cf, /*prefix=*/"", params);
//   retrieval::Bm25Changes changes;
//   changes.Add(7, index.Terms("Ana lives in Porto"));        // document 7
//   rocksdb::WriteBatch batch;                                 // the caller's, with its records
//   if (Status s = index.Apply(changes, batch); !s.ok()) return s;
//   db->Write(options, &batch);                               // one atomic write
//   ENGRAM_TRY_ASSIGN(Bm25Query q, index.Prepare("where is Porto?", stats));
//   ENGRAM_TRY_ASSIGN(std::vector<RankedItem> top, index.TopN(q, 10));
//
// Scores are rank-bm25's (retrieval/bm25.h). The caller keeps N and the mean length (they
// change with its own records) and passes them in Bm25Stats; MeanIdf gives the mean idf.
//
// Storage (docs/formats/bm25_index.md): in the postings column family, a key per segment,
//   <prefix><term>\0<first id, big-endian u64>  ->  [u32 count][u32 max tf][u32 min length]
//                                                    [u32 0] count × [u64 id][u32 tf][u32 length]
// (little-endian), ids ascending, segments of a term disjoint and in key order. A segment holds
// at most kBm25SegmentPostings postings: appends fill a term's last segment before starting the
// next, so one document per write still costs one key per term. In the terms column family,
// <prefix><term> -> document frequency (big-endian u64). Several indexes share column families
// through distinct prefixes (the memory store's "<namespace>\0"); a prefix must not be a
// prefix of another index's prefix, and terms hold no NUL.
//
// Queries are exact: TopN returns what scoring every posting would, found with MaxScore (rare
// terms first; once the N-th best partial score beats what the remaining terms could add, no new
// document is admitted; the remaining terms only complete candidates that can still make it)
// and block-max (a candidate whose segment's max tf and min length bound its contribution below
// what it still needs is dropped without looking it up). A document's score is the sum over
// query terms in Bm25Query::terms order (idf descending, then term), so equal inputs give
// bit-equal scores whichever path computed them; ties rank by ascending id.
//
// Ids should be dense (counters from 1): a query accumulates into a per-thread array indexed by
// id (16 bytes per id up to the largest, kept for the thread's next query).
//
// Thread safety: const methods may run concurrently with each other and with writes to the
// database; a query reads each key as it is at that moment (no snapshot), so one racing a
// write may see part of it. Apply reads the segments it edits from the database, so a batch
// must be written before the next Apply on the same prefix (the caller serialises its writers).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/status.h"
#include "retrieval/bm25.h"
#include "retrieval/fusion.h"

namespace engram::retrieval {

// The most postings a segment holds.
inline constexpr uint32_t kBm25SegmentPostings = 128;

// The postings changes of one write, applied to its WriteBatch by Bm25Index::Apply. Removals are
// of postings stored now (before this write); they are applied before the additions, so a
// document re-indexed in one write is a Remove then an Add.
class Bm25Changes {
 public:
  // Adds document `id` with `terms` (Bm25Index::Terms of its text, repeats included).
  void Add(uint64_t id, std::span<const std::string> terms);
  // Removes document `id`, stored with `terms` (as given to Add).
  void Remove(uint64_t id, std::span<const std::string> terms);
  bool empty() const { return terms_.empty(); }

 private:
  friend class Bm25Index;
  struct Posting {
    uint64_t id = 0;
    uint32_t tf = 0, length = 0;
  };
  struct TermChange {
    std::vector<Posting> added;
    std::vector<uint64_t> removed;
  };
  std::map<std::string, TermChange> terms_;
};

// A query prepared against the index: its terms that the index holds, with their idf.
struct Bm25Query {
  struct Term {
    std::string term;
    // A term repeated in the query counts again (weight 2), as in rank-bm25; a caller may
    // weigh terms otherwise (expansion terms, RecallOptions::feedback_terms), weight >= 0.
    double weight = 1.0;
    double idf = 0.0;
  };
  std::vector<Term> terms;  // idf descending, then term: the order scores are summed in
  Bm25Stats stats;
};

// What a TopN did (for tests and benchmarks): how many terms it scanned whole (the rest only
// completed candidates) and how many candidates pruning dropped.
struct Bm25PruneStats {
  size_t terms_scanned = 0;
  uint64_t candidates_dropped = 0;
};

class Bm25Index {
 public:
  // Borrows the database and column families (they must outlive the index). `stemming` is how
  // the index's terms were cut (its owner stores that choice): Terms and Prepare cut the same way.
  Bm25Index(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* postings,
            rocksdb::ColumnFamilyHandle* terms, std::string prefix, Bm25Params params = {},
            Stemming stemming = Stemming::kNone);

  // The terms this index holds for `text` (Bm25Terms with the index's stemming).
  std::vector<std::string> Terms(std::string_view text) const { return Bm25Terms(text, stemming_); }
  Stemming stemming() const { return stemming_; }

  // Adds to `batch` the segment and document-frequency writes of `changes` (read from the
  // database as it is now; the caller serialises writers). kCorruption when a removed posting
  // is not stored (a caller discards the batch on any error).
  Status Apply(const Bm25Changes& changes, rocksdb::WriteBatch& batch) const;

  // The mean raw idf over every term of the index (for Bm25Stats::mean_idf), for `documents`
  // documents. Scans the index's terms; cache it until the next write.
  Result<double> MeanIdf(int64_t documents) const;
  // The terms of `text` (Terms) that the index holds, with idf from `stats`.
  Result<Bm25Query> Prepare(std::string_view text, const Bm25Stats& stats) const;
  // The same for terms already cut by Terms (a repeat counts again).
  Result<Bm25Query> PrepareTerms(std::span<const std::string> terms, const Bm25Stats& stats) const;

  // The best `n` documents holding a query term that `allowed` admits (all when null), best
  // first, ties by ascending id; exactly those and the scores a full scan gives.
  Result<std::vector<RankedItem>> TopN(const Bm25Query& query, size_t n,
                                       const std::function<bool(uint64_t)>* allowed = nullptr,
                                       Bm25PruneStats* stats = nullptr) const;

  // The score of each of `ids` (0 for a document holding no query term), in the order given.
  Result<std::vector<double>> Score(const Bm25Query& query, std::span<const uint64_t> ids) const;

  // Every (id, tf, length) posting of `term`, by id (for tests and tools).
  struct Posting {
    uint64_t id = 0;
    uint32_t tf = 0, length = 0;
  };
  Result<std::vector<Posting>> Postings(std::string_view term) const;

 private:
  class Cursor;
  struct Scratch;
  std::string TermKey(std::string_view term) const;
  std::string SegmentPrefix(std::string_view term) const;
  Status ApplyTerm(const std::string& term, const Bm25Changes::TermChange& change,
                   rocksdb::WriteBatch& batch) const;
  // Upper bound of one posting's contribution of term `t` given a segment's max tf and min
  // length (slightly inflated, so rounding never makes a real score exceed it).
  double Bound(const Bm25Query::Term& t, uint32_t max_tf, uint32_t min_length,
               double average_length) const;
  Status ScanTerm(const Bm25Query& query, size_t t, const std::function<bool(uint64_t)>* allowed,
                  double threshold, std::vector<uint64_t>* hot, Scratch& scratch) const;
  Status ScoreCandidates(const Bm25Query& query, size_t first_term, size_t n, double threshold,
                         std::vector<uint64_t>& candidates, Scratch& scratch,
                         uint64_t* dropped) const;

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* postings_;
  rocksdb::ColumnFamilyHandle* terms_;
  std::string prefix_;
  Bm25Params params_;
  Stemming stemming_;
};

}  // namespace engram::retrieval
