// Document parsing: formats from file names, UTF-8 repair, Markdown titles, visible HTML text
// (tests/data/docs/sample.html) and PDF text (tests/data/docs/*.pdf, written by
// scripts/fixtures/make_test_pdf.py), and the errors for unreadable input.
#include "retrieval/document_parser.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace engram::retrieval {
namespace {

std::string Fixture(const std::string& name) {
  return std::string(ENGRAM_TEST_DATA_DIR) + "/docs/" + name;
}

std::string ReadFixture(const std::string& name) {
  std::ifstream in(Fixture(name), std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ParsedDocument MustParse(std::string_view bytes, DocumentFormat format) {
  Result<ParsedDocument> doc = ParseDocument(bytes, format, "test");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return doc.ok() ? *doc : ParsedDocument{};
}

std::string Html(std::string_view bytes) { return MustParse(bytes, DocumentFormat::kHtml).text; }

TEST(DocumentParserTest, FormatNames) {
  EXPECT_EQ(DocumentFormatName(DocumentFormat::kText), "txt");
  EXPECT_EQ(DocumentFormatName(DocumentFormat::kMarkdown), "md");
  EXPECT_EQ(DocumentFormatName(DocumentFormat::kHtml), "html");
  EXPECT_EQ(DocumentFormatName(DocumentFormat::kPdf), "pdf");
}

TEST(DocumentParserTest, FormatFromPathByExtensionIgnoringCase) {
  const std::pair<const char*, DocumentFormat> cases[] = {
      {"a.txt", DocumentFormat::kText},        {"dir/B.TEXT", DocumentFormat::kText},
      {"notes.md", DocumentFormat::kMarkdown}, {"x.y/README.Markdown", DocumentFormat::kMarkdown},
      {"page.html", DocumentFormat::kHtml},    {"/abs/page.HTM", DocumentFormat::kHtml},
      {"paper.pdf", DocumentFormat::kPdf},     {"Paper.v2.PDF", DocumentFormat::kPdf},
  };
  for (const auto& [path, format] : cases) {
    Result<DocumentFormat> f = FormatFromPath(path);
    ASSERT_TRUE(f.ok()) << path << ": " << f.status().ToString();
    EXPECT_EQ(*f, format) << path;
  }
}

TEST(DocumentParserTest, FormatFromPathRejectsOtherExtensions) {
  for (const char* path : {"a.docx", "noext", "dir.md/file", ".md", "a.", "archive.pdf.gz"}) {
    Result<DocumentFormat> f = FormatFromPath(path);
    ASSERT_FALSE(f.ok()) << path;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find(std::string("'") + path + "'"), std::string::npos)
        << f.status().message();
    EXPECT_NE(f.status().message().find(".txt, .text, .md, .markdown, .html, .htm, .pdf"),
              std::string::npos)
        << f.status().message();
  }
}

TEST(DocumentParserTest, RepairUtf8KeepsValidTextAndReplacesMaximalSubparts) {
  const std::string valid = "ascii, caf\xC3\xA9, \xE4\xB8\xAD\xE6\x96\x87, \xF0\x9F\x98\x80";
  EXPECT_EQ(RepairUtf8(valid), valid);
  EXPECT_EQ(RepairUtf8(""), "");
  const std::string r = "\xEF\xBF\xBD";
  // Expected values are what Python's bytes.decode("utf-8", "replace") gives.
  EXPECT_EQ(RepairUtf8("a\xFF"
                       "b"),
            "a" + r + "b");                  // never valid
  EXPECT_EQ(RepairUtf8("\x80\x80"), r + r);  // stray continuations
  EXPECT_EQ(RepairUtf8("\xC3"), r);          // truncated at the end
  EXPECT_EQ(RepairUtf8("\xE4\xB8"
                       "x"),
            r + "x");                                        // one subpart, one U+FFFD
  EXPECT_EQ(RepairUtf8("\xC0\xAF"), r + r);                  // overlong
  EXPECT_EQ(RepairUtf8("\xE0\x80\xAF"), r + r + r);          // overlong 3-byte
  EXPECT_EQ(RepairUtf8("\xED\xA0\x80"), r + r + r);          // surrogate D800
  EXPECT_EQ(RepairUtf8("\xF4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(RepairUtf8("\xF0\x9F\x98"
                       "!"),
            r + "!");  // truncated 4-byte
  EXPECT_EQ(RepairUtf8("\xF5\x80"), r + r);
}

TEST(DocumentParserTest, TextKeepsBytesAndRepairsUtf8) {
  const std::string text = "  Line one.\r\n\tcaf\xC3\xA9 \xFF end  \n";
  ParsedDocument doc = MustParse(text, DocumentFormat::kText);
  EXPECT_EQ(doc.format, DocumentFormat::kText);
  EXPECT_EQ(doc.text, "  Line one.\r\n\tcaf\xC3\xA9 \xEF\xBF\xBD end  \n");
  EXPECT_EQ(doc.title, "");
  // "# Heading" in a plain text file is not a title.
  EXPECT_EQ(MustParse("# Heading\n", DocumentFormat::kText).title, "");
}

TEST(DocumentParserTest, MarkdownKeepsBytesAndTakesTheFirstLevelOneHeading) {
  const std::string md = "Intro line\n## Not level one\n# The *Title* #\n\nBody.\n# Second\n";
  ParsedDocument doc = MustParse(md, DocumentFormat::kMarkdown);
  EXPECT_EQ(doc.format, DocumentFormat::kMarkdown);
  EXPECT_EQ(doc.text, md);
  EXPECT_EQ(doc.title, "The *Title*");
  EXPECT_EQ(MustParse("#hashtag\n   # Indented title\r\n", DocumentFormat::kMarkdown).title,
            "Indented title");
  EXPECT_EQ(MustParse("# C# tips\n", DocumentFormat::kMarkdown).title, "C# tips");
  EXPECT_EQ(MustParse("no heading\n", DocumentFormat::kMarkdown).title, "");
  EXPECT_EQ(MustParse("~~~\n# in code\n~~~\n# Out\n", DocumentFormat::kMarkdown).title, "Out");
}

TEST(DocumentParserTest, MarkdownFileSkipsFencedCode) {
  Result<ParsedDocument> doc = ParseDocumentFile(Fixture("notes.md"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, DocumentFormat::kMarkdown);
  EXPECT_EQ(doc->title, "Release notes");
  EXPECT_EQ(doc->text, ReadFixture("notes.md"));
}

TEST(DocumentParserTest, HtmlFixtureGivesTheVisibleText) {
  Result<ParsedDocument> doc = ParseDocumentFile(Fixture("sample.html"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, DocumentFormat::kHtml);
  EXPECT_EQ(doc->title, "Caf\u00E9 & Menu");
  EXPECT_EQ(doc->text,
            "Today's specials\n\n"
            "Fresh bread, coffee and tea \u2014 all day.\n\n"
            "Soup\n\nTomato\n\nLeek & potato\n\nSalad\n\n"
            "Line one\nLine two\n\n"
            "Item Price\n\nTea \u20AC2\n\n"
            "  code   keeps\n    spacing\n\n"
            "Caf\u00E9 cr\u00E8me <3 \U0001F600");
  for (const char* hidden : {"script text", "style text", "Enable JavaScript", "Template text",
                             "Hidden text", "a comment", "Menu"}) {
    EXPECT_EQ(doc->text.find(hidden), std::string::npos) << hidden;
  }
}

TEST(DocumentParserTest, HtmlWhitespaceAndBlocks) {
  EXPECT_EQ(Html("<p>a  <span> b </span>\n\tc</p>"), "a b c");
  EXPECT_EQ(Html("x<b>y</b>z"), "xyz");  // inline elements do not separate
  EXPECT_EQ(Html("<div>one</div><div>two</div>"), "one\n\ntwo");
  EXPECT_EQ(Html("<div><div><p>deep</p></div></div><p>next</p>"), "deep\n\nnext");
  EXPECT_EQ(Html("a<br>b<br/><br>c"), "a\nb\nc");
  EXPECT_EQ(Html("<h2>Head</h2>text<blockquote>quote</blockquote>"), "Head\n\ntext\n\nquote");
  EXPECT_EQ(Html("&nbsp;a&nbsp;&nbsp;b"), "\u00A0a\u00A0\u00A0b");  // nbsp does not collapse
  EXPECT_EQ(Html("<title>T</title>"), "");
  EXPECT_EQ(Html("   \n  "), "");
  EXPECT_EQ(Html(""), "");
}

TEST(DocumentParserTest, CorruptHtmlIsRepairedNotRejected) {
  EXPECT_EQ(Html("<p>unclosed <b>bold <i>both</p>after"), "unclosed bold both\n\nafter");
  EXPECT_EQ(Html("<<>><p>x</div></span>"), "<<>>\n\nx");
  EXPECT_EQ(Html("<script>never closed"), "");
  EXPECT_EQ(Html("caf\xE9 \xFF"), "caf\uFFFD \uFFFD");  // Latin-1 bytes become U+FFFD
  // Deep unclosed nesting (gumbo's tree building is quadratic in depth, so not much deeper).
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "<div>";
  deep += "bottom";
  EXPECT_EQ(Html(deep), "bottom");
}

TEST(DocumentParserTest, HtmlTitleIsCollapsedAndOptional) {
  EXPECT_EQ(MustParse("<title>\n A\tB </title><p>x", DocumentFormat::kHtml).title, "A B");
  EXPECT_EQ(MustParse("<h1>Not a title</h1>", DocumentFormat::kHtml).title, "");
}

TEST(DocumentParserTest, PdfPagesAreJoinedWithBlankLines) {
  Result<ParsedDocument> doc = ParseDocumentFile(Fixture("two_pages.pdf"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, DocumentFormat::kPdf);
  EXPECT_EQ(doc->title, "Engram Test \u2013 Two Pages");
  EXPECT_EQ(doc->text,
            "Engram test PDF, page one.\nThe quick brown fox jumps over the lazy dog.\n\n"
            "Second page: caf\u00E9 and na\u00EFve text.\nThe end.");
}

TEST(DocumentParserTest, UnreadablePdfsAreInvalidArgument) {
  for (const char* name : {"truncated.pdf", "random_bytes.pdf", "encrypted.pdf"}) {
    const std::string bytes = ReadFixture(name);
    ASSERT_FALSE(bytes.empty()) << name;
    Result<ParsedDocument> doc = ParseDocument(bytes, DocumentFormat::kPdf, name);
    ASSERT_FALSE(doc.ok()) << name;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_TRUE(
        doc.status().message().starts_with(std::string("pdf: '") + name + "' cannot be read: "))
        << doc.status().message();
    EXPECT_EQ(doc.status().message().find('\n'), std::string::npos);
  }
  Result<ParsedDocument> locked =
      ParseDocument(ReadFixture("encrypted.pdf"), DocumentFormat::kPdf, "x.pdf");
  EXPECT_NE(locked.status().message().find("password"), std::string::npos)
      << locked.status().message();
  EXPECT_FALSE(ParseDocument("", DocumentFormat::kPdf, "empty.pdf").ok());
  EXPECT_FALSE(ParseDocument("<html>not a pdf</html>", DocumentFormat::kPdf, "fake.pdf").ok());
}

TEST(DocumentParserTest, ParseDocumentFileErrors) {
  Result<ParsedDocument> missing = ParseDocumentFile(Fixture("does_not_exist.txt"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("does_not_exist.txt"), std::string::npos);

  // What the path is comes first (missing, a directory), then what its extension says.
  Result<ParsedDocument> missing_docx = ParseDocumentFile(Fixture("does_not_exist.docx"));
  ASSERT_FALSE(missing_docx.ok());
  EXPECT_EQ(missing_docx.status().code(), StatusCode::kNotFound);
  const std::string docx = std::string(::testing::TempDir()) + "engram_parser_test.docx";
  { std::ofstream(docx) << "not really word"; }
  Result<ParsedDocument> unsupported = ParseDocumentFile(docx);
  std::remove(docx.c_str());
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsupported.status().message().find("extension"), std::string::npos);

  Result<ParsedDocument> pdf = ParseDocumentFile(Fixture("truncated.pdf"));
  ASSERT_FALSE(pdf.ok());
  EXPECT_EQ(pdf.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pdf.status().message().find("truncated.pdf"), std::string::npos);
}

TEST(DocumentParserTest, ParseDocumentFileReadsTextAsIs) {
  Result<ParsedDocument> doc = ParseDocumentFile(Fixture("plain.txt"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->format, DocumentFormat::kText);
  EXPECT_EQ(doc->text, "Plain text file.\nSecond line.\n");

  // Invalid UTF-8 in a file on disk, and a file name with an upper-case extension.
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("engram_parser_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       ".TXT");
  {
    std::ofstream out(path, std::ios::binary);
    out << "ok \xC3\x28 done";
  }
  Result<ParsedDocument> repaired = ParseDocumentFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_EQ(repaired->text, "ok \uFFFD( done");
}

// Deep nesting: gumbo's tree building is quadratic in depth, so markup beyond 400 open elements
// is flattened before parsing. Every shape of deep input parses in bounded time and keeps its
// text; ordinary nesting is untouched.
TEST(DocumentParserTest, DeepHtmlNestingParsesInBoundedTime) {
  constexpr int kDepth = 200000;
  for (const std::string open : {"<div>", "<span>", "<b>", "<div><p>", "<ul><li>", "<table><tr><td>"}) {
    SCOPED_TRACE(open);
    std::string html = "<html><body>first";
    html.reserve(kDepth * (open.size() + 2));
    for (int i = 0; i < kDepth; ++i) html += open + "w";
    html += "last";
    const auto start = std::chrono::steady_clock::now();
    const std::string text = Html(html);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 2.0);
    EXPECT_TRUE(text.starts_with("first")) << text.substr(0, 40);
    EXPECT_TRUE(text.ends_with("last")) << text.substr(text.size() - 40);
    size_t words = 0;
    for (size_t at = text.find('w'); at != std::string::npos; at = text.find('w', at + 1)) ++words;
    EXPECT_EQ(words, static_cast<size_t>(kDepth));
  }
  // Shallow markup, including raw text that looks like tags, is parsed as before.
  EXPECT_EQ(Html("<div><div>a</div><script><div><div></script><p>b</p></div>"), "a\n\nb");
}

// Hostile PDF bytes (every cut and many flips of a valid file, random bytes) give a document or
// a Status, never a crash.
TEST(DocumentParserTest, HostilePdfBytesGiveAStatus) {
  const std::string good = ReadFixture("two_pages.pdf");
  ASSERT_FALSE(good.empty());
  std::vector<std::string> inputs;
  for (size_t cut = 0; cut < good.size(); cut += std::max<size_t>(1, good.size() / 40)) {
    inputs.push_back(good.substr(0, cut));
  }
  for (size_t at = 0; at < good.size(); at += std::max<size_t>(1, good.size() / 60)) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
    inputs.push_back(flipped);
  }
  inputs.push_back("%PDF-1.7\n" + std::string(4096, '\xff'));
  for (const std::string& bytes : inputs) {
    Result<ParsedDocument> doc = ParseDocument(bytes, DocumentFormat::kPdf, "hostile.pdf");
    if (!doc.ok()) EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << doc.status().ToString();
  }
}

// ParseDocumentFile reads through common/input_file.h: a directory, a FIFO and a device (also
// behind a symlink with a document's name) are refused at once instead of read forever.
TEST(DocumentParserTest, ParseDocumentFileRefusesWhatIsNotAFile) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("engram_parser_special_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "folder.txt");
  fs::create_symlink("/dev/zero", dir / "zero.txt");
  ASSERT_EQ(::mkfifo((dir / "fifo.txt").c_str(), 0600), 0);
  for (const char* name : {"folder.txt", "zero.txt", "fifo.txt"}) {
    Result<ParsedDocument> doc = ParseDocumentFile((dir / name).string());
    ASSERT_FALSE(doc.ok()) << name;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << doc.status().ToString();
    EXPECT_NE(doc.status().message().find(name), std::string_view::npos) << doc.status().ToString();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace engram::retrieval
