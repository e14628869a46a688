#include "kernels/tensor_type.h"

#include <array>
#include <string>

namespace engram {

namespace {

constexpr int64_t kQK = 256;  // QK_K: the super-block of the K-quants and i-quants

// One row per GGML type, in id order. Block sizes follow ggml-common.h (sizeof(block_*)) and
// ggml.c's type_traits; names follow ggml_type_name().
constexpr TensorTypeInfo kTypes[] = {
    {TensorType::kF32, "f32", 1, 4, true},
    {TensorType::kF16, "f16", 1, 2, true},
    {TensorType::kQ4_0, "q4_0", 32, 2 + 16, true},
    {TensorType::kQ4_1, "q4_1", 32, 2 + 2 + 16, true},
    {TensorType::kQ5_0, "q5_0", 32, 2 + 4 + 16, true},
    {TensorType::kQ5_1, "q5_1", 32, 2 + 2 + 4 + 16, true},
    {TensorType::kQ8_0, "q8_0", 32, 2 + 32, true},
    {TensorType::kQ8_1, "q8_1", 32, 2 + 2 + 32, false},
    {TensorType::kQ2_K, "q2_K", kQK, kQK / 16 + kQK / 4 + 2 + 2, false},
    {TensorType::kQ3_K, "q3_K", kQK, kQK / 8 + kQK / 4 + 12 + 2, false},
    {TensorType::kQ4_K, "q4_K", kQK, 2 + 2 + 12 + kQK / 2, true},
    {TensorType::kQ5_K, "q5_K", kQK, 2 + 2 + 12 + kQK / 8 + kQK / 2, true},
    {TensorType::kQ6_K, "q6_K", kQK, kQK / 2 + kQK / 4 + kQK / 16 + 2, true},
    {TensorType::kQ8_K, "q8_K", kQK, 4 + kQK + kQK / 16 * 2, false},
    {TensorType::kIQ2_XXS, "iq2_xxs", kQK, 2 + kQK / 8 * 2, false},
    {TensorType::kIQ2_XS, "iq2_xs", kQK, 2 + kQK / 8 * 2 + kQK / 32, false},
    {TensorType::kIQ3_XXS, "iq3_xxs", kQK, 2 + 3 * (kQK / 8), false},
    {TensorType::kIQ1_S, "iq1_s", kQK, 2 + kQK / 8 + kQK / 16, false},
    {TensorType::kIQ4_NL, "iq4_nl", 32, 2 + 16, false},
    {TensorType::kIQ3_S, "iq3_s", kQK, 2 + 13 * (kQK / 32) + kQK / 64, false},
    {TensorType::kIQ2_S, "iq2_s", kQK, 2 + kQK / 4 + kQK / 16, false},
    {TensorType::kIQ4_XS, "iq4_xs", kQK, 2 + 2 + kQK / 64 + kQK / 2, false},
    {TensorType::kI8, "i8", 1, 1, false},
    {TensorType::kI16, "i16", 1, 2, false},
    {TensorType::kI32, "i32", 1, 4, false},
    {TensorType::kI64, "i64", 1, 8, false},
    {TensorType::kF64, "f64", 1, 8, false},
    {TensorType::kIQ1_M, "iq1_m", kQK, kQK / 8 + kQK / 16 + kQK / 32, false},
    {TensorType::kBF16, "bf16", 1, 2, true},
    {TensorType::kTQ1_0, "tq1_0", kQK, (kQK - 4 * kQK / 64) / 5 + kQK / 64 + 2, false},
    {TensorType::kTQ2_0, "tq2_0", kQK, kQK / 4 + 2, false},
    {TensorType::kMXFP4, "mxfp4", 32, 1 + 16, false},
    {TensorType::kNVFP4, "nvfp4", 64, 64 / 16 + 64 / 2, false},
    {TensorType::kQ1_0, "q1_0", 128, 2 + 128 / 8, false},
    {TensorType::kQ2_0, "q2_0", 64, 2 + 64 / 4, false},
};

constexpr uint32_t kMaxId = static_cast<uint32_t>(TensorType::kQ2_0);

constexpr std::array<const TensorTypeInfo*, kMaxId + 1> BuildIndex() {
  std::array<const TensorTypeInfo*, kMaxId + 1> index{};
  for (const TensorTypeInfo& info : kTypes) index[static_cast<uint32_t>(info.type)] = &info;
  return index;
}

constexpr std::array<const TensorTypeInfo*, kMaxId + 1> kById = BuildIndex();

}  // namespace

const TensorTypeInfo* FindTensorType(uint32_t id) { return id <= kMaxId ? kById[id] : nullptr; }

std::string_view TensorTypeName(TensorType type) {
  const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(type));
  return info != nullptr ? info->name : "unknown";
}

Result<int64_t> TensorRowBytes(TensorType type, int64_t n_elems) {
  const uint32_t id = static_cast<uint32_t>(type);
  const TensorTypeInfo* info = FindTensorType(id);
  if (info == nullptr) {
    return Status::InvalidArgument("tensor type id " + std::to_string(id) + " is not a GGML type");
  }
  if (n_elems < 0 || n_elems % info->block_elems != 0) {
    return Status::InvalidArgument(
        std::to_string(n_elems) + " elements of " + std::string(info->name) +
        " is not a non-negative multiple of its block size " + std::to_string(info->block_elems));
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(n_elems / info->block_elems, info->block_bytes, &bytes)) {
    return Status::OutOfRange(std::to_string(n_elems) + " elements of " + std::string(info->name) +
                              " take more than 2^63 bytes");
  }
  return bytes;
}

}  // namespace engram
