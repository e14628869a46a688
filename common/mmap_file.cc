#include "common/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace engram {

namespace {

std::string Quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

}  // namespace

Result<std::unique_ptr<MmapFile>> MmapFile::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("mmap: cannot open " + Quoted(path), errno);

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus("mmap: cannot stat " + Quoted(path), err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(
        "mmap: " + Quoted(path) +
        (S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file") + "; expected a file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status::InvalidArgument("mmap: " + Quoted(path) +
                                   " is empty (0 bytes); the file may be truncated or not yet "
                                   "written");
  }

  const size_t size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (addr == MAP_FAILED) return ErrnoStatus("mmap: cannot map " + Quoted(path), err);

  return std::unique_ptr<MmapFile>(new MmapFile(path, static_cast<const uint8_t*>(addr), size));
}

MmapFile::~MmapFile() { ::munmap(const_cast<uint8_t*>(data_), size_); }

void MmapFile::Prefetch(size_t offset, size_t length) const {
  if (offset >= size_) return;
  if (length > size_ - offset) length = size_ - offset;
  // madvise needs a page-aligned start.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t aligned = offset & ~(page - 1);
  (void)::madvise(const_cast<uint8_t*>(data_) + aligned, length + (offset - aligned),
                  MADV_WILLNEED);
}

}  // namespace engram
