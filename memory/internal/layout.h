// How the episodic store lays out its data in RocksDB (private to memory/): column families,
// keys, and the stored form of episodes and embeddings. docs/formats/episodic_store.md is the
// specification; keys use common/key_encoding.h, so ids and times sort numerically.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "memory/episodic_store.h"

namespace engram::memory::internal {

// Column families, in the order Open gives their handles.
enum Cf { kMeta = 0, kEpisodes, kSessions, kEmbeddings, kVersions, kPostings, kTerms, kCfCount };
inline constexpr const char* kCfNames[kCfCount] = {"default",  "episodes", "sessions", "embeddings",
                                                   "versions", "postings", "terms"};

// [A-Za-z0-9._:@-]{1,128}, not "." or "..": kInvalidArgument otherwise.
Status ValidateNamespace(std::string_view ns);

// Every key of a namespace starts with "<ns>\0" (NsPrefix); NsEnd is the range's exclusive end.
std::string NsPrefix(std::string_view ns);
std::string NsEnd(std::string_view ns);
std::string IdKey(std::string_view ns, uint64_t id);                       // <ns>\0<id>
std::string SessionPrefix(std::string_view ns, std::string_view session);  // <ns>\0<session>\0
std::string SessionKey(std::string_view ns, std::string_view session, int64_t time, uint64_t id);
std::string VersionKey(std::string_view ns, uint64_t id, uint32_t version);
// Default column family records of a namespace.
std::string NsMetaKey(std::string_view ns);  // "ns/<ns>"
std::string NextIdKey(std::string_view ns);  // "next_id/<ns>"

// Embeddings: float32 × dim, host (little-endian) order.
std::string EncodeFloats(std::span<const float> v);
std::vector<float> DecodeFloats(std::string_view s);

// The stored form of an episode (JSON, without id and embedding). Callers have checked it
// (CheckEpisode: valid UTF-8, so nothing is replaced). Decoding a damaged record is nullopt.
std::string EncodeEpisode(const Episode& e);
std::optional<Episode> DecodeEpisode(uint64_t id, std::string_view s);

}  // namespace engram::memory::internal
