// Private to inference/: the key-index sidecar of a KV cache file (`<cache>.index`, layout in
// docs/formats/key_index.md). It holds a sequence's built retrieval key indexes, so a loaded
// cache decodes without rebuilding them, and is bound to one cache file's exact content (its
// SHA-256 trailer), the model and the retrieval policy's index parameters. Anything else — a
// missing, damaged, truncated, stale or mismatched sidecar — is an error the caller answers by
// building the indexes again; a sidecar is never trusted past its checks.
#pragma once

#include <string>

#include "common/result.h"
#include "common/sha256.h"
#include "inference/attention_policy.h"
#include "inference/internal/sparse_attention.h"

namespace engram::inference::internal {

// What a sidecar is bound to.
struct IndexBinding {
  std::string model_fingerprint;  // LlamaContext::ModelFingerprint()
  Sha256::Digest cache_digest{};  // the cache file's SHA-256 trailer
  int64_t length = 0;             // positions in the cache
};

// `<cache path>.index`.
std::string IndexSidecarPath(const std::string& cache_path);

// Writes `state`'s key indexes (state.indexes_built() must hold) to `path` atomically: written to
// `<path>.tmp`, fsynced, renamed over `path`. Errors are kIOError; nothing is left at `path` on
// failure other than what was there before.
Status WriteIndexSidecar(const std::string& path, const IndexBinding& binding,
                         const SparseAttention& state);

// Restores the key indexes of `path` into `state` (built for the current policy, empty). Errors,
// which leave `state` as it was: kNotFound (no sidecar), kCorruption (truncated, damaged,
// malformed), kNotSupported (another format version), kInvalidArgument (bound to another cache
// content, model or length, or built for other index parameters than `state`'s policy).
Status ReadIndexSidecar(const std::string& path, const IndexBinding& binding,
                        SparseAttention* state);

}  // namespace engram::inference::internal
