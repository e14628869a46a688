// SimdFlatIP: faiss::IndexFlatIP whose inner products run on SIMD code compiled for this CPU.
//
// Why: Debian's FAISS 1.7.3 (libfaiss.a) is built for baseline x86-64, and its
// fvec_inner_product is then a scalar loop. HNSW building and searching spend ~90% of their time
// there (measured with perf: a 20k-vector HNSW build took 624 s, 25x faiss-cpu's wheel). FAISS's
// own extension points take the fix: IndexHNSW asks its storage for a DistanceComputer, and a
// flat index's search is virtual. So SimdFlatIP overrides both and stays an IndexFlatIP
// everywhere else (write_index stores it as one; AdoptFlatIP turns a loaded one back).
//
// Internal to retrieval (vector_index.cc); no other module sees FAISS types.
#pragma once

#include <cstddef>
#include <memory>

#include <faiss/IndexFlat.h>

namespace engram::retrieval::internal {

// sum_i a[i] * b[i], with 16-float vector accumulators (AVX-512, AVX2+FMA or SSE2 clone chosen
// at load time by the CPU). Summation order differs from a sequential loop: results agree to
// float rounding, not bit for bit.
float InnerProduct(const float* a, const float* b, size_t n);

// out[j] = sum_d q[d] * columns[d * n + j] for j in [0, n): one query against n vectors stored
// dimension-major (a transposed matrix), so every lane does useful work and nothing is reduced
// horizontally. Same target clones as InnerProduct.
void InnerProductsTransposed(const float* q, const float* columns, size_t n, size_t dim,
                             float* out);

class SimdFlatIP : public faiss::IndexFlatIP {
 public:
  explicit SimdFlatIP(faiss::Index::idx_t dim) : faiss::IndexFlatIP(dim) {}

  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override;

  // Exact top-k by inner product, honouring params->sel like IndexFlat::search (labels -1 and
  // scores -inf pad missing results). Fewer than faiss::distance_compute_blas_threshold (20)
  // queries run one after another on the calling thread; larger batches go to FAISS's BLAS path.
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
};

// A SimdFlatIP holding `flat`'s vectors (moved out of it). `flat` must be an inner-product
// flat index; returns null otherwise.
std::unique_ptr<SimdFlatIP> AdoptFlatIP(faiss::IndexFlat* flat);

}  // namespace engram::retrieval::internal
