// Chooses between the scalar and AVX2 kernels and enforces the preconditions of kernels/quant.h.
// The checks cost a table lookup per row, nothing per element.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/cpu_features.h"
#include "kernels/internal/quant_blocks.h"
#include "kernels/quant.h"

namespace engram::kernels {

namespace {

[[noreturn]] void PreconditionFailed(const char* function, TensorType type, int64_t n,
                                     const char* what) {
  std::fprintf(stderr, "engram: %s(type=%s (%" PRIu32 "), n=%" PRId64 "): %s\n", function,
               std::string(TensorTypeName(type)).c_str(), static_cast<uint32_t>(type), n, what);
  std::abort();
}

void CheckPreconditions(const char* function, KernelIsa isa, TensorType type, int64_t n) {
  const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(type));
  if (info == nullptr || !info->supported) {
    PreconditionFailed(function, type, n, "unsupported tensor type");
  }
  if (n < 0 || n % info->block_elems != 0) {
    PreconditionFailed(function, type, n, "n is not a non-negative multiple of the block size");
  }
  if (!KernelIsaAvailable(isa)) {
    PreconditionFailed(function, type, n, "kernel ISA not available on this CPU or build");
  }
}

KernelIsa ChooseIsa() {
  const char* forced = std::getenv("ENGRAM_KERNEL_ISA");
  if (forced != nullptr && std::string_view(forced) == "scalar") return KernelIsa::kScalar;
  return KernelIsaAvailable(KernelIsa::kAvx2) ? KernelIsa::kAvx2 : KernelIsa::kScalar;
}

}  // namespace

std::string_view KernelIsaName(KernelIsa isa) {
  return isa == KernelIsa::kAvx2 ? "avx2" : "scalar";
}

bool KernelIsaAvailable(KernelIsa isa) {
  if (isa == KernelIsa::kScalar) return true;
  const CpuFeatures& f = GetCpuFeatures();
  return internal::Avx2KernelsBuilt() && f.avx2 && f.fma && f.f16c;
}

KernelIsa ActiveKernelIsa() {
  static const KernelIsa isa = ChooseIsa();
  return isa;
}

void DequantizeRowWith(KernelIsa isa, TensorType type, const void* src, float* dst, int64_t n) {
  CheckPreconditions("DequantizeRow", isa, type, n);
  if (isa == KernelIsa::kAvx2) {
    internal::DequantizeRowAvx2(type, src, dst, n);
  } else {
    internal::DequantizeRowScalar(type, src, dst, n);
  }
}

float DotRowWith(KernelIsa isa, TensorType type, const void* row, const float* x, int64_t n) {
  CheckPreconditions("DotRow", isa, type, n);
  return isa == KernelIsa::kAvx2 ? internal::DotRowAvx2(type, row, x, n)
                                 : internal::DotRowScalar(type, row, x, n);
}

void DequantizeRow(TensorType type, const void* src, float* dst, int64_t n) {
  DequantizeRowWith(ActiveKernelIsa(), type, src, dst, n);
}

float DotRow(TensorType type, const void* row, const float* x, int64_t n) {
  return DotRowWith(ActiveKernelIsa(), type, row, x, n);
}

}  // namespace engram::kernels
