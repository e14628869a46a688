#include "inference/model_support.h"

#include <algorithm>
#include <string>

namespace engram::inference {

std::span<const std::string_view> SupportedArchitectures() {
  static constexpr std::string_view kArchitectures[] = {"llama", "qwen2", "bert"};
  return kArchitectures;
}

Status CheckSupportedModel(const GgufFile& gguf) {
  Result<std::string_view> arch = gguf.Architecture();
  if (!arch.ok()) return arch.status();
  const auto archs = SupportedArchitectures();
  if (std::find(archs.begin(), archs.end(), *arch) == archs.end()) {
    std::string list;
    for (std::string_view a : archs) list += (list.empty() ? "" : ", ") + std::string(a);
    return Status::NotSupported("model: '" + gguf.path() + "' has architecture '" +
                                std::string(*arch) + "'; engram runs " + list);
  }
  for (const GgufTensor& t : gguf.tensors()) {
    const TensorTypeInfo* info = FindTensorType(static_cast<uint32_t>(t.type));
    if (info != nullptr && info->supported) continue;
    return Status::NotSupported(
        "model: tensor '" + std::string(t.name) + "' of '" + gguf.path() + "' has type " +
        std::string(TensorTypeName(t.type)) +
        ", which engram cannot compute with; re-quantize the model to one of f32, f16, bf16, "
        "q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K");
  }
  return Status::OK();
}

}  // namespace engram::inference
