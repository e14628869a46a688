// kernels/device.h for builds with CUDA.
#include <cuda_runtime_api.h>

#include "kernels/device.h"

#ifndef ENGRAM_CUDA_ARCHITECTURES
#error "ENGRAM_CUDA_ARCHITECTURES must be defined by kernels/CMakeLists.txt"
#endif

namespace engram::kernels {

bool CudaCompiled() { return true; }

std::string CudaArchitectures() { return ENGRAM_CUDA_ARCHITECTURES; }

GpuProbe ProbeGpus() {
  GpuProbe probe;
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) {
    probe.driver_version = std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10);
  }
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    probe.reason = std::string(cudaGetErrorString(err)) + " (" + cudaGetErrorName(err) + ")";
    return probe;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    probe.devices.push_back(GpuDevice{i, prop.name, prop.totalGlobalMem, prop.major, prop.minor});
  }
  if (probe.devices.empty()) probe.reason = "no CUDA device is visible";
  return probe;
}

}  // namespace engram::kernels
