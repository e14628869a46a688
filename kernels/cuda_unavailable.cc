// kernels/device.h and the CUDA entry points for builds without CUDA (ENGRAM_CUDA=OFF, or AUTO
// without nvcc): everything reports that CUDA is absent, so callers take the CPU path.
#include "kernels/device.h"
#include "kernels/scale_add.h"

namespace engram::kernels {

namespace {
constexpr const char* kNotBuilt =
    "engram was built without CUDA (configure with -DENGRAM_CUDA=ON or AUTO on a machine with "
    "nvcc)";
}  // namespace

bool CudaCompiled() { return false; }

std::string CudaArchitectures() { return ""; }

GpuProbe ProbeGpus() {
  GpuProbe probe;
  probe.reason = kNotBuilt;
  return probe;
}

Status ScaleAddCuda(const ScaleAddParams&, int) { return Status::NotSupported(kNotBuilt); }

}  // namespace engram::kernels
