// Speed of the CUDA kernels of kernels/cuda/ops.h on the device, against its memory roofline:
//   - MatVec (n = 1) on a 4096×4096 weight in each GGUF type: GB/s of weight bytes read;
//   - MatMulTensorCores (q4_0, f16; n = 32 and 512): TFLOP/s;
//   - AttendDecode (one query row; 32/8 heads of 128 and the default model's 9/3 heads of 64):
//     GB/s of keys and values read, at 8K to 1M positions (a 1M-token layer of 32/8/128 is
//     4 GiB: one layer is allocated);
//   - sparse decode (kernels/cuda/sparse_ops.h, one query row, budgets 2% and 5% at 128K and
//     1M positions): the per-layer pipeline (sink and window pieces, SelectPages over 3 × budget
//     of the context in pages, SelectTopKeys of budget × context keys among them, the gathered
//     pieces, the merge) timed whole and per stage, with its speedup over dense AttendDecode;
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
#include <functional>
#include <nlohmann/json.hpp>

#include "common/json_write.h"
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/sparse_ops.h"
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
    if (Status s =
            Check(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, info.index), "L2 size");
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
  std::fprintf(stderr, "  %s: %s\n", JsonText(entry).c_str(), s.ToString().c_str());
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
  Result<double> t = timer.Median(
      [&](Stream s) { MatVec(m, x->as<float>(), kMatDim, 1, y->as<float>(), kMatDim, s); });
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

// `count` random f16 values in [-1, 1) on the device: a pattern of an odd number of values
// (so rows and blocks do not repeat in step) uploaded once and doubled on the device
// (generating 4 GiB on the host is slow).
Result<DeviceBuffer> RandomHalves(size_t count, std::mt19937& rng) {
  std::vector<uint16_t> pattern(std::min<size_t>(count, 1000003));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (uint16_t& h : pattern) h = Fp32ToFp16(dist(rng));
  Result<DeviceBuffer> buffer = DeviceBuffer::Allocate(2 * count);
  if (!buffer.ok()) return buffer;
  if (Status s = CopyToDevice(buffer->data(), pattern.data(), 2 * pattern.size()); !s.ok()) {
    return s;
  }
  uint16_t* base = buffer->as<uint16_t>();
  for (size_t filled = pattern.size(); filled < count; filled *= 2) {
    const size_t n = std::min(filled, count - filled);
    if (Status s =
            Check(cudaMemcpy(base + filled, base, 2 * n, cudaMemcpyDeviceToDevice), "fill cache");
        !s.ok()) {
      return s;
    }
  }
  return buffer;
}

// The cache, its block table (identity: one sequence allocated in order) and the per-row arrays
// for `rows` query rows ending at the last position (causal).
struct AttentionSetup {
  PagedLayer layer;
  DeviceBuffer cache, table, table_of_row, key_begin, key_end, q, out;
  AttentionRows rows;
  double kv_bytes = 0;    // keys and values of the whole context
  double key_visits = 0;  // Σ over rows of keys attended
};

Result<AttentionSetup> MakeAttention(const AttentionShape& shape, int64_t rows, std::mt19937& rng) {
  AttentionSetup a;
  a.layer = {nullptr, shape.n_kv_head, shape.head_dim, kBlockShift};
  const int64_t blocks = shape.context >> kBlockShift;
  Result<DeviceBuffer> cache =
      RandomHalves(static_cast<size_t>(blocks * a.layer.BlockElems()), rng);
  if (!cache.ok()) return cache.status();
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) table[b] = static_cast<int32_t>(b);
  std::vector<int32_t> begin(static_cast<size_t>(rows), 0), end(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    end[r] = static_cast<int32_t>(shape.context - rows + r + 1);
    a.key_visits += end[r];
  }
  const int64_t q_width = int64_t{shape.n_head} * shape.head_dim;
  Result<DeviceBuffer> parts[] = {
      std::move(cache),
      Upload(table),
      Upload(std::vector<int32_t>(static_cast<size_t>(rows), 0)),
      Upload(begin),
      Upload(end),
      Upload(RandomFloats(static_cast<size_t>(rows * q_width), rng)),
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
  a.rows = {a.q.as<float>(),
            q_width,
            a.out.as<float>(),
            q_width,
            rows,
            a.table_of_row.as<int32_t>(),
            a.table.as<int32_t>(),
            blocks,
            a.key_begin.as<int32_t>(),
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
// shows whether the choice is near the best) over the setup `a` (one row). Returns the seconds
// at the chosen count (0 when it failed).
double BenchDecode(Timer& timer, const AttentionShape& shape, const AttentionSetup& a,
                   int multiprocessors, double peak, Json& results) {
  const int chosen = DecodeSplits(multiprocessors, shape);
  std::vector<int> split_counts = {std::max(1, chosen / 2), chosen, std::min(256, 2 * chosen)};
  split_counts.erase(std::unique(split_counts.begin(), split_counts.end()), split_counts.end());
  const Json shape_json = {{"n_head", shape.n_head},
                           {"n_kv_head", shape.n_kv_head},
                           {"head_dim", shape.head_dim},
                           {"context", shape.context}};
  double chosen_seconds = 0;
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
      AttendDecode(a.layer, a.rows, group, scale, partials->as<float>(), splits, s);
    });
    if (!t.ok()) {
      results.push_back(Failed(entry, t.status()));
      continue;
    }
    if (splits == chosen) chosen_seconds = *t;
    const double gb_s = a.kv_bytes / *t * 1e-9;
    entry["kv_bytes"] = a.kv_bytes;
    entry["median_us"] = *t * 1e6;
    entry["gb_s"] = gb_s;
    entry["fraction_of_peak"] = a.kv_bytes / *t / peak;
    std::fprintf(stderr,
                 "  decode %2d/%d x%-3d ctx %6lld splits %3d%s %8.1f us  %7.1f GB/s  "
                 "%5.1f%% of peak\n",
                 shape.n_head, shape.n_kv_head, shape.head_dim,
                 static_cast<long long>(shape.context), splits, splits == chosen ? "*" : " ",
                 *t * 1e6, gb_s, 100.0 * a.kv_bytes / *t / peak);
    results.push_back(std::move(entry));
  }
  return chosen_seconds;
}

// ---------------------------------------------------------------------------------------------
// Sparse decode (kernels/cuda/sparse_ops.h) over the same one-row setup.

constexpr int kSinks = 4;
constexpr int kWindow = 240;

// Device arrays of the sparse pipeline for one row.
struct SparseSetup {
  DeviceBuffer bounds, sinks_begin, sinks_end, window_begin, page_begin, page_end, candidates,
      candidate_counts, selected, selected_counts, pieces;
  AttentionRows sinks, window;
};

Result<SparseSetup> MakeSparse(const AttentionShape& shape, const AttentionSetup& a,
                               int candidate_pages, int k, int n_pieces, Stream stream) {
  const int32_t length = static_cast<int32_t>(shape.context);
  const int64_t blocks = shape.context >> kBlockShift;
  const size_t heads = static_cast<size_t>(shape.n_kv_head);
  std::vector<int32_t> all_blocks(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) all_blocks[b] = static_cast<int32_t>(b);
  Result<DeviceBuffer> parts[] = {
      DeviceBuffer::Allocate(sizeof(float) *
                             PageBoundsFloats(blocks, shape.n_kv_head, shape.head_dim)),
      Upload(std::vector<int32_t>{0}),
      Upload(std::vector<int32_t>{kSinks}),
      Upload(std::vector<int32_t>{length - kWindow}),
      Upload(std::vector<int32_t>{1}),  // pages after the sinks' page, before the window's
      Upload(std::vector<int32_t>{(length - kWindow) >> kBlockShift}),
      DeviceBuffer::Allocate(sizeof(int32_t) * heads * (size_t{1} << kBlockShift) *
                             static_cast<size_t>(candidate_pages)),
      DeviceBuffer::Allocate(sizeof(int32_t) * heads),
      DeviceBuffer::Allocate(sizeof(int32_t) * heads * static_cast<size_t>(k)),
      DeviceBuffer::Allocate(sizeof(int32_t) * heads),
      DeviceBuffer::Allocate(sizeof(float) *
                             PieceFloats(1, shape.n_head, shape.head_dim, n_pieces)),
      Upload(all_blocks),
      Upload(std::vector<int32_t>(static_cast<size_t>(blocks), 1 << kBlockShift))};
  for (Result<DeviceBuffer>& p : parts) {
    if (!p.ok()) return p.status();
  }
  SparseSetup sp;
  DeviceBuffer* fields[] = {
      &sp.bounds,     &sp.sinks_begin,     &sp.sinks_end,  &sp.window_begin,
      &sp.page_begin, &sp.page_end,        &sp.candidates, &sp.candidate_counts,
      &sp.selected,   &sp.selected_counts, &sp.pieces};
  for (size_t i = 0; i < std::size(fields); ++i) *fields[i] = std::move(*parts[i]);
  // The whole cache's page bounds, as the engine keeps them.
  RefreshPageBounds(a.layer, parts[11]->as<int32_t>(), parts[12]->as<int32_t>(), blocks,
                    sp.bounds.as<float>(), stream);
  if (Status s = LastError(); !s.ok()) return s;
  if (Status s = Check(cudaStreamSynchronize(stream), "page bounds"); !s.ok()) return s;
  sp.sinks = a.rows;
  sp.sinks.key_begin = sp.sinks_begin.as<int32_t>();
  sp.sinks.key_end = sp.sinks_end.as<int32_t>();
  sp.window = a.rows;
  sp.window.key_begin = sp.window_begin.as<int32_t>();
  return sp;
}

// The per-layer sparse pipeline for one row at `budget` of the context, timed whole and per
// stage (each stage alone, after the whole pipeline has filled its inputs).
Json BenchSparse(Timer& timer, const AttentionShape& shape, const AttentionSetup& a, double budget,
                 double dense_seconds, int multiprocessors) {
  const int k = static_cast<int>(budget * static_cast<double>(shape.context));
  const int candidate_pages =
      static_cast<int>(3.0 * budget * static_cast<double>(shape.context)) >> kBlockShift;
  const int max_count = candidate_pages << kBlockShift;
  const int64_t by_sms = 4 * int64_t{multiprocessors} / shape.n_kv_head;
  const int splits =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({256, by_sms, k / 128})));
  const int n_pieces = 2 + splits;  // sinks, window, the gathered splits
  Json entry = {{"n_head", shape.n_head},     {"n_kv_head", shape.n_kv_head},
                {"head_dim", shape.head_dim}, {"context", shape.context},
                {"budget", budget},           {"sinks", kSinks},
                {"window", kWindow},          {"candidate_pages", candidate_pages},
                {"selected_keys", k},         {"gathered_splits", splits}};
  Result<SparseSetup> sp = MakeSparse(shape, a, candidate_pages, k, n_pieces, timer.stream());
  if (!sp.ok()) return Failed(entry, sp.status());
  const int group = shape.n_head / shape.n_kv_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  float* pieces = sp->pieces.as<float>();
  const std::pair<const char*, std::function<void(Stream)>> stages[] = {
      {"range_pieces",
       [&](Stream s) {
         AttendRangePieces(a.layer, sp->sinks, group, scale, pieces, n_pieces, 0, 1, s);
         AttendRangePieces(a.layer, sp->window, group, scale, pieces, n_pieces, 1, 1, s);
       }},
      {"select_pages",
       [&](Stream s) {
         SelectPages(a.layer, sp->bounds.as<float>(), a.rows, sp->page_begin.as<int32_t>(),
                     sp->page_end.as<int32_t>(), group, candidate_pages,
                     sp->candidates.as<int32_t>(), sp->candidate_counts.as<int32_t>(), max_count,
                     s);
       }},
      {"select_top_keys",
       [&](Stream s) {
         SelectTopKeys(a.layer, a.rows, sp->candidates.as<int32_t>(),
                       sp->candidate_counts.as<int32_t>(), max_count, group, k,
                       sp->selected.as<int32_t>(), sp->selected_counts.as<int32_t>(), k, s);
       }},
      {"gathered_pieces",
       [&](Stream s) {
         AttendGatheredPieces(a.layer, a.rows, sp->selected.as<int32_t>(),
                              sp->selected_counts.as<int32_t>(), k, group, scale, pieces, n_pieces,
                              2, splits, s);
       }},
      {"merge", [&](Stream s) {
         MergePieces(pieces, 1, shape.n_head, shape.head_dim, n_pieces, a.rows.out,
                     a.rows.out_stride, s);
       }}};
  Result<double> total = timer.Median([&](Stream s) {
    for (const auto& stage : stages) stage.second(s);
  });
  if (!total.ok()) return Failed(entry, total.status());
  entry["median_us"] = *total * 1e6;
  Json per_stage = Json::object();
  for (const auto& stage : stages) {
    Result<double> t = timer.Median(stage.second);
    if (!t.ok()) return Failed(entry, t.status());
    per_stage[stage.first] = *t * 1e6;
  }
  entry["stages_us"] = per_stage;
  entry["dense_us"] = dense_seconds * 1e6;
  entry["speedup_vs_dense"] = dense_seconds > 0 ? dense_seconds / *total : 0.0;
  std::fprintf(stderr,
               "  sparse %2d/%d x%-3d ctx %7lld budget %.2f  %8.1f us (dense %8.1f us, x%.2f): "
               "%s\n",
               shape.n_head, shape.n_kv_head, shape.head_dim, static_cast<long long>(shape.context),
               budget, *total * 1e6, dense_seconds * 1e6,
               dense_seconds > 0 ? dense_seconds / *total : 0.0, JsonText(per_stage).c_str());
  return entry;
}

Json BenchPrefill(Timer& timer, const AttentionShape& shape, int64_t rows, std::mt19937& rng) {
  Json entry = {{"n_head", shape.n_head},
                {"n_kv_head", shape.n_kv_head},
                {"head_dim", shape.head_dim},
                {"context", shape.context},
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
               shape.n_head, shape.n_kv_head, shape.head_dim, static_cast<long long>(shape.context),
               static_cast<long long>(rows), *t * 1e6, flops / *t * 1e-12);
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
  for (TensorType type :
       {TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ8_0, TensorType::kQ4_K,
        TensorType::kQ6_K, TensorType::kF16, TensorType::kBF16, TensorType::kF32}) {
    matvec.push_back(BenchMatVec(*timer, type, peak, rng));
  }
  Json tensor_cores = Json::array();
  for (TensorType type : {TensorType::kQ4_0, TensorType::kF16}) {
    for (int64_t n : {int64_t{32}, int64_t{512}}) {
      tensor_cores.push_back(BenchTensorCores(*timer, type, n, rng));
    }
  }
  Json decode = Json::array(), sparse = Json::array();
  for (const AttentionShape& shape :
       {AttentionShape{32, 8, 128, 8192}, AttentionShape{32, 8, 128, 32768},
        AttentionShape{32, 8, 128, 131072}, AttentionShape{32, 8, 128, 1048576},
        AttentionShape{9, 3, 64, 32768}, AttentionShape{9, 3, 64, 131072},
        AttentionShape{9, 3, 64, 1048576}}) {
    Result<AttentionSetup> a = MakeAttention(shape, 1, rng);  // one row; freed after the shape
    if (!a.ok()) {
      decode.push_back(
          Failed(Json{{"n_head", shape.n_head}, {"context", shape.context}}, a.status()));
      continue;
    }
    const double dense = BenchDecode(*timer, shape, *a, info->multiprocessors, peak, decode);
    if (shape.context < 131072) continue;
    for (double budget : {0.02, 0.05}) {
      sparse.push_back(BenchSparse(*timer, shape, *a, budget, dense, info->multiprocessors));
    }
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
              {"sparse_decode", std::move(sparse)},
              {"attend_prefill", std::move(prefill)}};
  std::printf("%s\n", JsonText(out, 2).c_str());
  return 0;
}

}  // namespace
}  // namespace engram::kernels::cuda

int main() { return engram::kernels::cuda::Run(); }
