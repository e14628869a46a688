// CreateCudaForward for builds without CUDA.
#include "inference/internal/cuda_forward.h"

namespace engram::inference::internal {

Result<std::unique_ptr<CudaForward>> CreateCudaForward(std::shared_ptr<const LlamaModel>,
                                                       const ContextOptions&,
                                                       const PagedKvCache&) {
  return Status::Unavailable(
      "cuda: this engram was built without CUDA (configure with -DENGRAM_CUDA=ON where nvcc is "
      "installed)");
}

}  // namespace engram::inference::internal
