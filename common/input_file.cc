#include "common/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/machine_info.h"

namespace engram {

namespace {

std::string Named(std::string_view what, const std::filesystem::path& path) {
  return std::string(what) + " '" + path.string() + "'";
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

Status TooLarge(std::string_view what, std::string_view source, uint64_t max_bytes) {
  return Status::InvalidArgument(std::string(what) + " " + std::string(source) +
                                 ": larger than the limit of " + FormatBytes(max_bytes) +
                                 "; split it or pass a smaller input");
}

}  // namespace

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<ScopedFd> OpenRegularFile(const std::filesystem::path& path, std::string_view what) {
  if (path.empty()) {
    return Status::InvalidArgument(std::string(what) + ": the path is empty; name a file");
  }
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever. It is cleared
  // below once the descriptor is known to be a regular file.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) return ErrnoStatus("cannot open " + Named(what, path), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat " + Named(what, path), errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(Named(what, path) + " is " + KindOf(st.st_mode) +
                                   "; expected a regular file");
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return ErrnoStatus("cannot set blocking mode on " + Named(what, path), errno);
  }
  return fd;
}

Result<uint64_t> FileSize(int fd, const std::filesystem::path& path, std::string_view what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus("cannot stat " + Named(what, path), errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> ReadStreamBounded(int fd, uint64_t max_bytes, std::string_view what,
                                      std::string_view source) {
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("reading " + std::string(what) + " " + std::string(source), errno);
    }
    if (got == 0) return bytes;
    if (bytes.size() + static_cast<uint64_t>(got) > max_bytes) {
      return TooLarge(what, source, max_bytes);
    }
    bytes.append(buffer, static_cast<size_t>(got));
  }
}

Result<std::string> ReadFileBounded(const std::filesystem::path& path, uint64_t max_bytes,
                                    std::string_view what) {
  Result<ScopedFd> fd = OpenRegularFile(path, what);
  if (!fd.ok()) return fd.status();
  Result<uint64_t> size = FileSize(fd->get(), path, what);
  if (!size.ok()) return size.status();
  const std::string source = "'" + path.string() + "'";
  if (*size > max_bytes) return TooLarge(what, source, max_bytes);
  // The size is a hint only (files in /proc report 0, a file may grow while read): the read
  // itself is bounded.
  return ReadStreamBounded(fd->get(), max_bytes, what, source);
}

Result<std::string> ReadInput(const std::string& path_or_dash, uint64_t max_bytes,
                              std::string_view what) {
  if (path_or_dash == "-") {
    return ReadStreamBounded(STDIN_FILENO, max_bytes, what, "from standard input");
  }
  return ReadFileBounded(path_or_dash, max_bytes, what);
}

}  // namespace engram
