// Order-preserving key encodings for RocksDB keys: big-endian unsigned integers, and signed
// integers biased so that byte order equals numeric order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace engram {

inline void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

inline std::string BigEndian64(uint64_t v) {
  std::string out;
  AppendBigEndian64(out, v);
  return out;
}

// The first 8 bytes of `s` as a big-endian number (fewer bytes: the ones present).
inline uint64_t ReadBigEndian64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

// int64 -> uint64 keeping order (INT64_MIN -> 0).
inline uint64_t OrderedFromSigned(int64_t v) { return static_cast<uint64_t>(v) ^ (uint64_t{1} << 63); }
inline int64_t SignedFromOrdered(uint64_t v) { return static_cast<int64_t>(v ^ (uint64_t{1} << 63)); }

}  // namespace engram
