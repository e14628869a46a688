// Small measurement helpers shared by the benchmarks: percentiles, process memory, disk usage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace engram::bench {

// The q-quantile (0 <= q <= 1) of `v` by the nearest-rank rule; 0 for an empty vector.
double Percentile(std::vector<double> v, double q);

// This process's resident set now and at its peak (VmRSS and VmHWM of /proc/self/status), in
// bytes; 0 where /proc is unavailable.
uint64_t ResidentBytes();
uint64_t PeakResidentBytes();

// Bytes of the regular files under `path` (recursively); 0 when it does not exist.
uint64_t DiskBytes(const std::string& path);

}  // namespace engram::bench
