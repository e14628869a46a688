#include "common/machine_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace engram {

namespace {

std::string CpuModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        const size_t start = line.find_first_not_of(' ', colon + 1);
        if (start != std::string::npos) return line.substr(start);
      }
    }
  }
  return "unknown";
}

}  // namespace

MachineInfo DescribeMachine() {
  MachineInfo info;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) info.hostname = host;
  info.cpu_model = CpuModelName();
  info.hardware_threads = std::thread::hardware_concurrency();
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) info.memory_bytes = uint64_t(pages) * uint64_t(page_size);
  struct utsname uts {};
  if (::uname(&uts) == 0) info.kernel = std::string(uts.sysname) + " " + uts.release;
  return info;
}

std::string MachineSummary(const MachineInfo& machine) {
  return machine.cpu_model + ", " + std::to_string(machine.hardware_threads) + " threads, " +
         FormatBytes(machine.memory_bytes);
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
    // "1 MiB", not "1.0 MiB": limits are usually whole.
    std::string text(buf);
    const size_t zero = text.find(".0 ");
    if (zero != std::string::npos) text.erase(zero, 2);
    return text;
  }
  return buf;
}

}  // namespace engram
