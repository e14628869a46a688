#include "kernels/cpu_features.h"

namespace engram::kernels {

namespace {

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  // g++ 12 has no "f16c" name for __builtin_cpu_supports; read CPUID leaf 1, ECX bit 29.
  unsigned eax = 1, ebx = 0, ecx = 0, edx = 0;
  __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  f.f16c = (ecx >> 29) & 1;
  // AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (no __builtin_cpu_supports name in g++ 12).
  eax = 0;
  ebx = ecx = edx = 0;
  __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  const unsigned max_leaf = eax;
  if (max_leaf >= 7) {
    eax = 7;
    ecx = 1;
    __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    f.avx_vnni = f.avx2 && ((eax >> 4) & 1);
    // AMX-BF16 and AMX-TILE: leaf 7, sub-leaf 0, EDX bits 22 and 24 (read from CPUID, as
    // clang 14 has no names for them in __builtin_cpu_supports).
    eax = 7;
    ecx = 0;
    __asm__("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    f.amx_bf16 = ((edx >> 22) & 1) && ((edx >> 24) & 1);
  }
#endif
  return f;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

std::string CpuFeatureString(const CpuFeatures& f) {
  std::string out;
  auto add = [&out](bool has, const char* name) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(f.sse42, "sse4.2");
  add(f.avx, "avx");
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx_vnni, "avx-vnni");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vnni, "avx512vnni");
  add(f.avx512bf16, "avx512bf16");
  add(f.amx_bf16, "amx-bf16");
  return out.empty() ? "none" : out;
}

}  // namespace engram::kernels
