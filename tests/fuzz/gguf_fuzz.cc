// Fuzz target for the GGUF reader and everything that reads GGUF metadata (the tokenizer
// loaders, the inspect report). Built as a libFuzzer binary with clang (scripts/fuzz.sh), and
// always as a corpus replayer that ctest runs over tests/fuzz/corpus/gguf.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/json_write.h"
#include "inference/gguf.h"
#include "inference/gguf_report.h"
#include "inference/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace engram::inference;
  auto gguf = GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!gguf.ok()) return 0;
  const GgufFile& file = **gguf;
  for (const GgufMetadataEntry& entry : file.metadata()) {
    (void)entry.value.ToDisplayString();
    (void)entry.value.AsStringArray();
    (void)entry.value.AsFloatArray();
    (void)entry.value.AsIntArray();
  }
  (void)engram::JsonText(GgufToJson(file, 0));
  for (const GgufTensor& t : file.tensors()) {
    // Touch the first and last byte: the reader promised they are inside the mapping.
    if (t.bytes > 0) {
      volatile uint8_t first = t.data[0];
      volatile uint8_t last = t.data[t.bytes - 1];
      (void)first;
      (void)last;
    }
  }
  auto tokenizer = Tokenizer::FromGguf(file);
  if (tokenizer.ok()) {
    const auto ids = (*tokenizer)->Encode("Hello world, 123 <|im_start|> \xff\xfe 東京",
                                          {.add_special = true, .parse_special = true});
    (void)(*tokenizer)->Decode(ids);
  }
  return 0;
}
