// Which accelerators this build can use. CUDA is optional at build time (ENGRAM_CUDA) and at run
// time (a CUDA build runs fine, CPU-only, on a machine without a GPU).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace engram::kernels {

// True when this binary contains the CUDA kernels.
bool CudaCompiled();

// "80,90": the GPU architectures compiled for; empty without CUDA.
std::string CudaArchitectures();

struct GpuDevice {
  int index = 0;
  std::string name;  // "NVIDIA H100 80GB HBM3"
  uint64_t total_memory_bytes = 0;
  int compute_capability_major = 0;
  int compute_capability_minor = 0;
};

struct GpuProbe {
  std::vector<GpuDevice> devices;  // empty when none is usable
  std::string driver_version;      // "13.0" when a driver answered, else empty
  std::string reason;              // why `devices` is empty: "built without CUDA", the CUDA error
};

// Asks the CUDA runtime which GPUs are visible. Never fails: an absent driver or GPU is
// reported in `reason`. Thread-safe.
GpuProbe ProbeGpus();

}  // namespace engram::kernels
