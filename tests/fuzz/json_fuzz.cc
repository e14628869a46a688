// Fuzz target for the JSON readers: common/json_read.h (parse + every typed accessor over the
// whole document), the SQuAD reader of the evals, the safetensors header reader, and
// common/json_write.h on whatever was parsed. Built as a libFuzzer binary with clang
// (scripts/fuzz.sh), and always as a corpus replayer that ctest runs over
// tests/fuzz/corpus/json.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "bench/eval_data.h"
#include "common/json_read.h"
#include "common/json_write.h"
#include "inference/safetensors.h"

namespace {

// Calls every accessor on every value; errors are expected, crashes are not.
void Walk(const engram::JsonValue& v, int depth) {
  (void)v.String();
  (void)v.Bool();
  (void)v.Number();
  (void)v.Int();
  (void)v.Int(0, 100);
  (void)v.Describe();
  (void)v.StringFieldOr("title", "");
  (void)v.IntFieldOr("hidden_size", 0, 1, 1 << 16);
  (void)v.NumberFieldOr("layer_norm_eps", 1e-12);
  (void)v.BoolFieldOr("pooling_mode_mean_tokens", false);
  if (depth > 64) return;
  if (auto items = v.Items(); items.ok()) {
    for (const engram::JsonValue& item : *items) Walk(item, depth + 1);
  }
  if (auto members = v.Members(); members.ok()) {
    for (const auto& [key, member] : *members) {
      (void)v.Field(key);
      Walk(member, depth + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = engram::ParseJsonText(text, "fuzz.json");
  if (doc.ok()) {
    Walk(engram::JsonValue(*doc, "fuzz.json"), 0);
    (void)engram::bench::ParseSquad(*doc, "fuzz.json");
    (void)engram::JsonText(*doc);
    (void)engram::JsonText(*doc, 2);
  }
  // The same bytes as a safetensors header: 8-byte length, then the JSON.
  std::vector<uint8_t> file(8 + size);
  const uint64_t length = size;
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(length >> (8 * i));
  std::copy(data, data + size, file.begin() + 8);
  (void)engram::inference::SafetensorsFile::Parse(std::span<const uint8_t>(file), "fuzz");
  return 0;
}
