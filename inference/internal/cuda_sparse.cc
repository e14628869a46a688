#include "inference/internal/cuda_sparse.h"

#include <algorithm>
#include <cmath>

#include "inference/key_selection.h"
#include "kernels/cuda/sparse_ops.h"

namespace engram::inference::internal {
namespace {

namespace cuda = kernels::cuda;

constexpr int kSplits = 8;  // pieces per part: enough blocks per KV head for long contexts

enum Range { kSinkBegin, kSinkEnd, kWindowBegin, kWindowEnd, kPageBegin, kPageEnd, kRanges };

int64_t RoundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
int64_t RoundDown(int64_t v, int64_t to) { return v / to * to; }

Status Allocate(cuda::DeviceBuffer* buffer, size_t bytes) {
  Result<cuda::DeviceBuffer> made = cuda::DeviceBuffer::Allocate(bytes);
  if (!made.ok()) return made.status().WithContext("sparse attention on the GPU");
  *buffer = std::move(*made);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<CudaSparseDecode>> CudaSparseDecode::Create(
    const AttentionOptions& options, int layers, int n_head, int n_kv_head, int head_dim,
    int64_t pool_blocks, int block_shift, int64_t n_ctx) {
  std::unique_ptr<CudaSparseDecode> s(new CudaSparseDecode());
  s->options_ = options;
  s->n_head_ = n_head;
  s->n_kv_head_ = n_kv_head;
  s->head_dim_ = head_dim;
  s->block_shift_ = block_shift;
  s->pool_blocks_ = pool_blocks;
  s->n_ctx_ = n_ctx;
  s->splits_ = kSplits;
  const size_t list_bytes = sizeof(int32_t) * static_cast<size_t>(n_kv_head) * (n_ctx + 1);
  for (auto [buffer, bytes] :
       {std::pair{&s->bounds_, sizeof(float) * layers *
                                   cuda::PageBoundsFloats(pool_blocks, n_kv_head, head_dim)},
        {&s->pieces_, sizeof(float) * cuda::PieceFloats(1, n_head, head_dim, 3 * kSplits)},
        {&s->candidates_, list_bytes},
        {&s->selected_, list_bytes},
        {&s->ranges_, sizeof(int32_t) * kRanges}}) {
    if (Status st = Allocate(buffer, bytes); !st.ok()) return st;
  }
  Result<cuda::PinnedBuffer> host = cuda::PinnedBuffer::Allocate(sizeof(int32_t) * kRanges);
  if (!host.ok()) return host.status();
  s->host_ranges_ = std::move(*host);
  return s;
}

float* CudaSparseDecode::Bounds(int layer) const {
  return bounds_.as<float>() +
         static_cast<size_t>(layer) * cuda::PageBoundsFloats(pool_blocks_, n_kv_head_, head_dim_);
}

void CudaSparseDecode::RefreshBounds(const cuda::PagedLayer& kv, int layer, const int32_t* blocks,
                                     const int32_t* rows, int64_t count, cuda::Stream stream) {
  cuda::RefreshPageBounds(kv, blocks, rows, count, Bounds(layer), stream);
}

Status CudaSparseDecode::CopyBounds(int32_t from, int32_t to, cuda::Stream stream) {
  const size_t block_floats = cuda::PageBoundsFloats(1, n_kv_head_, head_dim_);
  const int layers = static_cast<int>(bounds_.size() / sizeof(float) /
                                      cuda::PageBoundsFloats(pool_blocks_, n_kv_head_, head_dim_));
  for (int l = 0; l < layers; ++l) {
    float* base = Bounds(l);
    if (Status s = cuda::CopyOnDevice(base + to * block_floats, base + from * block_floats,
                                      sizeof(float) * block_floats, stream);
        !s.ok()) {
      return s;
    }
  }
  return Status::OK();
}

Result<bool> CudaSparseDecode::BeginStep(int64_t length, cuda::Stream stream) {
  const int64_t page = int64_t{1} << block_shift_;
  const int64_t budget = MiddleBudget(options_.budget, length);
  const int64_t sinks = std::min<int64_t>(options_.sinks, length);
  int64_t sink_end = sinks, recent_begin = 0;
  if (options_.kind == AttentionKind::kWindow) {
    recent_begin = std::max(sinks, length - options_.window - budget);
  } else {  // quest and retrieval select whole pages between whole-page exact ranges
    sink_end = std::min(length, RoundUp(sinks, page));
    recent_begin = std::max(sink_end, RoundDown(length - options_.window, page));
  }
  const int64_t page_begin = sink_end / page, page_end = recent_begin / page;
  if (options_.kind == AttentionKind::kWindow ? recent_begin <= sink_end : page_end <= page_begin) {
    return false;
  }
  keys_ = budget;
  const double factor = options_.kind == AttentionKind::kRetrieval ? options_.candidate_factor : 1.0;
  pages_ = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(factor * budget / page)));
  pages_ = std::min(pages_, page_end - page_begin);
  auto* r = host_ranges_.as<int32_t>();
  r[kSinkBegin] = 0;
  r[kSinkEnd] = static_cast<int32_t>(sink_end);
  r[kWindowBegin] = static_cast<int32_t>(recent_begin);
  r[kWindowEnd] = static_cast<int32_t>(length);
  r[kPageBegin] = static_cast<int32_t>(page_begin);
  r[kPageEnd] = static_cast<int32_t>(page_end);
  if (Status s = cuda::CopyToDevice(ranges_.data(), r, sizeof(int32_t) * kRanges, stream);
      !s.ok()) {
    return s;
  }
  return true;
}

void CudaSparseDecode::Attend(const cuda::PagedLayer& kv, int layer,
                              const cuda::AttentionRows& row, int group, float scale,
                              cuda::Stream stream) {
  const int32_t* ranges = ranges_.as<int32_t>();
  const bool window_only = options_.kind == AttentionKind::kWindow;
  const int pieces = (window_only ? 2 : 3) * splits_;
  float* out = pieces_.as<float>();
  cuda::AttentionRows part = row;
  part.key_begin = ranges + kSinkBegin;
  part.key_end = ranges + kSinkEnd;
  cuda::AttendRangePieces(kv, part, group, scale, out, pieces, 0, splits_, stream);
  part.key_begin = ranges + kWindowBegin;
  part.key_end = ranges + kWindowEnd;
  cuda::AttendRangePieces(kv, part, group, scale, out, pieces, splits_, splits_, stream);
  if (!window_only) {
    // The chosen middle keys: every position of Quest's best pages, or the exact top keys
    // among the candidate pages' positions. A list per KV head, then a count per KV head.
    const int max_count = static_cast<int>(n_ctx_);
    int32_t* candidates = candidates_.as<int32_t>();
    int32_t* candidate_counts = candidates + static_cast<size_t>(n_kv_head_) * max_count;
    cuda::SelectPages(kv, Bounds(layer), part, ranges + kPageBegin, ranges + kPageEnd, group,
                      static_cast<int>(pages_), candidates, candidate_counts, max_count, stream);
    const int32_t* chosen = candidates;
    const int32_t* chosen_counts = candidate_counts;
    if (options_.kind == AttentionKind::kRetrieval) {
      int32_t* selected = selected_.as<int32_t>();
      int32_t* selected_counts = selected + static_cast<size_t>(n_kv_head_) * max_count;
      cuda::SelectTopKeys(kv, part, candidates, candidate_counts, max_count, group,
                          static_cast<int>(keys_), selected, selected_counts, max_count, stream);
      chosen = selected;
      chosen_counts = selected_counts;
    }
    cuda::AttendGatheredPieces(kv, part, chosen, chosen_counts, max_count, group, scale, out,
                               pieces, 2 * splits_, splits_, stream);
  }
  cuda::MergePieces(out, 1, n_head_, head_dim_, pieces, row.out, row.out_stride, stream);
}

}  // namespace engram::inference::internal
