#include "memory/internal/layout.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "common/json_write.h"
#include "common/key_encoding.h"

namespace engram::memory::internal {
namespace {

using json = nlohmann::json;
constexpr size_t kMaxNamespaceBytes = 128;

json EpisodeJson(const Episode& e) {
  return {{"session", e.session},
          {"role", e.role},
          {"text", e.text},
          {"timestamp_ms", e.timestamp_ms},
          {"importance", e.importance},
          {"metadata", e.metadata},
          {"expires_ms", e.expires_ms},
          {"version", e.version},
          {"sources", e.sources}};
}

}  // namespace

Status ValidateNamespace(std::string_view ns) {
  const bool ok_chars = std::all_of(ns.begin(), ns.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
           c == '@' || c == '-';
  });
  if (ns.empty() || ns.size() > kMaxNamespaceBytes || !ok_chars || ns == "." || ns == "..") {
    return Status::InvalidArgument("memory: namespace '" + std::string(ns) +
                                   "' is not 1-128 characters of A-Z a-z 0-9 . _ : @ -");
  }
  return Status::OK();
}

// Keys: every key of a namespace starts with "<ns>\0".
std::string NsPrefix(std::string_view ns) {
  std::string p(ns);
  p += '\0';
  return p;
}
std::string IdKey(std::string_view ns, uint64_t id) {
  std::string k = NsPrefix(ns);
  AppendBigEndian64(k, id);
  return k;
}
std::string SessionPrefix(std::string_view ns, std::string_view session) {
  std::string k = NsPrefix(ns);
  k += session;
  k += '\0';
  return k;
}
std::string SessionKey(std::string_view ns, std::string_view session, int64_t time, uint64_t id) {
  std::string k = SessionPrefix(ns, session);
  AppendBigEndian64(k, OrderedFromSigned(time));
  AppendBigEndian64(k, id);
  return k;
}
std::string VersionKey(std::string_view ns, uint64_t id, uint32_t version) {
  std::string k = IdKey(ns, id);
  AppendBigEndian64(k, version);
  return k;
}
std::string NsMetaKey(std::string_view ns) { return "ns/" + std::string(ns); }
std::string NextIdKey(std::string_view ns) { return "next_id/" + std::string(ns); }
// The exclusive end of a namespace's key range: "<ns>\1".
std::string NsEnd(std::string_view ns) {
  std::string k(ns);
  k += '\1';
  return k;
}

std::string EncodeFloats(std::span<const float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
std::vector<float> DecodeFloats(std::string_view s) {
  std::vector<float> v(s.size() / sizeof(float));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
  return v;
}

std::optional<Episode> DecodeEpisode(uint64_t id, std::string_view s) try {
  const json j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  Episode e;
  e.id = id;
  e.session = j.value("session", "");
  e.role = j.value("role", "");
  e.text = j.value("text", "");
  e.timestamp_ms = j.value("timestamp_ms", int64_t{0});
  e.importance = j.value("importance", 0.5);
  e.metadata = j.value("metadata", std::map<std::string, std::string>{});
  e.expires_ms = j.value("expires_ms", int64_t{0});
  e.version = j.value("version", 1u);
  e.sources = j.value("sources", std::vector<uint64_t>{});
  return e;
} catch (const json::exception&) {  // a field of the wrong type: a damaged record
  return std::nullopt;
}

// The stored form of an episode. Callers have checked it (internal::CheckEpisode: valid UTF-8,
// so JsonText replaces nothing and no data is lost).
std::string EncodeEpisode(const Episode& e) { return JsonText(EpisodeJson(e)); }

}  // namespace engram::memory::internal
