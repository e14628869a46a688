#include "retrieval/internal/simd_flat_ip.h"

#include <cstring>

#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

namespace engram::retrieval::internal {

// GCC builds one copy per target and picks it by CPUID when the program loads (an ifunc), so
// this file needs no ISA flags and runs on any x86-64.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
float InnerProduct(const float* a, const float* b, size_t n) {
  typedef float Vec16 __attribute__((vector_size(64)));
  Vec16 acc0 = {}, acc1 = {};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Vec16 a0, b0, a1, b1;
    std::memcpy(&a0, a + i, sizeof(a0));
    std::memcpy(&b0, b + i, sizeof(b0));
    std::memcpy(&a1, a + i + 16, sizeof(a1));
    std::memcpy(&b1, b + i + 16, sizeof(b1));
    acc0 += a0 * b0;
    acc1 += a1 * b1;
  }
  for (; i + 16 <= n; i += 16) {
    Vec16 a0, b0;
    std::memcpy(&a0, a + i, sizeof(a0));
    std::memcpy(&b0, b + i, sizeof(b0));
    acc0 += a0 * b0;
  }
  acc0 += acc1;
  float sum = 0.0f;
  for (int lane = 0; lane < 16; ++lane) sum += acc0[lane];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void InnerProductsTransposed(const float* q, const float* columns, size_t n, size_t dim,
                             float* out) {
  typedef float Vec16 __attribute__((vector_size(64)));
  size_t j = 0;
  // 64 vectors at a time in four accumulators (enough independent FMAs to hide their latency);
  // the accumulators stay in registers for the whole query.
  for (; j + 64 <= n; j += 64) {
    Vec16 acc0 = {}, acc1 = {}, acc2 = {}, acc3 = {};
    for (size_t d = 0; d < dim; ++d) {
      const float* c = columns + d * n + j;
      Vec16 c0, c1, c2, c3;
      std::memcpy(&c0, c, sizeof(c0));
      std::memcpy(&c1, c + 16, sizeof(c1));
      std::memcpy(&c2, c + 32, sizeof(c2));
      std::memcpy(&c3, c + 48, sizeof(c3));
      const float qd = q[d];
      acc0 += qd * c0;
      acc1 += qd * c1;
      acc2 += qd * c2;
      acc3 += qd * c3;
    }
    std::memcpy(out + j, &acc0, sizeof(acc0));
    std::memcpy(out + j + 16, &acc1, sizeof(acc1));
    std::memcpy(out + j + 32, &acc2, sizeof(acc2));
    std::memcpy(out + j + 48, &acc3, sizeof(acc3));
  }
  for (; j < n; ++j) {
    float sum = 0.0f;
    for (size_t d = 0; d < dim; ++d) sum += q[d] * columns[d * n + j];
    out[j] = sum;
  }
}

namespace {

class InnerProductDistance final : public faiss::FlatCodesDistanceComputer {
 public:
  explicit InnerProductDistance(const faiss::IndexFlatIP& index)
      : faiss::FlatCodesDistanceComputer(index.codes.data(), index.code_size),
        dim_(static_cast<size_t>(index.d)),
        vectors_(index.get_xb()) {}

  void set_query(const float* x) override { query_ = x; }
  float distance_to_code(const uint8_t* code) override {
    return InnerProduct(query_, reinterpret_cast<const float*>(code), dim_);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return InnerProduct(vectors_ + i * dim_, vectors_ + j * dim_, dim_);
  }

 private:
  size_t dim_;
  const float* vectors_;
  const float* query_ = nullptr;
};

}  // namespace

faiss::FlatCodesDistanceComputer* SimdFlatIP::get_FlatCodesDistanceComputer() const {
  return new InnerProductDistance(*this);
}

void SimdFlatIP::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                        const faiss::SearchParameters* params) const {
  // Batches go to FAISS, which computes them as one BLAS product (k-means assignment, IVF adds).
  if (n >= static_cast<idx_t>(faiss::distance_compute_blas_threshold)) {
    faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
    return;
  }
  using Heap = faiss::CMin<float, idx_t>;
  const faiss::IDSelector* sel = params != nullptr ? params->sel : nullptr;
  const size_t dim = static_cast<size_t>(d);
  const float* xb = get_xb();
  for (idx_t q = 0; q < n; ++q) {
    const float* query = x + q * d;
    float* heap_scores = distances + q * k;
    idx_t* heap_ids = labels + q * k;
    faiss::heap_heapify<Heap>(k, heap_scores, heap_ids);
    if (k == 0) continue;
    for (idx_t j = 0; j < ntotal; ++j) {
      if (sel != nullptr && !sel->is_member(j)) continue;
      const float score = InnerProduct(query, xb + j * dim, dim);
      if (score > heap_scores[0]) faiss::heap_replace_top<Heap>(k, heap_scores, heap_ids, score, j);
    }
    faiss::heap_reorder<Heap>(k, heap_scores, heap_ids);
  }
}

std::unique_ptr<SimdFlatIP> AdoptFlatIP(faiss::IndexFlat* flat) {
  if (flat == nullptr || flat->metric_type != faiss::METRIC_INNER_PRODUCT) return nullptr;
  auto adopted = std::make_unique<SimdFlatIP>(flat->d);
  adopted->codes.swap(flat->codes);
  adopted->ntotal = flat->ntotal;
  flat->ntotal = 0;
  return adopted;
}

}  // namespace engram::retrieval::internal
