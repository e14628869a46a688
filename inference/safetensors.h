// A reader for safetensors files (Hugging Face's weight format): an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw data.
// The file is memory-mapped and tensors point into it.
//
//   Result<std::unique_ptr<SafetensorsFile>> st = SafetensorsFile::Open("model.safetensors");
//   const SafetensorsTensor* w = (*st)->Find("embeddings.word_embeddings.weight");
//   // w->dtype == SafetensorsDtype::kF32, w->shape == {30522, 384}, w->data
//
// Everything is validated before use: the header length against the file, the JSON, every dtype
// and shape, every byte range (inside the data, exactly shape × dtype size, no overlaps). A bad
// file gives one Status naming the field and the file, never a crash.
//
// Thread safety: immutable after Open.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/mmap_file.h"
#include "common/result.h"

namespace engram::inference {

enum class SafetensorsDtype { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64 };

std::string_view SafetensorsDtypeName(SafetensorsDtype dtype);
size_t SafetensorsDtypeSize(SafetensorsDtype dtype);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // row-major, outermost first (PyTorch order)
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;

  int64_t Elements() const;
};

class SafetensorsFile {
 public:
  // kNotFound for a missing file; kCorruption for a malformed one; kNotSupported for an unknown
  // dtype.
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Validates bytes already in memory (which must outlive the result); `name` appears in errors.
  static Result<std::unique_ptr<SafetensorsFile>> Parse(std::span<const uint8_t> bytes,
                                                        std::string name);

  const std::string& path() const { return name_; }
  // Tensors in order of their data offsets.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(std::string_view name) const;  // nullptr when absent
  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;

  std::unique_ptr<MmapFile> mapping_;
  std::string name_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace engram::inference
