// KeyIndex: finds, for attention queries, the cached keys likely to score highest against them
// (RetrievalAttention). One index serves one (layer, KV head) of one sequence; the queries of its
// GQA group search it together.
//
//   KeyIndexInput in{.dim = 64, .keys = k, .ids = pos, .n_keys = n,
//                    .queries = prefill_q, .n_queries = m};
//   Result<std::unique_ptr<KeyIndex>> index = BuildKeyIndex(KeyIndexKind::kAttentionAware, in);
//   (*index)->Add(new_keys, new_ids, count);                  // keys that left the window
//   std::vector<int32_t> ids;
//   (*index)->Candidates(group_queries, 3, /*want=*/400, &ids);   // caller scores them exactly
//
// An index proposes candidates; it does not rank them. The caller scores the candidates against
// its queries exactly and attends the best `want`, so a kind is judged by how often the true top
// keys are among its candidates for a given candidate count (RetrievalAttention's recall).
//
// Kinds:
//   exact    every key is a candidate: the reference (full cost).
//   ivf      FAISS IndexIVFFlat trained on the keys (inner product): each query probes the lists
//            whose centroids score highest until the probed lists hold candidate_factor * want
//            keys. Keys and queries are distributed differently in attention, so key centroids
//            are a poor guide to where a query's top keys are.
//   aware    attention-aware: the centroids are k-means clusters of the prefill queries, and each
//            cluster's list links it to the keys its queries really attended: the true top
//            `links_per_query` keys of every prefill query in the cluster, plus every key under
//            the centroid that scores it highest (so each key is reachable). A decode query is
//            in the queries' distribution, so its nearest query centroids lead to its top keys.
//            Probing as for ivf. Without prefill queries (a cache loaded from a file) a sample
//            of the keys stands in for them.
//
// Ids are non-negative (positions in the cache). Not thread-safe for Add; Candidates is const and
// may run concurrently with other Candidates calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::retrieval {

enum class KeyIndexKind { kExact, kIvf, kAttentionAware };

std::string_view KeyIndexKindName(KeyIndexKind kind);  // "exact", "ivf", "aware"
// kInvalidArgument for another name, listing the valid ones.
Result<KeyIndexKind> ParseKeyIndexKind(std::string_view name);

struct KeyIndexInput {
  int dim = 0;
  const float* keys = nullptr;  // n_keys rows of dim floats
  const int32_t* ids = nullptr;
  int64_t n_keys = 0;
  const float* queries = nullptr;  // n_queries rows of dim floats (prefill queries); may be null
  int64_t n_queries = 0;
  // Keys per list on average (sets the number of centroids).
  int keys_per_list = 64;
  // Probing stops once the lists probed hold this many times `want` keys.
  double candidate_factor = 3.0;
  // aware: the true top keys of each prefill query linked into its cluster.
  int links_per_query = 16;
};

class KeyIndex {
 public:
  virtual ~KeyIndex() = default;
  virtual KeyIndexKind kind() const = 0;
  // Adds keys (n rows of dim floats) under their ids.
  virtual void Add(const float* keys, const int32_t* ids, int64_t n) = 0;
  // Appends candidate ids for the queries (n_queries rows of dim floats) to `out`, each once:
  // about max(want, candidate_factor * want / n_queries) new ones per query (all keys when want
  // is at least size(); all keys always for exact).
  virtual void Candidates(const float* queries, int n_queries, int64_t want,
                          std::vector<int32_t>* out) const = 0;
  virtual int64_t size() const = 0;
  // Bytes the index holds (centroids, lists, stored vectors).
  virtual size_t memory_bytes() const = 0;
  // A deep copy: Add on either leaves the other as it was (a forked sequence extends its own).
  virtual std::unique_ptr<KeyIndex> Clone() const = 0;
  // Appends the whole state to `out` in the layout of docs/formats/key_index.md (little-endian,
  // no checksum: the file that holds it carries one). DeserializeKeyIndex turns it back into an
  // index that proposes exactly the same candidates.
  virtual void Serialize(std::string* out) const = 0;
};

// Builds an index of `kind` over the input's keys. kInvalidArgument for a bad dimension or
// count; FAISS failures come back as kInternal.
Result<std::unique_ptr<KeyIndex>> BuildKeyIndex(KeyIndexKind kind, const KeyIndexInput& input);

// Reads bytes written by KeyIndex::Serialize (exactly one index, no trailing bytes).
// kCorruption for anything else: truncated, overlong, an unknown kind, counts or ids out of range.
// Never trusts the bytes to be well formed, but does not verify that they describe a useful
// index: the caller checks a checksum first.
Result<std::unique_ptr<KeyIndex>> DeserializeKeyIndex(std::span<const uint8_t> bytes);

}  // namespace engram::retrieval
