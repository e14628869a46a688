// The one way engram reads a file or standard input it was handed (models, documents, eval
// data, configs, prompts). Every read here
//   - opens without blocking (a FIFO with no writer cannot hang the process) and refuses
//     anything but a regular file: directories, FIFOs, sockets and devices such as /dev/zero,
//     also when reached through a symlink;
//   - is bounded: a file or a stream larger than the caller's limit is an error that names the
//     limit, never an allocation that grows without end.
// Errors are kInvalidArgument (wrong kind of file, too large), kNotFound or kIOError, and their
// messages read "<what> '<path>': <what was wrong>; <what to do>".
//
//   Result<std::string> text = ReadInput(flags.file, kMaxDocumentBytes, "document");
//   Result<ScopedFd> fd = OpenRegularFile(path, "model file");   // for mmap or streaming
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace engram {

// Size limits for the inputs engram reads whole. A caller with a tighter contract (a 1 MiB
// memory text) passes its own.
inline constexpr uint64_t kMaxDocumentBytes = uint64_t{256} << 20;  // one document to ingest
inline constexpr uint64_t kMaxTextInputBytes = uint64_t{256} << 20;  // a prompt, text to tokenize
inline constexpr uint64_t kMaxJsonFileBytes = uint64_t{1} << 30;     // eval data, configs

// An owned file descriptor, closed on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();

  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Opens `path` read-only if it is a regular file (after following symlinks). The descriptor
// is in blocking mode. `what` names the role in messages ("model file", "document").
Result<ScopedFd> OpenRegularFile(const std::filesystem::path& path, std::string_view what);

// The size of a regular file opened by OpenRegularFile.
Result<uint64_t> FileSize(int fd, const std::filesystem::path& path, std::string_view what);

// Reads the whole regular file at `path`; larger than `max_bytes` is kInvalidArgument.
Result<std::string> ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes,
                                    std::string_view what);

// Reads a descriptor (a pipe, a terminal, a file) to its end, at most `max_bytes`; more is
// kInvalidArgument. `source` names it in messages ("standard input").
Result<std::string> ReadStreamBounded(int fd, uint64_t max_bytes, std::string_view what,
                                      std::string_view source);

// "-" reads standard input, anything else ReadFileBounded.
Result<std::string> ReadInput(const std::string& path_or_dash, uint64_t max_bytes,
                              std::string_view what);

}  // namespace engram
