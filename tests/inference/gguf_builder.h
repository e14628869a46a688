// GgufBuilder: writes GGUF bytes field by field, so tests can make valid files and every kind
// of broken one (wrong counts, lengths, types, offsets) without a peer tool.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace engram::inference::testing {

class GgufBuilder {
 public:
  std::vector<uint8_t> bytes;

  GgufBuilder& Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
  }
  GgufBuilder& U8(uint8_t v) { return Raw(&v, 1); }
  GgufBuilder& U32(uint32_t v) { return Raw(&v, 4); }
  GgufBuilder& U64(uint64_t v) { return Raw(&v, 8); }
  GgufBuilder& I32(int32_t v) { return Raw(&v, 4); }
  GgufBuilder& F32(float v) { return Raw(&v, 4); }
  GgufBuilder& Str(std::string_view s) {
    U64(s.size());
    return Raw(s.data(), s.size());
  }
  GgufBuilder& Header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    Raw("GGUF", 4);
    U32(version);
    U64(tensors);
    return U64(kvs);
  }
  // Metadata entries (value type ids from the GGUF spec).
  GgufBuilder& KvU32(std::string_view key, uint32_t v) { return Str(key).U32(4).U32(v); }
  GgufBuilder& KvI32(std::string_view key, int32_t v) { return Str(key).U32(5).I32(v); }
  GgufBuilder& KvF32(std::string_view key, float v) { return Str(key).U32(6).F32(v); }
  GgufBuilder& KvBool(std::string_view key, bool v) { return Str(key).U32(7).U8(v ? 1 : 0); }
  GgufBuilder& KvStr(std::string_view key, std::string_view v) { return Str(key).U32(8).Str(v); }
  GgufBuilder& KvStrArray(std::string_view key, const std::vector<std::string>& v) {
    Str(key).U32(9).U32(8).U64(v.size());
    for (const std::string& s : v) Str(s);
    return *this;
  }
  GgufBuilder& KvI32Array(std::string_view key, const std::vector<int32_t>& v) {
    Str(key).U32(9).U32(5).U64(v.size());
    for (int32_t x : v) I32(x);
    return *this;
  }
  GgufBuilder& KvF32Array(std::string_view key, const std::vector<float>& v) {
    Str(key).U32(9).U32(6).U64(v.size());
    for (float x : v) F32(x);
    return *this;
  }
  // A tensor info; `type` is the GGML type id.
  GgufBuilder& Tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type,
                      uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  GgufBuilder& PadTo(size_t alignment) {
    while (bytes.size() % alignment != 0) U8(0);
    return *this;
  }
  GgufBuilder& Zeros(size_t n) {
    bytes.resize(bytes.size() + n, 0);
    return *this;
  }
};

}  // namespace engram::inference::testing
