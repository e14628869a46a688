// Scalar vs AVX2 speed of the quantized row kernels (kernels/quant.h), per tensor type:
// DotRow (a 4096-element row against an f32 vector, 16 rows so the data stays in L2) and
// DequantizeRow. Google Benchmark; run with --benchmark_repetitions=5 and read the medians.
//   build/bin/engram_quant_kernels_bench --benchmark_repetitions=5
//                                        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/half.h"
#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace engram::kernels {
namespace {

constexpr int64_t kRowElems = 4096;
constexpr int kRows = 16;

constexpr TensorType kTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,
                                 TensorType::kQ8_0, TensorType::kQ4_0, TensorType::kQ4_1,
                                 TensorType::kQ5_0, TensorType::kQ5_1, TensorType::kQ4_K,
                                 TensorType::kQ5_K, TensorType::kQ6_K};

// Random bytes, with every f16 scale field made a small finite value: a valid row for any
// type (the kernels' speed does not depend on the values).
std::vector<uint8_t> RandomRows(TensorType type, std::mt19937& rng) {
  const int64_t row_bytes = *TensorRowBytes(type, kRowElems);
  std::vector<uint8_t> bytes(static_cast<size_t>(row_bytes * kRows));
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  if (type == TensorType::kF32) {
    auto* f = reinterpret_cast<float*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 4; ++i) f[i] = static_cast<float>(rng() % 1000) / 500.f;
  } else if (type == TensorType::kF16 || type == TensorType::kBF16) {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 2; ++i) {
      const float v = static_cast<float>(rng() % 1000) / 500.f;
      h[i] = type == TensorType::kF16 ? Fp32ToFp16(v) : Fp32ToBf16(v);
    }
  } else {
    // Legacy and K blocks start with f16 scales (K: d and dmin first; Q6_K ends with d).
    const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(type));
    for (size_t at = 0; at + info->block_bytes <= bytes.size(); at += info->block_bytes) {
      const uint16_t scale = Fp32ToFp16(0.01f);
      if (type == TensorType::kQ6_K) {
        std::memcpy(&bytes[at + info->block_bytes - 2], &scale, 2);
      } else {
        std::memcpy(&bytes[at], &scale, 2);
        if (type != TensorType::kQ8_0 && type != TensorType::kQ4_0 && type != TensorType::kQ5_0) {
          std::memcpy(&bytes[at + 2], &scale, 2);  // the min / dmin field
        }
      }
    }
  }
  return bytes;
}

void BM_Dot(benchmark::State& state, TensorType type, KernelIsa isa) {
  if (!KernelIsaAvailable(isa)) {
    state.SkipWithError("ISA not available on this CPU");
    return;
  }
  std::mt19937 rng(1);
  const std::vector<uint8_t> rows = RandomRows(type, rng);
  std::vector<float> x(kRowElems);
  for (float& v : x) v = static_cast<float>(rng() % 1000) / 1000.f;
  const int64_t row_bytes = *TensorRowBytes(type, kRowElems);
  for (auto _ : state) {
    float sum = 0;
    for (int r = 0; r < kRows; ++r) {
      sum += DotRowWith(isa, type, rows.data() + r * row_bytes, x.data(), kRowElems);
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * kRows * kRowElems);
  state.SetBytesProcessed(state.iterations() * kRows * row_bytes);
}

void BM_Dequantize(benchmark::State& state, TensorType type, KernelIsa isa) {
  if (!KernelIsaAvailable(isa)) {
    state.SkipWithError("ISA not available on this CPU");
    return;
  }
  std::mt19937 rng(2);
  const std::vector<uint8_t> rows = RandomRows(type, rng);
  std::vector<float> out(kRowElems);
  const int64_t row_bytes = *TensorRowBytes(type, kRowElems);
  for (auto _ : state) {
    for (int r = 0; r < kRows; ++r) {
      DequantizeRowWith(isa, type, rows.data() + r * row_bytes, out.data(), kRowElems);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * kRows * kRowElems);
}

int RegisterAll() {
  for (TensorType type : kTypes) {
    const std::string name(TensorTypeName(type));
    for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2}) {
      const std::string suffix = name + "/" + std::string(KernelIsaName(isa));
      benchmark::RegisterBenchmark(("dot/" + suffix).c_str(), BM_Dot, type, isa);
      benchmark::RegisterBenchmark(("dequantize/" + suffix).c_str(), BM_Dequantize, type, isa);
    }
  }
  return 0;
}
const int registered = RegisterAll();

}  // namespace
}  // namespace engram::kernels

BENCHMARK_MAIN();
