// Fuzz target for the document parser (text, Markdown, HTML through gumbo, PDF through poppler)
// and the chunker behind `engram ingest`. The first byte picks the format; the rest is the
// document. Built as a libFuzzer binary with clang (scripts/fuzz.sh), and always as a corpus
// replayer that ctest runs over tests/fuzz/corpus/document.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json_write.h"
#include "retrieval/chunker.h"
#include "retrieval/document_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace engram::retrieval;
  if (size == 0) return 0;
  constexpr DocumentFormat kFormats[] = {DocumentFormat::kText, DocumentFormat::kMarkdown,
                                         DocumentFormat::kHtml, DocumentFormat::kPdf};
  const DocumentFormat format = kFormats[data[0] % 4];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto doc = ParseDocument(bytes, format, "fuzz");
  if (!doc.ok()) return 0;
  // What ingest does next: chunk (words stand in for tokens) and write the title as JSON.
  ChunkOptions options;
  options.max_tokens = 32;
  options.overlap_tokens = 4;
  auto count = [](std::string_view text) {
    int words = 2;  // as BERT: [CLS] and [SEP]
    for (const char c : text) words += c == ' ';
    return words;
  };
  auto chunks = ChunkText(doc->text, options, count);
  if (chunks.ok()) {
    for (const TextChunk& c : *chunks) {
      // The chunker promised offsets inside the text.
      if (c.end > doc->text.size() || c.begin > c.end) __builtin_trap();
    }
  }
  (void)engram::JsonText(nlohmann::json{{"title", doc->title}, {"text", doc->text}});
  return 0;
}
