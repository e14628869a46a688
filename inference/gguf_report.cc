#include "inference/gguf_report.h"

#include <cinttypes>
#include <cstdio>
#include <map>

#include "common/machine_info.h"

namespace engram::inference {
namespace {

nlohmann::ordered_json ScalarToJson(const GgufValue& v) {
  switch (v.type()) {
    case GgufType::kString:
      return std::string(*v.AsString());
    case GgufType::kBool:
      return *v.AsBool();
    case GgufType::kFloat32:
    case GgufType::kFloat64:
      return *v.AsDouble();
    case GgufType::kUint64:
      return *v.AsUint64();
    default:
      return *v.AsInt64();  // every other integer type fits
  }
}

nlohmann::ordered_json ValueToJson(const GgufValue& v, size_t max_array) {
  if (!v.is_array()) return ScalarToJson(v);
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  const uint64_t shown = max_array == 0 ? v.size() : std::min<uint64_t>(v.size(), max_array);
  if (v.element_type() == GgufType::kString) {
    const std::vector<std::string_view> strings = *v.AsStringArray();
    for (uint64_t i = 0; i < shown; ++i) items.push_back(std::string(strings[i]));
  } else if (v.element_type() == GgufType::kFloat32 || v.element_type() == GgufType::kFloat64) {
    const std::vector<float> values = *v.AsFloatArray();
    for (uint64_t i = 0; i < shown; ++i) items.push_back(values[i]);
  } else {
    Result<std::vector<int64_t>> values = v.AsIntArray();
    if (values.ok()) {
      for (uint64_t i = 0; i < shown; ++i) items.push_back((*values)[i]);
    }
  }
  if (shown < v.size()) items.push_back("…(" + std::to_string(v.size() - shown) + " more)");
  return items;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

nlohmann::ordered_json GgufToJson(const GgufFile& gguf, size_t max_array) {
  nlohmann::ordered_json out;
  out["path"] = gguf.path();
  out["version"] = gguf.version();
  out["alignment"] = gguf.alignment();
  out["data_offset"] = gguf.data_offset();
  out["file_bytes"] = gguf.file_size();
  Result<std::string_view> arch = gguf.Architecture();
  out["architecture"] = arch.ok() ? nlohmann::ordered_json(std::string(*arch)) : nlohmann::ordered_json();
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  for (const GgufMetadataEntry& e : gguf.metadata()) {
    metadata[std::string(e.key)] = ValueToJson(e.value, max_array);
  }
  out["metadata"] = std::move(metadata);
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  std::map<std::string, int> type_counts;
  uint64_t total = 0;
  for (const GgufTensor& t : gguf.tensors()) {
    const std::string type(TensorTypeName(t.type));
    tensors.push_back({{"name", std::string(t.name)},
                       {"type", type},
                       {"shape", t.shape},
                       {"offset", t.file_offset},
                       {"bytes", t.bytes}});
    ++type_counts[type];
    total += t.bytes;
  }
  out["tensors"] = std::move(tensors);
  out["tensor_types"] = type_counts;
  out["tensor_bytes"] = total;
  return out;
}

std::string FormatGgufReport(const GgufFile& gguf) {
  std::string out;
  char line[512];
  Result<std::string_view> arch = gguf.Architecture();
  std::snprintf(line, sizeof line, "%s\n  GGUF v%u, %s, %zu metadata keys, %zu tensors, "
                "architecture %s\n\nmetadata\n",
                gguf.path().c_str(), gguf.version(), FormatBytes(gguf.file_size()).c_str(),
                gguf.metadata().size(), gguf.tensors().size(),
                arch.ok() ? std::string(*arch).c_str() : "(none)");
  out += line;
  for (const GgufMetadataEntry& e : gguf.metadata()) {
    out += "  " + std::string(e.key) + " = " + e.value.ToDisplayString(72) + "\n";
  }
  std::snprintf(line, sizeof line, "\ntensors\n  %-36s %-8s %-22s %14s %12s\n", "name", "type",
                "shape", "offset", "bytes");
  out += line;
  for (const GgufTensor& t : gguf.tensors()) {
    std::snprintf(line, sizeof line, "  %-36s %-8s %-22s %14" PRIu64 " %12" PRIu64 "\n",
                  std::string(t.name).c_str(), std::string(TensorTypeName(t.type)).c_str(),
                  ShapeString(t.shape).c_str(), t.file_offset, t.bytes);
    out += line;
  }
  return out;
}

}  // namespace engram::inference
