// GGUF reader: the model container format of llama.cpp (versions 2 and 3).
//
// GgufFile::Open maps the file and validates everything before anything is used: every count,
// string length, dimension, offset and size is bounds-checked with overflow-safe arithmetic,
// so a truncated or hostile file yields a Status that names the field and its byte offset,
// never a crash or a huge allocation. Tensor data stays in the mapping (zero copy).
//
//   Result<std::unique_ptr<GgufFile>> gguf = GgufFile::Open("model.gguf");
//   if (!gguf.ok()) return gguf.status();
//   Result<std::string_view> arch = (*gguf)->GetString("general.architecture");
//   const GgufTensor* embd = (*gguf)->FindTensor("token_embd.weight");
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
// metadata (key string, u32 value type, value), tensor infos (name, u32 n_dims, u64 dims[n],
// u32 type, u64 offset), padding to `general.alignment` (default 32), tensor data. A string is
// u64 length + bytes; an array is u32 element type + u64 count + elements.
//
// Thread safety: a GgufFile is immutable after Open; share it freely between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mmap_file.h"
#include "common/result.h"
#include "common/status.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

// The value type ids of the GGUF specification.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "u32", "string", "array", ... ; "type#<id>" for ids outside the specification.
std::string GgufTypeName(GgufType type);

// One metadata value: a scalar, a string, or an array of scalars or strings (GGUF also
// allows arrays of arrays; llama.cpp rejects them and so do we). Strings and array elements
// point into the mapped file, so a value lives as long as its GgufFile.
class GgufValue {
 public:
  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::kArray; }
  // For arrays: the element type and count. For scalars: the type itself and 1.
  GgufType element_type() const { return is_array() ? element_type_ : type_; }
  uint64_t size() const { return is_array() ? count_ : 1; }

  // Scalar accessors. Integers convert between widths when the value fits; floats accept
  // any integer or float; a wrong type is kInvalidArgument naming both types.
  Result<uint64_t> AsUint64() const;
  Result<int64_t> AsInt64() const;
  Result<double> AsDouble() const;
  Result<bool> AsBool() const;
  Result<std::string_view> AsString() const;

  // Array accessors (also accept a scalar of the right type as a one-element array).
  Result<std::vector<std::string_view>> AsStringArray() const;
  Result<std::vector<float>> AsFloatArray() const;     // f32, f64 or integer elements
  Result<std::vector<int64_t>> AsIntArray() const;     // any integer or bool elements

  // A short human rendering: scalars in full, strings quoted and cut at `max_chars`,
  // arrays as "[<type> x <count>] <first elements>…".
  std::string ToDisplayString(size_t max_chars = 80) const;

 private:
  friend class GgufParser;
  Result<double> ElementAsDouble(uint64_t i) const;
  Result<int64_t> ElementAsInt64(uint64_t i) const;

  GgufType type_ = GgufType::kUint8;
  GgufType element_type_ = GgufType::kUint8;
  uint64_t count_ = 0;
  uint64_t scalar_bits_ = 0;         // scalars: the raw little-endian bytes, zero-extended
  std::string_view string_;          // kString scalars
  const uint8_t* elements_ = nullptr;  // numeric arrays: the packed elements (maybe unaligned)
  std::vector<std::string_view> strings_;  // string arrays
};

struct GgufMetadataEntry {
  std::string_view key;
  GgufValue value;
};

// One tensor. `shape` is in GGML order: shape[0] is the contiguous (row) dimension.
struct GgufTensor {
  std::string_view name;
  TensorType type;
  std::vector<int64_t> shape;
  uint64_t offset = 0;        // from the start of the data section
  uint64_t file_offset = 0;   // from the start of the file
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; `bytes` long

  int64_t Elements() const;
  int64_t Rows() const;  // product of shape[1..]
};

class GgufFile {
 public:
  // Maps and validates `path`. kNotFound for a missing file; kInvalidArgument for a file that
  // is not GGUF; kNotSupported for GGUF v1 or big-endian files; kCorruption for a malformed one.
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Validates bytes already in memory (which must outlive the result). `name` appears in
  // error messages. Used by the fuzzer and tests.
  static Result<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                 std::string name);

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  // Metadata in file order.
  const std::vector<GgufMetadataEntry>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;  // nullptr when absent

  // Typed lookups: kNotFound naming the key when absent, kInvalidArgument on a type mismatch.
  Result<std::string_view> GetString(std::string_view key) const;
  Result<uint64_t> GetUint64(std::string_view key) const;
  Result<double> GetDouble(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  // `general.architecture`, or kInvalidArgument if the file does not say.
  Result<std::string_view> Architecture() const;

  // Tensors in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* FindTensor(std::string_view name) const;  // nullptr when absent

 private:
  friend class GgufParser;
  GgufFile() = default;

  std::unique_ptr<MmapFile> mapping_;  // null when parsed from caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufMetadataEntry> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace engram::inference
