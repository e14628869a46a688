// A read-only memory map of a whole file: GGUF and safetensors weights stay mapped in their
// on-disk types instead of being copied into memory.
//
//   Result<std::unique_ptr<MmapFile>> file = MmapFile::Open("model.gguf");
//   if (!file.ok()) return file.status();   // "mmap: cannot open 'model.gguf': No such file..."
//   std::span<const uint8_t> bytes = (*file)->bytes();
//
// The mapping lives as long as the MmapFile; pointers into it dangle afterwards. The object is
// immutable once opened, so any number of threads may read it concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "common/result.h"

namespace engram {

class MmapFile {
 public:
  // Maps `path` read-only. Errors: kNotFound (no such file), kInvalidArgument (a directory or
  // other non-regular file, or an empty file: there is nothing to map), kIOError (open/mmap
  // refused, e.g. permissions).
  static Result<std::unique_ptr<MmapFile>> Open(const std::filesystem::path& path);

  ~MmapFile();
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

  // Asks the kernel to read [offset, offset + length) ahead of use (madvise WILLNEED).
  // Out-of-range parts are clipped; a refusal is harmless and ignored.
  void Prefetch(size_t offset, size_t length) const;

 private:
  MmapFile(std::filesystem::path path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::filesystem::path path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace engram
