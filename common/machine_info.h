// A description of the machine engram runs on, for `engram info` and for the "machine" field of
// benchmark and eval output (figures are only comparable on the same machine).
#pragma once

#include <cstdint>
#include <string>

namespace engram {

struct MachineInfo {
  std::string hostname;
  std::string cpu_model;  // from /proc/cpuinfo "model name"; "unknown" if absent
  unsigned hardware_threads = 0;
  uint64_t memory_bytes = 0;  // physical memory
  std::string kernel;         // "Linux 6.1.0-18-amd64"
};

MachineInfo DescribeMachine();

// "AMD EPYC 9454 48-Core Processor, 2 threads, 23.4 GiB": one line for tables and logs.
std::string MachineSummary(const MachineInfo& machine);

// "1.5 GiB", "93.8 MiB", "1 MiB", "612 B": binary units, one decimal unless it is 0.
std::string FormatBytes(uint64_t bytes);

}  // namespace engram
