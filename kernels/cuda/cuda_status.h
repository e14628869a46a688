// Turning CUDA runtime errors into Status. Internal to kernels/cuda.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/status.h"

namespace engram::kernels::internal {

// OK for cudaSuccess; otherwise an error naming the call, the CUDA error and file:line.
// Out-of-memory maps to kResourceExhausted, a missing device or driver to kUnavailable.
inline Status CudaStatus(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return Status::OK();
  std::string msg = std::string("cuda: ") + call + " failed: " + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line);
  switch (err) {
    case cudaErrorMemoryAllocation:
      return Status::ResourceExhausted(msg);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
      return Status::Unavailable(msg);
    default:
      return Status::Internal(msg);
  }
}

}  // namespace engram::kernels::internal

// Evaluates a CUDA runtime call and yields its Status (it does not return from the caller).
#define ENGRAM_CUDA_CHECK(call) \
  ::engram::kernels::internal::CudaStatus((call), #call, __FILE__, __LINE__)
