// Tensor element types as GGML and GGUF number them: the type id stored with every tensor in a
// GGUF file, the block layout that id implies, and the byte size of a run of elements.
//
// Quantized types store elements in fixed-size blocks: `block_elems` elements packed into
// `block_bytes` bytes (Q4_K: 256 elements in 144 bytes). A row of a tensor is always a whole
// number of blocks. Plain types (f32, f16, bf16, i8, ...) are blocks of one element.
//
//   const TensorTypeInfo* info = FindTensorType(type_id_from_file);
//   if (info == nullptr) return Status::Corruption("unknown tensor type");
//   Result<int64_t> bytes = TensorRowBytes(info->type, row_elems);
//
// Every type GGML defines is listed with its correct block size, so the size of any tensor in any
// GGUF file can be computed; only the types marked `supported` can be dequantized or multiplied
// by kernels/quant.h.
//
// These names live in namespace engram (not engram::kernels) because they are vocabulary shared by
// the GGUF reader, the kernels and the models, like Status.
//
// Thread safety: everything here is immutable data and pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace engram {

// GGML's `enum ggml_type`, with the same numeric values (they are persisted in GGUF files).
// Gaps are ids GGML has retired (4, 5: Q4_2, Q4_3; 31-33, 36-38: repacked layouts).
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
  kQ2_0 = 42,
};

struct TensorTypeInfo {
  TensorType type;
  std::string_view name;  // ggml_type_name(): "f32", "q4_0", "q4_K", "iq2_xxs", "bf16", ...
  int64_t block_elems;    // elements per block; 1 for plain types
  int64_t block_bytes;    // bytes per block
  bool supported;         // DequantizeRow and DotRow (kernels/quant.h) accept this type
};

// The traits of GGML type id `id`, or nullptr for an id GGML does not define (including retired
// ones). The pointer refers to static storage and is valid for the life of the program.
const TensorTypeInfo* FindTensorType(uint32_t id);

// ggml_type_name() of `type`, e.g. "q4_K"; "unknown" for a value outside the enumeration.
std::string_view TensorTypeName(TensorType type);

// Bytes taken by `n_elems` consecutive elements of `type` (one row, or a whole tensor).
// kInvalidArgument when `type` is not a GGML type, `n_elems` is negative or not a multiple of the
// block size; kOutOfRange when the byte count does not fit in int64_t.
Result<int64_t> TensorRowBytes(TensorType type, int64_t n_elems);

}  // namespace engram
