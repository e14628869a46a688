// SHA-256 (FIPS 180-4), used to verify model files against scripts/models.lock. None of
// engram's chosen dependencies exposes a hash, and the algorithm is small and fully specified;
// the tests pin it to the NIST example vectors and to sha256sum.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace engram {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
  }
  // Returns the digest. The object must not be updated afterwards (create a new one).
  Digest Finish();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex, 64 characters.
std::string ToHex(const Sha256::Digest& digest);

// The hex SHA-256 of a string.
std::string Sha256Hex(std::string_view data);

// The hex SHA-256 of a file's contents, read in blocks. Errors name the file.
Result<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace engram
