#include "inference/kv_cache.h"

#include <cstring>
#include <new>
#include <string>

#include "kernels/half.h"

namespace engram::inference {

Result<std::unique_ptr<KvCache>> KvCache::Create(const KvCacheShape& shape,
                                                 const KvCacheOptions& options) {
  if (shape.n_layer <= 0 || shape.n_kv_head <= 0 || shape.head_dim <= 0) {
    return Status::InvalidArgument("kv cache: layers, heads and head size must be positive");
  }
  if (options.capacity <= 0) {
    return Status::InvalidArgument("kv cache: capacity " + std::to_string(options.capacity) +
                                   " must be positive");
  }
  if (options.type != TensorType::kF16 && options.type != TensorType::kF32) {
    return Status::InvalidArgument(std::string("kv cache: entry type '") +
                                   std::string(TensorTypeName(options.type)) +
                                   "' is not supported; use f16 or f32");
  }
  std::unique_ptr<KvCache> cache(new KvCache());
  cache->shape_ = shape;
  cache->type_ = options.type;
  cache->capacity_ = options.capacity;
  if (static_cast<uint64_t>(options.capacity) > (uint64_t{1} << 40) / cache->bytes_per_position()) {
    return Status::InvalidArgument("kv cache: " + std::to_string(options.capacity) +
                                   " positions would need more than 1 TiB; use a smaller context");
  }
  cache->total_bytes_ = cache->bytes_per_position() * static_cast<size_t>(options.capacity);
  // Deliberately uninitialised: untouched pages cost no memory.
  cache->storage_.reset(new (std::nothrow) uint8_t[cache->total_bytes_]);
  if (!cache->storage_) {
    return Status::ResourceExhausted("kv cache: cannot reserve " +
                                     std::to_string(cache->total_bytes_ >> 20) + " MiB for " +
                                     std::to_string(options.capacity) +
                                     " positions; use a smaller context");
  }
  return cache;
}

size_t KvCache::row_bytes() const {
  return static_cast<size_t>(shape_.head_dim) * (type_ == TensorType::kF16 ? 2 : 4);
}

size_t KvCache::bytes_per_position() const {
  return 2 * static_cast<size_t>(shape_.n_layer) * shape_.n_kv_head * row_bytes();
}

kernels::KvRows KvCache::Rows(int layer, int kv_head, int which) const {
  const size_t head_bytes = row_bytes() * static_cast<size_t>(capacity_);
  const size_t index = (static_cast<size_t>(layer) * 2 + which) * shape_.n_kv_head + kv_head;
  return {storage_.get() + index * head_bytes, row_bytes(), type_};
}

void KvCache::Store(int layer, int64_t pos, const float* k, const float* v) {
  const int d = shape_.head_dim;
  for (int which = 0; which < 2; ++which) {
    const float* src = which == 0 ? k : v;
    for (int h = 0; h < shape_.n_kv_head; ++h) {
      const kernels::KvRows rows = Rows(layer, h, which);
      uint8_t* dst = static_cast<uint8_t*>(const_cast<void*>(rows.data)) + pos * rows.row_stride;
      if (type_ == TensorType::kF16) {
        auto* out = reinterpret_cast<uint16_t*>(dst);
        for (int i = 0; i < d; ++i) out[i] = kernels::Fp32ToFp16(src[h * d + i]);
      } else {
        std::memcpy(dst, src + h * d, d * sizeof(float));
      }
    }
  }
}

}  // namespace engram::inference
