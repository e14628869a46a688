#include "retrieval/document_parser.h"

#include <fcntl.h>
#include <gumbo.h>
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/input_file.h"

namespace engram::retrieval {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kAcceptedExtensions = ".txt, .text, .md, .markdown, .html, .htm, .pdf";

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view TrimAscii(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Collapses runs of ASCII white space to one space and trims the ends.
std::string CollapseWhitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (IsAsciiSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// ---- Markdown ----------------------------------------------------------------------------------

// The first "# Title" line outside fenced code blocks (``` or ~~~), without the closing #s.
std::string MarkdownTitle(std::string_view text) {
  std::string_view fence;  // the fence that opened the current code block; empty outside one
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Up to three spaces of indentation are allowed before a heading or a fence.
    size_t indent = 0;
    while (indent < line.size() && indent < 3 && line[indent] == ' ') ++indent;
    std::string_view body = line.substr(indent);
    if (body.starts_with("```") || body.starts_with("~~~")) {
      size_t n = 0;
      while (n < body.size() && body[n] == body[0]) ++n;
      std::string_view marker = body.substr(0, n);
      if (fence.empty()) {
        fence = marker;
      } else if (marker[0] == fence[0] && marker.size() >= fence.size() &&
                 TrimAscii(body.substr(n)).empty()) {
        fence = {};
      }
      continue;
    }
    if (!fence.empty()) continue;
    if (body != "#" && !body.starts_with("# ") && !body.starts_with("#\t")) continue;
    std::string_view title = TrimAscii(body.substr(1));
    // An optional closing sequence of #s, preceded by a space ("# Title ##").
    size_t hashes = title.size();
    while (hashes > 0 && title[hashes - 1] == '#') --hashes;
    if (hashes == 0) {
      title = {};
    } else if (hashes < title.size() && IsAsciiSpace(title[hashes - 1])) {
      title = TrimAscii(title.substr(0, hashes));
    }
    return std::string(title);
  }
  return {};
}

// ---- HTML --------------------------------------------------------------------------------------

// Accumulates visible text with browser-like white space: a separator is only written once the
// next visible character arrives, and the strongest pending separator wins.
class HtmlTextBuilder {
 public:
  enum Separator { kNone = 0, kSpace = 1, kLine = 2, kParagraph = 3 };

  void Separate(Separator s) {
    if (s > pending_) pending_ = s;
  }

  // Inline text: runs of HTML white space become one pending space.
  void Inline(std::string_view s) {
    for (char c : s) {
      if (IsHtmlSpace(c)) {
        Separate(kSpace);
      } else {
        Flush();
        out_ += c;
      }
    }
  }

  // Preformatted text: kept as written (leading white space of the document dropped).
  void Preformatted(std::string_view s) {
    if (out_.empty()) {
      while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
    }
    if (s.empty()) return;
    Flush();
    out_ += s;
  }

  std::string Finish() {
    while (!out_.empty() && IsAsciiSpace(out_.back())) out_.pop_back();
    return std::move(out_);
  }

 private:
  static bool IsHtmlSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
  }

  void Flush() {
    Separator s = pending_;
    pending_ = kNone;
    if (out_.empty() || s == kNone) return;
    if (s == kSpace) {
      if (!IsAsciiSpace(out_.back())) out_ += ' ';
      return;
    }
    while (!out_.empty() && IsAsciiSpace(out_.back())) out_.pop_back();
    out_ += s == kLine ? "\n" : "\n\n";
  }

  std::string out_;
  Separator pending_ = kNone;
};

bool IsSkippedTag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH:
    case GUMBO_TAG_DATALIST:
      return true;
    default:
      return false;
  }
}

bool IsBlockTag(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FRAMESET:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_LISTING:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_XMP:
      return true;
    default:
      return false;
  }
}

bool IsPreformattedTag(GumboTag tag) {
  return tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_TEXTAREA || tag == GUMBO_TAG_LISTING ||
         tag == GUMBO_TAG_PLAINTEXT || tag == GUMBO_TAG_XMP;
}

bool IsCellTag(GumboTag tag) { return tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH; }

// gumbo with error recording off: each parse error copies the stack of open elements, which
// made unclosed deep nesting quadratic (10,000 nested <div>s: 2.2 s with errors, 0.15 s
// without). The tree building itself stays quadratic in nesting depth (scope checks walk the
// open elements): 30,000 nested elements take about 3.5 s.
const GumboOptions& ParserOptions() {
  static const GumboOptions options = [] {
    GumboOptions o = kGumboDefaultOptions;
    o.max_errors = 0;
    return o;
  }();
  return options;
}

struct GumboOutputDeleter {
  void operator()(GumboOutput* output) const { gumbo_destroy_output(&ParserOptions(), output); }
};

// Concatenated text below `node` (any depth), for <title>.
std::string NodeText(const GumboNode* node) {
  std::string text;
  std::vector<const GumboNode*> stack = {node};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE ||
        n->type == GUMBO_NODE_CDATA) {
      text += n->v.text.text;
    } else if (n->type == GUMBO_NODE_ELEMENT) {
      const GumboVector& children = n->v.element.children;
      for (unsigned i = children.length; i-- > 0;) {
        stack.push_back(static_cast<const GumboNode*>(children.data[i]));
      }
    }
  }
  return text;
}

// The first <title> element in document order, collapsed; empty when there is none.
std::string HtmlTitle(const GumboNode* root) {
  std::vector<const GumboNode*> stack = {root};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    const GumboVector* children = nullptr;
    if (n->type == GUMBO_NODE_DOCUMENT) {
      children = &n->v.document.children;
    } else if (n->type == GUMBO_NODE_ELEMENT) {
      if (n->v.element.tag == GUMBO_TAG_TITLE) return CollapseWhitespace(NodeText(n));
      if (n->v.element.tag == GUMBO_TAG_SVG) continue;  // an SVG <title> is a tooltip
      children = &n->v.element.children;
    }
    if (children == nullptr) continue;
    for (unsigned i = children->length; i-- > 0;) {
      stack.push_back(static_cast<const GumboNode*>(children->data[i]));
    }
  }
  return {};
}

// The visible text of the tree under `root`. Iterative, so deeply nested markup cannot overflow
// the stack.
std::string HtmlVisibleText(const GumboNode* root) {
  struct Frame {
    const GumboVector* children;
    unsigned next;
    GumboTag tag;  // GUMBO_TAG_UNKNOWN for the document node
  };
  HtmlTextBuilder builder;
  int preformatted = 0;  // depth of open <pre>-like elements
  std::vector<Frame> stack;
  stack.push_back({&root->v.document.children, 0, GUMBO_TAG_UNKNOWN});
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == top.children->length) {
      const GumboTag tag = top.tag;
      stack.pop_back();
      if (IsBlockTag(tag)) builder.Separate(HtmlTextBuilder::kParagraph);
      if (IsCellTag(tag)) builder.Separate(HtmlTextBuilder::kSpace);
      if (IsPreformattedTag(tag)) --preformatted;
      continue;
    }
    const auto* node = static_cast<const GumboNode*>(top.children->data[top.next++]);
    switch (node->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        if (preformatted > 0) {
          builder.Preformatted(node->v.text.text);
        } else {
          builder.Inline(node->v.text.text);
        }
        break;
      case GUMBO_NODE_ELEMENT: {
        const GumboElement& element = node->v.element;
        if (IsSkippedTag(element.tag)) break;
        if (gumbo_get_attribute(&element.attributes, "hidden") != nullptr) break;
        if (element.tag == GUMBO_TAG_BR) {
          builder.Separate(HtmlTextBuilder::kLine);
          break;
        }
        if (IsBlockTag(element.tag)) builder.Separate(HtmlTextBuilder::kParagraph);
        if (IsCellTag(element.tag)) builder.Separate(HtmlTextBuilder::kSpace);
        if (IsPreformattedTag(element.tag)) ++preformatted;
        stack.push_back({&element.children, 0, element.tag});  // invalidates `top`
        break;
      }
      default:  // comments, <template> contents, the document node
        break;
    }
  }
  return builder.Finish();
}

// ---- bounding HTML nesting ---------------------------------------------------------------------

// gumbo 0.10 has no depth limit, and its tree building is quadratic in nesting depth (scope
// checks walk the open elements): 100,000 unclosed <div>s took 32 s. LimitHtmlNesting keeps the
// markup at most kMaxHtmlDepth elements deep by dropping (as a space) the start tags that would
// nest deeper, so their text is still extracted. It tracks the open elements with a light
// tokenizer that over-estimates gumbo's depth (only void elements, same-name siblings of
// optional-end elements, and end tags pop), so the bound holds for gumbo's tree as well.
constexpr size_t kMaxHtmlDepth = 400;

bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool IsVoidElement(std::string_view name) {
  return IsOneOf(name, {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen",
                        "link", "meta", "param", "source", "track", "wbr"});
}

// Elements whose content is text, not markup, up to their end tag.
bool IsRawTextElement(std::string_view name) {
  return IsOneOf(name, {"script", "style", "textarea", "title", "xmp", "iframe", "noembed",
                        "noframes", "noscript"});
}

// Elements a start tag of the same name closes when it is the innermost open one.
bool IsOptionalEndElement(std::string_view name) {
  return IsOneOf(name, {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "rb",
                        "rt", "rp", "thead", "tbody", "tfoot"});
}

// The '>' that ends the tag whose name ends at `from`, skipping quoted attribute values.
size_t TagEnd(std::string_view html, size_t from) {
  char quote = 0;
  for (size_t i = from; i < html.size(); ++i) {
    const char c = html[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Where the end tag "</name" of a raw text element starts at or after `from` (npos: none).
size_t RawTextEnd(std::string_view html, size_t from, std::string_view name) {
  for (size_t i = html.find("</", from); i != std::string_view::npos; i = html.find("</", i + 2)) {
    if (EqualsIgnoreCase(html.substr(i + 2, name.size()), name)) return i;
  }
  return std::string_view::npos;
}

// `html` with the start tags beyond kMaxHtmlDepth replaced by a space; nullopt when none is.
std::optional<std::string> LimitHtmlNesting(std::string_view html) {
  std::vector<std::string> open;
  std::string out;
  size_t pos = 0, copied = 0;
  for (size_t lt = html.find('<'); lt != std::string_view::npos; lt = html.find('<', pos)) {
    if (html.substr(lt, 4) == "<!--") {
      const size_t end = html.find("-->", lt + 4);
      if (end == std::string_view::npos) break;
      pos = end + 3;
      continue;
    }
    size_t p = lt + 1;
    const bool end_tag = p < html.size() && html[p] == '/';
    if (end_tag) ++p;
    if (p >= html.size() || !std::isalpha(static_cast<unsigned char>(html[p]))) {
      pos = lt + 1;  // text, <!DOCTYPE>, <?...>
      continue;
    }
    size_t name_end = p;
    while (name_end < html.size() && !IsAsciiSpace(html[name_end]) && html[name_end] != '/' &&
           html[name_end] != '>') {
      ++name_end;
    }
    std::string name(html.substr(p, name_end - p));
    for (char& c : name) c = AsciiLower(c);
    const size_t gt = TagEnd(html, name_end);
    if (gt == std::string_view::npos) break;  // the rest is one unterminated tag
    pos = gt + 1;
    if (end_tag) {
      const auto it = std::find(open.rbegin(), open.rend(), name);
      if (it != open.rend()) open.erase(std::prev(it.base()), open.end());
      continue;
    }
    if (IsVoidElement(name)) continue;
    if (IsRawTextElement(name)) {
      pos = RawTextEnd(html, pos, name);
      if (pos == std::string_view::npos) break;
      continue;
    }
    if (name == "plaintext") break;  // the rest of the document is text
    if (IsOptionalEndElement(name) && !open.empty() && open.back() == name) open.pop_back();
    if (open.size() < kMaxHtmlDepth) {
      open.push_back(std::move(name));
      continue;
    }
    out.append(html.substr(copied, lt - copied));
    out += ' ';
    copied = pos;
  }
  if (copied == 0) return std::nullopt;
  out.append(html.substr(copied));
  return out;
}

Result<ParsedDocument> ParseHtml(std::string_view bytes) {
  std::string repaired = RepairUtf8(bytes);
  if (std::optional<std::string> limited = LimitHtmlNesting(repaired)) {
    spdlog::debug("html: markup nested deeper than {} elements was flattened", kMaxHtmlDepth);
    repaired = std::move(*limited);
  }
  std::unique_ptr<GumboOutput, GumboOutputDeleter> output(
      gumbo_parse_with_options(&ParserOptions(), repaired.data(), repaired.size()));
  ParsedDocument doc;
  doc.format = DocumentFormat::kHtml;
  if (output == nullptr || output->document == nullptr) return doc;  // gumbo never does this
  // gumbo decodes entities but passes through what the repaired input holds, so the text is
  // valid UTF-8; repairing again would only cost time.
  doc.text = HtmlVisibleText(output->document);
  doc.title = HtmlTitle(output->document);
  return doc;
}

// ---- PDF ---------------------------------------------------------------------------------------

void PopplerMessage(const std::string& message, void* /*closure*/) {
  spdlog::debug("poppler: {}", message);
}

// poppler's global state (GlobalParams, its error callback) is shared by every document.
std::mutex& PopplerMutex() {
  static std::mutex mutex;
  return mutex;
}

std::string PopplerUtf8(const poppler::ustring& s) {
  const poppler::byte_array bytes = s.to_utf8();
  return RepairUtf8(std::string_view(bytes.data(), bytes.size()));
}

Status PdfUnreadable(std::string_view name, std::string_view why) {
  return Status::InvalidArgument("pdf: '" + std::string(name) +
                                 "' cannot be read: " + std::string(why));
}

Result<ParsedDocument> ParsePdf(std::string_view bytes, std::string_view name) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return PdfUnreadable(name, "larger than 2 GiB, which poppler cannot load; split the file");
  }
  std::lock_guard<std::mutex> lock(PopplerMutex());
  static std::once_flag quiet;
  std::call_once(quiet, [] { poppler::set_debug_error_function(PopplerMessage, nullptr); });
  try {
    std::unique_ptr<poppler::document> pdf(
        poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
    if (pdf == nullptr) {
      return PdfUnreadable(name,
                           "not a PDF or damaged (poppler could not load it); check the file or "
                           "convert it to text first");
    }
    if (pdf->is_locked()) {
      return PdfUnreadable(name,
                           "it is encrypted and needs a password; decrypt it first "
                           "(e.g. qpdf --decrypt)");
    }
    ParsedDocument doc;
    doc.format = DocumentFormat::kPdf;
    doc.title = std::string(TrimAscii(PopplerUtf8(pdf->info_key("Title"))));
    const int pages = pdf->pages();
    for (int i = 0; i < pages; ++i) {
      std::unique_ptr<poppler::page> page(pdf->create_page(i));
      if (page == nullptr) continue;
      std::string text = PopplerUtf8(page->text());
      while (!text.empty() && IsAsciiSpace(text.back())) text.pop_back();
      size_t start = 0;
      while (start < text.size() && IsAsciiSpace(text[start])) ++start;
      if (start == text.size()) continue;
      if (!doc.text.empty()) doc.text += "\n\n";
      doc.text.append(text, start);
    }
    return doc;
  } catch (const std::exception& e) {
    return PdfUnreadable(name, std::string("poppler failed: ") + e.what());
  } catch (...) {
    return PdfUnreadable(name, "poppler failed with an unknown error");
  }
}

}  // namespace

std::string_view DocumentFormatName(DocumentFormat f) {
  switch (f) {
    case DocumentFormat::kText:
      return "txt";
    case DocumentFormat::kMarkdown:
      return "md";
    case DocumentFormat::kHtml:
      return "html";
    case DocumentFormat::kPdf:
      return "pdf";
  }
  return "?";
}

Result<DocumentFormat> FormatFromPath(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = file.find_last_of('.');
  if (dot != std::string_view::npos && dot > 0) {
    const std::string_view ext = file.substr(dot + 1);
    struct Known {
      std::string_view ext;
      DocumentFormat format;
    };
    static constexpr Known kKnown[] = {
        {"txt", DocumentFormat::kText},    {"text", DocumentFormat::kText},
        {"md", DocumentFormat::kMarkdown}, {"markdown", DocumentFormat::kMarkdown},
        {"html", DocumentFormat::kHtml},   {"htm", DocumentFormat::kHtml},
        {"pdf", DocumentFormat::kPdf},
    };
    for (const Known& k : kKnown) {
      if (EqualsIgnoreCase(ext, k.ext)) return k.format;
    }
  }
  return Status::InvalidArgument(
      "document '" + std::string(path) + "' has an unsupported file extension; accepted: " +
      std::string(kAcceptedExtensions) + " (rename the file or convert it to one of these)");
}

std::string RepairUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    // Copy a run of ASCII at once.
    size_t j = i;
    while (j < n && static_cast<unsigned char>(bytes[j]) < 0x80) ++j;
    out.append(bytes.data() + i, j - i);
    i = j;
    if (i == n) break;
    // Well-formed sequences (Unicode Table 3-7): the lead byte fixes the length and the range
    // of the first continuation byte.
    const auto lead = static_cast<unsigned char>(bytes[i]);
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 1;
    } else if (lead == 0xE0) {
      need = 2, lo = 0xA0;
    } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
      need = 2;
    } else if (lead == 0xED) {
      need = 2, hi = 0x9F;
    } else if (lead == 0xF0) {
      need = 3, lo = 0x90;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      need = 3;
    } else if (lead == 0xF4) {
      need = 3, hi = 0x8F;
    } else {
      out += kReplacement;  // a stray continuation byte, C0, C1 or F5..FF
      ++i;
      continue;
    }
    j = i + 1;
    int have = 0;
    while (have < need && j < n) {
      const auto c = static_cast<unsigned char>(bytes[j]);
      if (c < lo || c > hi) break;
      lo = 0x80, hi = 0xBF;
      ++j, ++have;
    }
    if (have == need) {
      out.append(bytes.data() + i, j - i);
    } else {
      out += kReplacement;  // the lead byte and the continuation bytes that were valid so far
    }
    i = j;
  }
  return out;
}

Result<ParsedDocument> ParseDocument(std::string_view bytes, DocumentFormat format,
                                     std::string_view name) {
  switch (format) {
    case DocumentFormat::kText:
    case DocumentFormat::kMarkdown: {
      ParsedDocument doc;
      doc.format = format;
      doc.text = RepairUtf8(bytes);
      if (format == DocumentFormat::kMarkdown) doc.title = MarkdownTitle(doc.text);
      return doc;
    }
    case DocumentFormat::kHtml:
      return ParseHtml(bytes);
    case DocumentFormat::kPdf:
      return ParsePdf(bytes, name);
  }
  return Status::InvalidArgument("document '" + std::string(name) + "': unknown format " +
                                 std::to_string(static_cast<int>(format)));
}

Result<ParsedDocument> ParseDocumentFile(const std::string& path) {
  // What the path is (a directory, a FIFO, missing) is said before what its name says.
  if (Result<ScopedFd> fd = OpenRegularFile(path, "document"); !fd.ok()) return fd.status();
  Result<DocumentFormat> format = FormatFromPath(path);
  if (!format.ok()) return format.status();
  Result<std::string> bytes = ReadFileBounded(path, kMaxDocumentBytes, "document");
  if (!bytes.ok()) return bytes.status();
  return ParseDocument(*bytes, *format, path);
}

}  // namespace engram::retrieval
