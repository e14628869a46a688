// Turns a document file (plain text, Markdown, HTML, PDF) into UTF-8 text for the chunker
// (retrieval/chunker.h), the first step of `engram ingest`.
//
//   Result<ParsedDocument> doc = ParseDocumentFile("report.pdf");
//   if (!doc.ok()) return doc.status();
//   Result<std::vector<TextChunk>> chunks = ChunkText(doc->text, options, count_tokens);
//
// Text and Markdown keep the file's bytes (only invalid UTF-8 is repaired, byte for byte the
// rest is unchanged), so chunk offsets point into what the user's file says. HTML and PDF text is
// extracted (gumbo, poppler-cpp); offsets then point into the extracted text.
//
// Thread safety: every function may be called concurrently. PDF parsing is serialised inside
// (one document at a time) because poppler's global state is not documented as thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace engram::retrieval {

enum class DocumentFormat { kText, kMarkdown, kHtml, kPdf };

// "txt", "md", "html", "pdf".
std::string_view DocumentFormatName(DocumentFormat f);

// From the file extension, case-insensitive: .txt .text -> kText, .md .markdown -> kMarkdown,
// .html .htm -> kHtml, .pdf -> kPdf; anything else: kInvalidArgument naming the file and the
// accepted extensions.
Result<DocumentFormat> FormatFromPath(std::string_view path);

struct ParsedDocument {
  std::string text;   // UTF-8; invalid bytes replaced by U+FFFD
  std::string title;  // <title>, PDF Title info, or first Markdown '# ' heading; else empty
  DocumentFormat format = DocumentFormat::kText;
};

// Parses `bytes` as `format`; `name` is used only in error messages.
//  - Text and Markdown: text = the bytes after UTF-8 repair, otherwise unchanged. The Markdown
//    title is the first ATX level-1 heading ("# Title", closing #s dropped) outside fenced code.
//  - HTML: the visible text, skipping script, style, noscript, template, head and elements with
//    the `hidden` attribute. Block elements (p, div, li, h1-h6, tr, section, article, pre,
//    blockquote, table, ...) are separated by "\n\n", <br> by "\n", table cells by " ". Runs of
//    white space in inline text collapse to one space, as a browser shows it; <pre> keeps its
//    white space. The text never starts or ends with white space. Never fails: gumbo repairs any
//    markup, and a document without visible text gives an empty text.
//  - PDF: the text of each page (poppler, physical layout), trailing white space removed, pages
//    joined with "\n\n"; pages without text are left out. A locked (encrypted) or unreadable PDF
//    is kInvalidArgument "pdf: '<name>' cannot be read: ...".
Result<ParsedDocument> ParseDocument(std::string_view bytes, DocumentFormat format,
                                     std::string_view name);

// Reads `path` (common/input_file.h: a regular file of at most kMaxDocumentBytes) and parses it
// in the format its extension names (FormatFromPath). What the path is comes first: kNotFound
// when it is missing, kInvalidArgument for a directory, FIFO or device, then for an unknown
// extension; kIOError when it cannot be read.
Result<ParsedDocument> ParseDocumentFile(const std::string& path);

// `bytes` with every ill-formed UTF-8 sequence replaced by U+FFFD (EF BF BD), one replacement
// per maximal ill-formed subpart as the Unicode standard (ch. 3, "U+FFFD Substitution of Maximal
// Subparts") recommends and as Python's bytes.decode("utf-8", "replace") does. Overlong forms,
// surrogates and code points above U+10FFFF are ill-formed. Valid input comes back unchanged.
std::string RepairUtf8(std::string_view bytes);

}  // namespace engram::retrieval
