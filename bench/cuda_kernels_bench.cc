// Speed of the CUDA kernels of kernels/cuda/ops.h on the device, against its memory roofline:
//   - MatVec (n = 1) on a 4096×4096 weight in each GGUF type: GB/s of weight bytes read;
//   - MatMulTensorCores (q4_0, f16; n = 32 and 512): TFLOP/s;
//   - AttendDecode (one query row; 32/8 heads of 128 and the default model's 9/3 heads of 64):
//     GB/s of keys and values read, at 8K to 128K positions;
//   - AttendPrefill (512 rows at the end of an 8192-position context, causal): time, TFLOP/s.
// Each figure is the median of 20 timed launches after 3 warm-ups, timed with CUDA events
// around the single launch. Before each launch the L2 cache is flushed (a memset of twice its
// size), so small operands (a 9 MiB q4_0 matrix fits in an H100's 50 MiB L2) are read from
// memory as in a real forward pass, where the other layers' weights evict them.
//
//   build/bin/engram_cuda_kernels_bench > cuda_kernels.json   # table on stderr
//
// Without a GPU it says so on stderr and exits with 2.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device.h"
#include "kernels/half.h"
#include "kernels/tensor_type.h"

namespace engram::kernels::cuda {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kWarmups = 3;
constexpr int kSamples = 20;

Status Check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::OK();
  return Status::Internal(std::string("cuda: ") + what + ": " + cudaGetErrorString(err));
}

// A device buffer holding a copy of `host`.
template <typename T>
Result<DeviceBuffer> Upload(const std::vector<T>& host) {
  Result<DeviceBuffer> buffer = DeviceBuffer::Allocate(sizeof(T) * host.size());
  if (!buffer.ok()) return buffer;
  if (Status s = CopyToDevice(buffer->data(), host.data(), sizeof(T) * host.size()); !s.ok()) {
    return s;
  }
  return buffer;
}

// Times single launches on one stream with CUDA events, flushing L2 before each.
class Timer {
 public:
  static Result<Timer> Create(const DeviceInfo& info) {
    Timer t;
    Result<StreamHandle> stream = StreamHandle::Create();
    if (!stream.ok()) return stream.status();
    t.stream_ = std::move(*stream);
    int l2_bytes = 0;
    if (Status s = Check(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, info.index),
                         "L2 size");
        !s.ok()) {
      return s;
    }
    Result<DeviceBuffer> flush = DeviceBuffer::Allocate(2 * static_cast<size_t>(l2_bytes));
    if (!flush.ok()) return flush.status();
    t.flush_ = std::move(*flush);
    if (Status s = Check(cudaEventCreate(&t.start_), "event"); !s.ok()) return s;
    if (Status s = Check(cudaEventCreate(&t.stop_), "event"); !s.ok()) return s;
    return t;
  }
  Timer() = default;
  Timer(Timer&& o) noexcept { *this = std::move(o); }
  Timer& operator=(Timer&& o) noexcept {
    std::swap(stream_, o.stream_);
    std::swap(flush_, o.flush_);
    std::swap(start_, o.start_);
    std::swap(stop_, o.stop_);
    return *this;
  }
  ~Timer() {
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stop_ != nullptr) cudaEventDestroy(stop_);
  }

  Stream stream() const { return stream_.get(); }

  // The median seconds of one launch(stream()), or the first error a launch caused.
  template <typename Launch>
  Result<double> Median(Launch launch) {
    for (int i = 0; i < kWarmups; ++i) launch(stream());
    if (Status s = Finish(); !s.ok()) return s;
    std::vector<double> seconds;
    for (int i = 0; i < kSamples; ++i) {
      // The flush runs first, so the launch is queued before the start event fires.
      cudaMemsetAsync(flush_.data(), i & 0xff, flush_.size(), stream());
      cudaEventRecord(start_, stream());
      launch(stream());
      cudaEventRecord(stop_, stream());
      if (Status s = Finish(); !s.ok()) return s;
      float ms = 0.0f;
      if (Status s = Check(cudaEventElapsedTime(&ms, start_, stop_), "event time"); !s.ok()) {
        return s;
      }
      seconds.push_back(ms * 1e-3);
    }
    std::nth_element(seconds.begin(), seconds.begin() + kSamples / 2, seconds.end());
    return seconds[kSamples / 2];
  }

 private:
  Status Finish() {
    if (Status s = LastError(); !s.ok()) return s;
    return stream_.Synchronize();
  }

  StreamHandle stream_;
  DeviceBuffer flush_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

// Random weights of `type`: values in [-1, 1) for float types; random bytes for quantized
// blocks with every f16 scale (d, and dmin where there is one) set to 0.01, as
// quant_kernels_bench does. Speed does not depend on the values, only NaNs would be a nuisance.
std::vector<uint8_t> RandomWeights(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const int64_t row_bytes = *TensorRowBytes(type, cols);
  std::vector<uint8_t> bytes(static_cast<size_t>(row_bytes * rows));
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  if (type == TensorType::kF32) {
    for (size_t i = 0; i < bytes.size(); i += 4) {
      const float v = dist(rng);
      std::memcpy(&bytes[i], &v, 4);
    }
  } else if (type == TensorType::kF16 || type == TensorType::kBF16) {
    for (size_t i = 0; i < bytes.size(); i += 2) {
      const float v = dist(rng);
      const uint16_t h = type == TensorType::kF16 ? Fp32ToFp16(v) : Fp32ToBf16(v);
      std::memcpy(&bytes[i], &h, 2);
    }
  } else {
    // Legacy and K blocks start with their f16 d (then dmin where present); q6_K ends with d.
    const int64_t block_bytes = FindTensorType(static_cast<uint32_t>(type))->block_bytes;
    const uint16_t scale = Fp32ToFp16(0.01f);
    const bool has_min = type == TensorType::kQ4_1 || type == TensorType::kQ4_K;
    for (size_t at = 0; at + block_bytes <= bytes.size(); at += block_bytes) {
      if (type == TensorType::kQ6_K) {
        std::memcpy(&bytes[at + block_bytes - 2], &scale, 2);
      } else {
        std::memcpy(&bytes[at], &scale, 2);
        if (has_min) std::memcpy(&bytes[at + 2], &scale, 2);
      }
    }
  }
  return bytes;
}

std::vector<float> RandomFloats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::string TypeName(TensorType type) {
  return std::string(FindTensorType(static_cast<uint32_t>(type))->name);
}

// One entry of the output: the figures, or the error that stopped the measurement.
Json Failed(Json entry, const Status& s) {
  std::fprintf(stderr, "  %s: %s\n", entry.dump().c_str(), s.ToString().c_str());
  entry["error"] = s.ToString();
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Matrix products.

constexpr int64_t kMatDim = 4096;

struct DeviceWeights {
  DeviceBuffer buffer;
  DeviceMatrix matrix;
};

Result<DeviceWeights> MakeWeights(TensorType type, std::mt19937& rng) {
  Result<DeviceBuffer> buffer = Upload(RandomWeights(type, kMatDim, kMatDim, rng));
  if (!buffer.ok()) return buffer.status();
  DeviceWeights w;
  w.buffer = std::move(*buffer);
  w.matrix = {type, w.buffer.data(), kMatDim, kMatDim,
              static_cast<size_t>(*TensorRowBytes(type, kMatDim))};
  return w;
}

Json BenchMatVec(Timer& timer, TensorType type, double peak, std::mt19937& rng) {
  Json entry = {{"type", TypeName(type)}, {"rows", kMatDim}, {"cols", kMatDim}, {"n", 1}};
  Result<DeviceWeights> w = MakeWeights(type, rng);
  if (!w.ok()) return Failed(entry, w.status());
  Result<DeviceBuffer> x = Upload(RandomFloats(kMatDim, rng));
  Result<DeviceBuffer> y = DeviceBuffer::Allocate(sizeof(float) * kMatDim);
  if (!x.ok() || !y.ok()) return Failed(entry, x.ok() ? y.status() : x.status());
  const DeviceMatrix& m = w->matrix;
  Result<double> t = timer.Median([&](Stream s) {
    MatVec(m, x->as<float>(), kMatDim, 1, y->as<float>(), kMatDim, s);
  });
  if (!t.ok()) return Failed(entry, t.status());
  const double bytes = static_cast<double>(m.row_bytes) * static_cast<double>(m.rows);
  entry["weight_bytes"] = bytes;
  entry["median_us"] = *t * 1e6;
  entry["gb_s"] = bytes / *t * 1e-9;
  entry["fraction_of_peak"] = bytes / *t / peak;
  std::fprintf(stderr, "  matvec     %-5s  %8.1f us  %7.1f GB/s  %5.1f%% of peak\n",
               TypeName(type).c_str(), *t * 1e6, bytes / *t * 1e-9, 100.0 * bytes / *t / peak);
  return entry;
}

Json BenchTensorCores(Timer& timer, TensorType type, int64_t n, std::mt19937& rng) {
  Json entry = {{"type", TypeName(type)}, {"rows", kMatDim}, {"cols", kMatDim}, {"n", n}};
  Result<DeviceWeights> w = MakeWeights(type, rng);
  if (!w.ok()) return Failed(entry, w.status());
  Result<DeviceBuffer> x = Upload(RandomFloats(static_cast<size_t>(n * kMatDim), rng));
  Result<DeviceBuffer> y = DeviceBuffer::Allocate(sizeof(float) * static_cast<size_t>(n * kMatDim));
  if (!x.ok() || !y.ok()) return Failed(entry, x.ok() ? y.status() : x.status());
  const DeviceMatrix& m = w->matrix;
  Result<double> t = timer.Median([&](Stream s) {
    MatMulTensorCores(m, x->as<float>(), kMatDim, n, y->as<float>(), kMatDim, s);
  });
  if (!t.ok()) return Failed(entry, t.status());
  const double flops = 2.0 * static_cast<double>(kMatDim * kMatDim * n);
  entry["median_us"] = *t * 1e6;
  entry["tflop_s"] = flops / *t * 1e-12;
  std::fprintf(stderr, "  tensorcore %-5s n=%-4lld %8.1f us  %7.2f TFLOP/s\n",
               TypeName(type).c_str(), static_cast<long long>(n), *t * 1e6, flops / *t * 1e-12);
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Attention over a paged f16 cache holding one sequence of `context` positions.

struct AttentionShape {
  int n_head;
  int n_kv_head;
  int head_dim;
  int64_t context;
};

constexpr int kBlockShift = 4;  // 16 positions per block, the engine's default

// The cache, its block table (identity: one sequence allocated in order) and the per-row arrays
// for `rows` query rows ending at the last position (causal).
struct AttentionSetup {
  PagedLayer layer;
  DeviceBuffer cache, table, table_of_row, key_begin, key_end, q, out;
  AttentionRows rows;
  double kv_bytes = 0;    // keys and values of the whole context
  double key_visits = 0;  // Σ over rows of keys attended
};

Result<AttentionSetup> MakeAttention(const AttentionShape& shape, int64_t rows,
                                     std::mt19937& rng) {
  AttentionSetup a;
  a.layer = {nullptr, shape.n_kv_head, shape.head_dim, kBlockShift};
  const int64_t blocks = shape.context >> kBlockShift;
  // Random f16 values in [-1, 1): a 64K pattern repeated (generating 512 MiB is slow).
  std::vector<uint16_t> pattern(1 << 16);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (uint16_t& h : pattern) h = Fp32ToFp16(dist(rng));
  std::vector<uint16_t> cache(static_cast<size_t>(blocks * a.layer.BlockElems()));
  for (size_t i = 0; i < cache.size(); i += pattern.size()) {
    std::memcpy(&cache[i], pattern.data(), 2 * std::min(pattern.size(), cache.size() - i));
  }
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) table[b] = static_cast<int32_t>(b);
  std::vector<int32_t> begin(static_cast<size_t>(rows), 0), end(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    end[r] = static_cast<int32_t>(shape.context - rows + r + 1);
    a.key_visits += end[r];
  }
  const int64_t q_width = int64_t{shape.n_head} * shape.head_dim;
  Result<DeviceBuffer> parts[] = {
      Upload(cache), Upload(table), Upload(std::vector<int32_t>(static_cast<size_t>(rows), 0)),
      Upload(begin), Upload(end),   Upload(RandomFloats(static_cast<size_t>(rows * q_width), rng)),
      DeviceBuffer::Allocate(sizeof(float) * static_cast<size_t>(rows * q_width))};
  for (Result<DeviceBuffer>& p : parts) {
    if (!p.ok()) return p.status();
  }
  a.cache = std::move(*parts[0]);
  a.table = std::move(*parts[1]);
  a.table_of_row = std::move(*parts[2]);
  a.key_begin = std::move(*parts[3]);
  a.key_end = std::move(*parts[4]);
  a.q = std::move(*parts[5]);
  a.out = std::move(*parts[6]);
  a.layer.base = a.cache.as<uint16_t>();
  a.rows = {a.q.as<float>(),          q_width,   a.out.as<float>(),
            q_width,                  rows,      a.table_of_row.as<int32_t>(),
            a.table.as<int32_t>(),    blocks,    a.key_begin.as<int32_t>(),
            a.key_end.as<int32_t>()};
  a.kv_bytes = 2.0 * 2.0 * static_cast<double>(shape.n_kv_head) * shape.head_dim * shape.context;
  return a;
}

// Splits for one decode row: enough (row, KV head, split) blocks for about four per SM, so
// the memory system sees enough loads in flight, but each split keeps at least 128 keys
// (below that the merge and the per-block setup dominate) and at most 256 splits.
int DecodeSplits(int multiprocessors, const AttentionShape& shape) {
  const int64_t by_sms = 4 * int64_t{multiprocessors} / shape.n_kv_head;
  const int64_t by_keys = shape.context / 128;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({256, by_sms, by_keys})));
}

// One decode row of `shape` at the chosen split count and at half and twice that (the slope
// shows whether the choice is near the best); the cache is built once for all three.
void BenchDecode(Timer& timer, const AttentionShape& shape, int multiprocessors, double peak,
                 std::mt19937& rng, Json& results) {
  const int chosen = DecodeSplits(multiprocessors, shape);
  std::vector<int> split_counts = {std::max(1, chosen / 2), chosen, std::min(256, 2 * chosen)};
  split_counts.erase(std::unique(split_counts.begin(), split_counts.end()), split_counts.end());
  const Json shape_json = {{"n_head", shape.n_head},
                           {"n_kv_head", shape.n_kv_head},
                           {"head_dim", shape.head_dim},
                           {"context", shape.context}};
  Result<AttentionSetup> a = MakeAttention(shape, 1, rng);
  if (!a.ok()) {
    results.push_back(Failed(shape_json, a.status()));
    return;
  }
  const int group = shape.n_head / shape.n_kv_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (const int splits : split_counts) {
    Json entry = shape_json;
    entry["splits"] = splits;
    entry["chosen"] = splits == chosen;
    Result<DeviceBuffer> partials = DeviceBuffer::Allocate(
        sizeof(float) * AttendDecodePartialFloats(1, shape.n_head, shape.head_dim, splits));
    if (!partials.ok()) {
      results.push_back(Failed(entry, partials.status()));
      continue;
    }
    Result<double> t = timer.Median([&](Stream s) {
      AttendDecode(a->layer, a->rows, group, scale, partials->as<float>(), splits, s);
    });
    if (!t.ok()) {
      results.push_back(Failed(entry, t.status()));
      continue;
    }
    const double gb_s = a->kv_bytes / *t * 1e-9;
    entry["kv_bytes"] = a->kv_bytes;
    entry["median_us"] = *t * 1e6;
    entry["gb_s"] = gb_s;
    entry["fraction_of_peak"] = a->kv_bytes / *t / peak;
    std::fprintf(stderr, "  decode %2d/%d x%-3d ctx %6lld splits %3d%s %8.1f us  %7.1f GB/s  "
                 "%5.1f%% of peak\n",
                 shape.n_head, shape.n_kv_head, shape.head_dim,
                 static_cast<long long>(shape.context), splits, splits == chosen ? "*" : " ",
                 *t * 1e6, gb_s, 100.0 * a->kv_bytes / *t / peak);
    results.push_back(std::move(entry));
  }
}

Json BenchPrefill(Timer& timer, const AttentionShape& shape, int64_t rows, std::mt19937& rng) {
  Json entry = {{"n_head", shape.n_head},   {"n_kv_head", shape.n_kv_head},
                {"head_dim", shape.head_dim}, {"context", shape.context},
                {"rows", rows}};
  Result<AttentionSetup> a = MakeAttention(shape, rows, rng);
  if (!a.ok()) return Failed(entry, a.status());
  const int group = shape.n_head / shape.n_kv_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  Result<double> t =
      timer.Median([&](Stream s) { AttendPrefill(a->layer, a->rows, group, scale, s); });
  if (!t.ok()) return Failed(entry, t.status());
  // Two products (q·k and p·v) of head_dim multiply-adds per head per attended key.
  const double flops = 4.0 * shape.n_head * shape.head_dim * a->key_visits;
  entry["median_us"] = *t * 1e6;
  entry["tflop_s"] = flops / *t * 1e-12;
  std::fprintf(stderr, "  prefill %d/%d x%d ctx %lld rows %lld  %8.1f us  %6.2f TFLOP/s\n",
               shape.n_head, shape.n_kv_head, shape.head_dim,
               static_cast<long long>(shape.context), static_cast<long long>(rows), *t * 1e6,
               flops / *t * 1e-12);
  return entry;
}

int Run() {
  const GpuProbe probe = ProbeGpus();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "engram_cuda_kernels_bench: no GPU visible: %s\n", probe.reason.c_str());
    return 2;
  }
  Result<DeviceInfo> info = QueryDevice(0);
  Result<Timer> timer = info.ok() ? Timer::Create(*info) : Result<Timer>(info.status());
  if (!timer.ok()) {
    std::fprintf(stderr, "engram_cuda_kernels_bench: %s\n", timer.status().ToString().c_str());
    return 1;
  }
  const double peak = info->peak_bandwidth_bytes_per_s;
  std::fprintf(stderr, "%s (sm_%d, %d SMs), peak %.0f GB/s\n", info->name.c_str(),
               info->compute_capability, info->multiprocessors, peak * 1e-9);
  std::mt19937 rng(1);

  Json matvec = Json::array();
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ8_0,
                          TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kF16,
                          TensorType::kBF16, TensorType::kF32}) {
    matvec.push_back(BenchMatVec(*timer, type, peak, rng));
  }
  Json tensor_cores = Json::array();
  for (TensorType type : {TensorType::kQ4_0, TensorType::kF16}) {
    for (int64_t n : {int64_t{32}, int64_t{512}}) {
      tensor_cores.push_back(BenchTensorCores(*timer, type, n, rng));
    }
  }
  Json decode = Json::array();
  for (const AttentionShape& shape :
       {AttentionShape{32, 8, 128, 8192}, AttentionShape{32, 8, 128, 32768},
        AttentionShape{32, 8, 128, 131072}, AttentionShape{9, 3, 64, 32768}}) {
    BenchDecode(*timer, shape, info->multiprocessors, peak, rng, decode);
  }
  Json prefill = Json::array();
  prefill.push_back(BenchPrefill(*timer, AttentionShape{32, 8, 128, 8192}, 512, rng));

  Json out = {{"device", info->name},
              {"compute_capability", info->compute_capability},
              {"multiprocessors", info->multiprocessors},
              {"peak_bandwidth_gb_s", peak * 1e-9},
              {"samples", kSamples},
              {"matvec", std::move(matvec)},
              {"matmul_tensor_cores", std::move(tensor_cores)},
              {"attend_decode", std::move(decode)},
              {"attend_prefill", std::move(prefill)}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace engram::kernels::cuda

int main() { return engram::kernels::cuda::Run(); }
