#include <cuda_runtime.h>

#include "kernels/cuda/cuda_status.h"
#include "kernels/scale_add.h"

namespace engram::kernels {

namespace {

constexpr int kThreadsPerBlock = 256;

__global__ void ScaleAddKernel(const float* __restrict__ x, float* __restrict__ y, size_t n,
                               float alpha) {
  // Grid-stride loop: any n works with a bounded grid.
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    y[i] = alpha * x[i] + y[i];
  }
}

// Device buffers freed on every exit path.
struct DeviceBuffer {
  float* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

}  // namespace

Status ScaleAddCuda(const ScaleAddParams& p, int device) {
  int count = 0;
  if (Status s = ENGRAM_CUDA_CHECK(cudaGetDeviceCount(&count)); !s.ok()) {
    return Status::Unavailable("no usable CUDA device: " + s.ToString());
  }
  if (device < 0 || device >= count) {
    return Status::Unavailable("CUDA device " + std::to_string(device) + " does not exist (" +
                               std::to_string(count) + " visible)");
  }
  if (p.n == 0) return Status::OK();

  Status s = ENGRAM_CUDA_CHECK(cudaSetDevice(device));
  if (!s.ok()) return s;
  const size_t bytes = p.n * sizeof(float);
  DeviceBuffer x, y;
  if (s = ENGRAM_CUDA_CHECK(cudaMalloc(&x.ptr, bytes)); !s.ok()) return s;
  if (s = ENGRAM_CUDA_CHECK(cudaMalloc(&y.ptr, bytes)); !s.ok()) return s;
  if (s = ENGRAM_CUDA_CHECK(cudaMemcpy(x.ptr, p.x, bytes, cudaMemcpyHostToDevice)); !s.ok())
    return s;
  if (s = ENGRAM_CUDA_CHECK(cudaMemcpy(y.ptr, p.y, bytes, cudaMemcpyHostToDevice)); !s.ok())
    return s;

  const size_t wanted_blocks = (p.n + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const unsigned blocks = static_cast<unsigned>(wanted_blocks < 65535 ? wanted_blocks : 65535);
  ScaleAddKernel<<<blocks, kThreadsPerBlock>>>(x.ptr, y.ptr, p.n, p.alpha);
  if (s = ENGRAM_CUDA_CHECK(cudaGetLastError()); !s.ok()) return s;
  // A synchronous copy waits for the kernel; y on the host changes only if everything worked.
  return ENGRAM_CUDA_CHECK(cudaMemcpy(p.y, y.ptr, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace engram::kernels
