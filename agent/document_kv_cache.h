// The cached document KV store behind `engram ask --mode long`: a document set is prefilled
// once, the context's KV cache is saved here, and later questions over the same documents load
// it instead of prefilling again.
//
//   Result<std::unique_ptr<DocumentKvCache>> cache =
//       DocumentKvCache::Open(KvCacheDir(data_dir), /*limit_bytes=*/8ull << 30);
//   Result<std::string> digest = (*cache)->ModelDigest(model_path);    // memoised sha256
//   const std::string key = DocumentKvCache::EntryKey(*digest, "f16/b16", prefix_tokens);
//   Result<bool> hit = (*cache)->Load(key, ctx);      // ctx: a fresh LlamaContext
//   if (!hit.ok()) return hit.status();
//   if (!*hit) {
//     Status s = ctx.Eval(prefix_tokens);             // prefill once
//     ...
//     s = (*cache)->Store(key, ctx);                  // a failure here only costs speed:
//     if (!s.ok()) spdlog::warn("{}", s.ToString());  // log it, answer the question anyway
//   }
//   // ctx now holds prefix_tokens; Eval the question and generate.
//
// Keys. An entry is named by EntryKey: the sha256 (lower-case hex) over the model file's
// content digest, a `variant` string and the prefix's token ids. `variant` must name everything
// besides the model and the tokens that changes the cache's bytes: today the KV type and block
// size ("f16/b16"). Files of another variant would be refused by LoadCache anyway; the variant
// in the key lets them live side by side. The model's digest (not its path) is in the key, so a
// model file replaced in place never meets the old caches, and the same file under two paths
// shares them.
//
// Files in `dir` (nothing else may write there):
//   <key>.kv               the entry: inference::LlamaContext::SaveCache's file (version,
//                          model fingerprint, shape, checksum; see inference/paged_kv_cache.h)
//   <key>.kv<anything>     files written beside it (e.g. <key>.kv.index, the key index):
//                          part of the entry for size accounting, eviction and removal
//   *.tmp                  being written by a Store (or left by a killed one); never read
//   model_digests.json     the ModelDigest memo: {"version": 1, "models": {"<canonical
//                          path>": {"size": N, "mtime_ns": N, "sha256": "<hex>"}}}
//   LOCK                   flock()ed by Store and by the memo update
// An entry's mtime (of <key>.kv) is its last use: Store and every hit set it to the current
// time (nanoseconds from CLOCK_REALTIME), and eviction removes the oldest first (ties by name).
//
// Processes and threads. Any number of processes and threads may use one dir at once, each
// with its own object or sharing one (an object keeps no mutable state). Store and the memo
// update run under an exclusive flock on LOCK; a Store therefore waits for another Store in
// progress (of any key). Load takes the lock only to remove a damaged file. Files are replaced
// by rename, so a reader sees a whole old file or a whole new one, and a file removed while
// another process loads it stays readable to that process. Because every writer holds the lock
// while its temp files exist, a temp file seen under the lock was left by a killed process: the
// next Store removes it (and any sidecar whose <key>.kv is missing). A process killed anywhere
// leaves at most a temp file or an incomplete entry that Load reports as a miss.
//
// Errors name the file or directory and say what to do. Nothing here is fatal to answering a
// question: on any error the caller can prefill as if the cache were missing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "inference/llama_context.h"

namespace engram::agent {

class DocumentKvCache {
 public:
  // Opens (creating it and its LOCK file when missing) the cache directory `dir`.
  // limit_bytes: the most bytes all entries may take together (files of every entry, temp
  // files not counted); 0: no limit. The limit is enforced by Store, so a dir filled under a
  // larger limit shrinks at the next Store. kInvalidArgument when `dir` exists but is not a
  // directory; kIOError when it cannot be created or LOCK cannot be opened.
  static Result<std::unique_ptr<DocumentKvCache>> Open(const std::filesystem::path& dir,
                                                       uint64_t limit_bytes);

  // The lower-case hex sha256 of the content of the model file at `model_path`, memoised in
  // model_digests.json under the file's canonical path with its size and mtime (nanoseconds):
  // hashed once per model file, not once per question. A file changed without changing its
  // size and mtime keeps its old digest (as make would). A damaged memo is logged, ignored and
  // rewritten. Errors name the model file: kNotFound when it does not exist, kInvalidArgument
  // when it is not a regular file, kIOError when it cannot be read. Failing to update the memo
  // is logged, not returned.
  Result<std::string> ModelDigest(const std::string& model_path) const;

  // The entry name for `tokens` evaluated by the model of `model_digest` with `variant`:
  // 64 lower-case hex characters. The three parts are length-delimited, so no two different
  // triples share a key.
  static std::string EntryKey(std::string_view model_digest, std::string_view variant,
                              std::span<const int32_t> tokens);

  // Loads entry `key` into `ctx` (LoadCache: it replaces ctx's current sequence, which needs
  // free cache blocks for the entry's positions: pass a fresh context or one rewound to 0).
  //   true   a hit: ctx holds the entry's positions; the entry becomes the most recently used.
  //   false  a miss: no such entry, or its file was damaged, truncated, of another format
  //          version, or made for another model, shape, KV type or block size (or more
  //          positions than ctx's n_ctx). Such a file is removed (with its sidecars) and
  //          logged as a warning, so the caller's next Store rebuilds it. ctx is unchanged.
  // Errors (ctx unchanged, the entry left in place): kInvalidArgument for a key that is not
  // 1-128 lower-case hex characters; kResourceExhausted when ctx's cache pool has no room;
  // kIOError when the file cannot be read.
  Result<bool> Load(std::string_view key, inference::LlamaContext& ctx) const;

  // Saves ctx's current sequence as entry `key` (replacing an entry of that key and its
  // sidecars), then removes least recently used entries until all entries fit the limit. The
  // entry just stored is never evicted by its own Store.
  //   OK                  the entry is stored and can be loaded (until a later Store evicts it).
  //   kResourceExhausted  the entry alone is larger than the limit: it is not kept and nothing
  //                       else is evicted; the message gives both sizes (raise the limit to
  //                       cache this document set). Callers log it and go on.
  //   kInvalidArgument    a bad key (as Load). kIOError (or SaveCache's error) when the entry
  //                       cannot be written, e.g. a full disk: its partial files are removed.
  // Also removes temp files left by killed processes, and recreates `dir` if it was removed.
  // While it runs the dir holds the new entry on top of the others, so its peak size is the
  // limit plus one entry. An entry that cannot be evicted (a file that cannot be removed) is
  // logged and retried by the next Store; it does not fail this one.
  Status Store(std::string_view key, inference::LlamaContext& ctx) const;

  struct Stats {
    uint64_t entries = 0;      // entries with a <key>.kv file
    uint64_t bytes = 0;        // their files, sidecars included, temp files not
    uint64_t limit_bytes = 0;  // as passed to Open; 0: no limit
  };
  // A scan of the directory now (another process may change it right after). An unreadable
  // directory gives zero entries.
  Stats stats() const;

  const std::filesystem::path& dir() const { return dir_; }
  uint64_t limit_bytes() const { return limit_bytes_; }

 private:
  DocumentKvCache(std::filesystem::path dir, uint64_t limit_bytes)
      : dir_(std::move(dir)), limit_bytes_(limit_bytes) {}

  std::filesystem::path dir_;
  uint64_t limit_bytes_;
};

}  // namespace engram::agent
