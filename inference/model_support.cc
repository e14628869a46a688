#include "inference/model_support.h"

#include <algorithm>
#include <string>

namespace engram::inference {

std::span<const std::string_view> SupportedArchitectures() {
  static constexpr std::string_view kArchitectures[] = {"llama", "qwen2", "gemma3", "bert"};
  return kArchitectures;
}

namespace {
// "f32, f16, …" from the kernels' own table, so the message never goes stale.
std::string SupportedTypeList() {
  std::string list;
  for (uint32_t id = 0; id < 256; ++id) {
    const TensorTypeInfo* info = FindTensorType(id);
    if (info != nullptr && info->supported) {
      list += (list.empty() ? "" : ", ") + std::string(info->name);
    }
  }
  return list;
}
}  // namespace

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
        ", which engram cannot compute with; re-quantize the model to one of " +
        SupportedTypeList());
  }
  return Status::OK();
}

}  // namespace engram::inference
