#include "bench/stats.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace engram::bench {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

namespace {
// The value of a "Key:   123 kB" line of /proc/self/status, in bytes.
uint64_t ProcStatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1)) * 1024;
  }
  return 0;
}
}  // namespace

uint64_t ResidentBytes() { return ProcStatusBytes("VmRSS"); }
uint64_t PeakResidentBytes() { return ProcStatusBytes("VmHWM"); }

uint64_t DiskBytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

}  // namespace engram::bench
