// The SIMD instruction sets of the CPU we run on, detected once. Kernels with an AVX2/FMA path
// pick it at run time from here and fall back to the scalar reference otherwise.
#pragma once

#include <string>

namespace engram::kernels {

struct CpuFeatures {
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;  // vdpbf16ps
  bool amx_bf16 = false;    // AMX tiles with tdpbf16ps (the OS must also grant the state)
  bool avx_vnni = false;  // VEX-encoded vpdpbusd on 256-bit vectors
};

const CpuFeatures& GetCpuFeatures();

// "avx2 fma f16c": the detected features, space-separated.
std::string CpuFeatureString(const CpuFeatures& features);

}  // namespace engram::kernels
