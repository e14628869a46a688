#include "common/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/input_file.h"

namespace engram {

namespace {

std::string Quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

}  // namespace

Result<std::unique_ptr<MmapFile>> MmapFile::Open(const std::filesystem::path& path) {
  // Through the input layer: a FIFO cannot block the open, devices and directories are refused.
  Result<ScopedFd> fd = OpenRegularFile(path, "file");
  if (!fd.ok()) return fd.status().WithContext("mmap");
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("mmap: cannot stat " + Quoted(path), errno);
  if (st.st_size == 0) {
    return Status::InvalidArgument("mmap: " + Quoted(path) +
                                   " is empty (0 bytes); the file may be truncated or not yet "
                                   "written");
  }

  const size_t size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd->get(), 0);
  const int err = errno;
  // Closing fd (on return) is fine: the mapping keeps its own reference to the file.
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
