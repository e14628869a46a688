// Little-endian fixed-size fields in byte strings, for the binary files engram writes (KV cache
// files, key index sidecars, serialized key indexes): append on write, read back with bounds
// checks on read.
//
//   std::string out;
//   AppendPod<uint32_t>(&out, kVersion);
//   ByteReader in(bytes);
//   const uint32_t version = in.Get<uint32_t>();
//   if (!in.ok()) return Status::Corruption("truncated");
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace engram {

static_assert(std::endian::native == std::endian::little, "engram's files are little-endian");

template <typename T>
void AppendPod(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
void AppendArray(std::string* out, const T* data, size_t n) {
  out->append(reinterpret_cast<const char*>(data), n * sizeof(T));
}

// Reads fields from the front of a byte span; ok() turns false (and stays false) past the end or
// on a bad count, and every read after that returns zeros.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  template <typename T>
  T Get() {
    T value{};
    if (!ok_ || sizeof(T) > bytes_.size() - pos_) {
      ok_ = false;
      return value;
    }
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  // n values of T into `out` (resized); a negative or overlong n fails.
  template <typename T>
  void GetArray(int64_t n, std::vector<T>* out) {
    if (!ok_ || n < 0 || static_cast<uint64_t>(n) > (bytes_.size() - pos_) / sizeof(T)) {
      ok_ = false;
      out->clear();
      return;
    }
    out->resize(static_cast<size_t>(n));
    std::memcpy(out->data(), bytes_.data() + pos_, static_cast<size_t>(n) * sizeof(T));
    pos_ += static_cast<size_t>(n) * sizeof(T);
  }
  // The next n bytes as text (a view into the span).
  std::string_view Text(size_t n) {
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view t(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return t;
  }
  void Fail() { ok_ = false; }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == bytes_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace engram
