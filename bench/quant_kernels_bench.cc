// Scalar vs AVX2 speed of the quantized row kernels (kernels/quant.h), per tensor type:
// DotRow (a 4096-element row against an f32 vector, 16 rows so the data stays in L2) and
// DequantizeRow; and MatMulRows (kernels/matmul.h, the dispatched path) on the layer shapes of a
// small model (k=640 rows=2048 and k=2048 rows=640, n=1 decode and n=64 prefill), reported as
// GFLOP/s (2·k·rows·n per iteration, activation preparation included).
// Google Benchmark; run with --benchmark_repetitions=5 and read the medians.
//   build/bin/engram_quant_kernels_bench --benchmark_repetitions=5
//                                        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/half.h"
#include "kernels/matmul.h"
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
std::vector<uint8_t> RandomRows(TensorType type, std::mt19937& rng, int64_t row_elems = kRowElems,
                                int64_t rows = kRows) {
  const int64_t row_bytes = *TensorRowBytes(type, row_elems);
  std::vector<uint8_t> bytes(static_cast<size_t>(row_bytes * rows));
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

void BM_MatMul(benchmark::State& state, TensorType type, int64_t k, int64_t rows, int64_t n) {
  std::mt19937 rng(3);
  const std::vector<uint8_t> w = RandomRows(type, rng, k, rows);
  const size_t row_bytes = static_cast<size_t>(*TensorRowBytes(type, k));
  std::vector<float> x(static_cast<size_t>(n * k));
  for (float& v : x) v = static_cast<float>(rng() % 1000) / 500.f - 1.0f;
  std::vector<uint8_t> acts(static_cast<size_t>(n) * ActivationRowBytes(type, k));
  std::vector<float> y(static_cast<size_t>(n * rows));
  for (auto _ : state) {
    PrepareActivations(type, x.data(), n, k, static_cast<size_t>(k), acts.data());
    MatMulRows(type, w.data(), row_bytes, k, acts.data(), n, 0, rows, y.data(),
               static_cast<size_t>(rows));
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(2 * k * rows * n) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

int RegisterAll() {
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0, TensorType::kQ5_0,
                          TensorType::kQ4_K, TensorType::kQ6_K}) {
    for (auto [k, rows] : {std::pair<int64_t, int64_t>{640, 2048}, {2048, 640}}) {
      // K-quant rows are whole 256-element super-blocks: no k=640 for those.
      if (k % FindTensorType(static_cast<uint32_t>(type))->block_elems != 0) continue;
      for (int64_t n : {1, 64}) {
        const std::string name = "matmul/" + std::string(TensorTypeName(type)) + "/k" +
                                 std::to_string(k) + "_rows" + std::to_string(rows) + "/n" +
                                 std::to_string(n);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, type, k, rows, n);
      }
    }
  }
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
