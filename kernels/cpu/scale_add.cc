#include "kernels/scale_add.h"

namespace engram::kernels {

void ScaleAddCpu(const ScaleAddParams& p) {
  for (size_t i = 0; i < p.n; ++i) p.y[i] = p.alpha * p.x[i] + p.y[i];
}

}  // namespace engram::kernels
