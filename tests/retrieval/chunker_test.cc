// The chunker: sentence splitting (seen through the counter's calls: it counts every sentence
// once), packing to the token budget, overlap, long-sentence and CJK cutting, the option
// checks, invariants over random texts, and a real L-Eval document (ENGRAM_SHARED_DATA).
#include "retrieval/chunker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/paths.h"

namespace engram::retrieval {
namespace {

using Counter = std::function<int(std::string_view)>;

bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Length of the white space at s[i] that these tests use (ASCII, U+00A0, U+3000), 0 if none.
size_t SpaceLength(std::string_view s, size_t i) {
  if (IsAsciiSpace(s[i])) return 1;
  if (s.substr(i).starts_with("\u00A0")) return 2;
  if (s.substr(i).starts_with("\u3000")) return 3;
  return 0;
}

// White-space words + 2 specials (a BERT-like [CLS] ... [SEP] on whole words; like BERT's basic
// tokenizer it takes U+00A0 and U+3000 for white space).
int CountWords(std::string_view s) {
  int words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    const size_t space = SpaceLength(s, i);
    if (space == 0 && !in_word) ++words;
    in_word = space == 0;
    i += space == 0 ? 1 : space;
  }
  return words + 2;
}

// UTF-8 characters + 1 special: counts the white space between sentences too, so the sum of the
// sentences' counts underestimates a chunk and the chunker's check has to catch it.
int CountChars(std::string_view s) {
  int chars = 0;
  for (char c : s) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return chars + 1;
}

bool StartsWithSpace(std::string_view s) { return SpaceLength(s, 0) != 0; }
bool EndsWithSpace(std::string_view s) {
  return IsAsciiSpace(s.back()) || s.ends_with("\u00A0") || s.ends_with("\u3000");
}

std::string_view Sub(std::string_view text, const TextChunk& c) {
  return text.substr(c.begin, c.end - c.begin);
}

std::vector<std::string> Texts(std::string_view text, const std::vector<TextChunk>& chunks) {
  std::vector<std::string> out;
  for (const TextChunk& c : chunks) out.emplace_back(Sub(text, c));
  return out;
}

std::vector<TextChunk> MustChunk(std::string_view text, ChunkOptions options,
                                 const Counter& count) {
  Result<std::vector<TextChunk>> chunks = ChunkText(text, options, count);
  EXPECT_TRUE(chunks.ok()) << chunks.status().ToString();
  return chunks.ok() ? *chunks : std::vector<TextChunk>{};
}

// Every promise of chunker.h that can be checked from outside. The overlap promise bounds the
// sum of the repeated sentences' counts; for a counter that also counts the white space between
// them (`additive` false) that white space is allowed on top.
void CheckInvariants(std::string_view text, const std::vector<TextChunk>& chunks,
                     const ChunkOptions& options, const Counter& count, bool additive = true) {
  const int specials = count("");
  std::vector<bool> covered(text.size(), false);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const TextChunk& c = chunks[i];
    ASSERT_LT(c.begin, c.end) << "chunk " << i;
    ASSERT_LE(c.end, text.size()) << "chunk " << i;
    const std::string_view s = Sub(text, c);
    EXPECT_EQ(c.tokens, count(s)) << "chunk " << i;
    EXPECT_LE(c.tokens, options.max_tokens) << "chunk " << i;
    EXPECT_FALSE(StartsWithSpace(s)) << "chunk " << i << ": '" << s << "'";
    EXPECT_FALSE(EndsWithSpace(s)) << "chunk " << i << ": '" << s << "'";
    // Chunk edges fall on UTF-8 character boundaries.
    EXPECT_NE(static_cast<unsigned char>(text[c.begin]) & 0xC0, 0x80) << "chunk " << i;
    if (c.end < text.size()) {
      EXPECT_NE(static_cast<unsigned char>(text[c.end]) & 0xC0, 0x80) << "chunk " << i;
    }
    for (size_t b = c.begin; b < c.end; ++b) covered[b] = true;
    if (i > 0) {
      const TextChunk& p = chunks[i - 1];
      EXPECT_LT(p.begin, c.begin) << "chunk " << i;
      EXPECT_LT(p.end, c.end) << "chunk " << i;
      if (c.begin < p.end) {
        ASSERT_GT(options.overlap_tokens, 0) << "chunk " << i << " overlaps without overlap";
        const std::string_view repeated = text.substr(c.begin, p.end - c.begin);
        int gaps = 0;
        if (!additive) {
          for (size_t k = 0; k < repeated.size(); ++k) {
            const size_t space = SpaceLength(repeated, k);
            gaps += space != 0;
            if (space > 1) k += space - 1;
          }
        }
        EXPECT_LE(count(repeated) - specials, options.overlap_tokens + gaps)
            << "chunk " << i << " repeats '" << repeated << "'";
      }
    }
  }
  for (size_t b = 0; b < text.size(); ++b) {
    if (covered[b]) continue;
    if (const size_t space = SpaceLength(text, b); space != 0) {
      b += space - 1;
      continue;
    }
    ADD_FAILURE() << "byte " << b << " ('" << text.substr(b, 20) << "...') is in no chunk";
    break;
  }
}

// The sentences the chunker finds: with a budget large enough for the whole text it counts ""
// (the specials), then each sentence once, then the one chunk when there are several sentences.
std::vector<std::string> Sentences(std::string_view text, const Counter& count = CountWords) {
  std::vector<std::string> calls;
  Counter recording = [&](std::string_view s) {
    calls.emplace_back(s);
    return count(s);
  };
  std::vector<TextChunk> chunks =
      MustChunk(text, {.max_tokens = 1 << 30, .overlap_tokens = 0}, recording);
  EXPECT_LE(chunks.size(), 1u);
  if (calls.empty() || calls[0] != "") return {"counter not called with \"\" first"};
  calls.erase(calls.begin());
  if (calls.size() > 1 && !chunks.empty() && calls.back() == Sub(text, chunks[0])) {
    calls.pop_back();
  }
  return calls;
}

using Strings = std::vector<std::string>;

TEST(ChunkerTest, EmptyAndWhitespaceTextGiveNoChunks) {
  for (std::string_view text : {"", " ", "\n\n\t  \r\n", "\u00A0 \u3000"}) {
    Result<std::vector<TextChunk>> chunks = ChunkText(text, {}, CountWords);
    ASSERT_TRUE(chunks.ok()) << chunks.status().ToString();
    EXPECT_TRUE(chunks->empty()) << "'" << text << "'";
  }
}

TEST(ChunkerTest, InvalidOptions) {
  // CountWords("") is 2, so max_tokens must be at least 4.
  const ChunkOptions bad[] = {{.max_tokens = 3, .overlap_tokens = 0},
                              {.max_tokens = 0, .overlap_tokens = 0},
                              {.max_tokens = 10, .overlap_tokens = -1},
                              {.max_tokens = 10, .overlap_tokens = 10},
                              {.max_tokens = 10, .overlap_tokens = 11}};
  for (const ChunkOptions& o : bad) {
    Result<std::vector<TextChunk>> chunks = ChunkText("Some text.", o, CountWords);
    ASSERT_FALSE(chunks.ok()) << o.max_tokens << " " << o.overlap_tokens;
    EXPECT_EQ(chunks.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(chunks.status().message().starts_with("chunker: ")) << chunks.status().message();
  }
  EXPECT_TRUE(ChunkText("Some text.", {.max_tokens = 4, .overlap_tokens = 3}, CountWords).ok());
  EXPECT_EQ(ChunkText("x", {}, Counter()).status().code(), StatusCode::kInvalidArgument);
  // A character that alone exceeds the budget cannot be chunked.
  auto bytes = [](std::string_view s) { return static_cast<int>(s.size()) + 1; };
  Result<std::vector<TextChunk>> cjk =
      ChunkText("\u4E2D\u6587", {.max_tokens = 3, .overlap_tokens = 0}, bytes);
  ASSERT_FALSE(cjk.ok());
  EXPECT_EQ(cjk.status().code(), StatusCode::kInvalidArgument);
}

TEST(ChunkerTest, SentenceBoundaries) {
  EXPECT_EQ(Sentences("One. Two! Three? Four"), (Strings{"One.", "Two!", "Three?", "Four"}));
  EXPECT_EQ(Sentences("  Lead and trail.  \n"), (Strings{"Lead and trail."}));
  // Closing quotes and brackets stay with their sentence; "..." and "?!" end one.
  EXPECT_EQ(Sentences("He said \"stop.\" Then (quietly.) Wait... What?! End"),
            (Strings{"He said \"stop.\"", "Then (quietly.)", "Wait...", "What?!", "End"}));
  // No white space after the mark: not a boundary (numbers, URLs, file names).
  EXPECT_EQ(Sentences("Pi is 3.14 and see example.com/a.b now. Next"),
            (Strings{"Pi is 3.14 and see example.com/a.b now.", "Next"}));
  // Blank lines (with \r\n or trailing blanks) end a sentence; a single line break does not.
  EXPECT_EQ(Sentences("Title line\n\nBody one\ncontinues.\r\n \r\nLast"),
            (Strings{"Title line", "Body one\ncontinues.", "Last"}));
  EXPECT_EQ(Sentences("page one\fpage two"), (Strings{"page one", "page two"}));
}

TEST(ChunkerTest, AbbreviationsDoNotEndSentences) {
  EXPECT_EQ(Sentences("Dr. Smith met Mr. Jones. They talked."),
            (Strings{"Dr. Smith met Mr. Jones.", "They talked."}));
  EXPECT_EQ(Sentences("Use e.g. apples, i.e. fruit. Done."),
            (Strings{"Use e.g. apples, i.e. fruit.", "Done."}));
  EXPECT_EQ(Sentences("The U.S. Army and J. R. R. Tolkien. Next one."),
            (Strings{"The U.S. Army and J. R. R. Tolkien.", "Next one."}));
  EXPECT_EQ(Sentences("Visit example.com. Then Ph.D. Students came. Inc. Ltd."),
            (Strings{"Visit example.com.", "Then Ph.D. Students came.", "Inc.", "Ltd."}));
  EXPECT_EQ(Sentences("See Fig. 3 and No. 5 here. Ok."),
            (Strings{"See Fig. 3 and No. 5 here.", "Ok."}));
  // A lower-case next word continues the sentence; "No." before a word ends one.
  EXPECT_EQ(
      Sentences("Apples, pears, etc. are fruit. \"Why?\" she asked. Say No. Then go."),
      (Strings{"Apples, pears, etc. are fruit.", "\"Why?\" she asked.", "Say No.", "Then go."}));
}

TEST(ChunkerTest, CjkSentenceMarksSplitWithoutSpaces) {
  EXPECT_EQ(Sentences("\u4ECA\u5929\u5F88\u597D\u3002\u6211\u4EEC\u8D70\u5427\uFF01"
                      "\u4F60\u6765\u5417\uFF1F\u300C\u597D\u3002\u300D\u7ED3\u675F",
                      CountChars),
            (Strings{"\u4ECA\u5929\u5F88\u597D\u3002", "\u6211\u4EEC\u8D70\u5427\uFF01",
                     "\u4F60\u6765\u5417\uFF1F", "\u300C\u597D\u3002\u300D", "\u7ED3\u675F"}));
}

TEST(ChunkerTest, PacksWholeSentencesUpToTheBudget) {
  const std::string text = "One two three. Four five six. Seven eight nine. Ten.";
  std::vector<TextChunk> chunks =
      MustChunk(text, {.max_tokens = 8, .overlap_tokens = 0}, CountWords);
  EXPECT_EQ(Texts(text, chunks),
            (Strings{"One two three. Four five six.", "Seven eight nine. Ten."}));
  EXPECT_EQ(chunks[0].begin, 0u);
  EXPECT_EQ(chunks[0].tokens, 8);
  EXPECT_EQ(chunks[1].tokens, 6);
  CheckInvariants(text, chunks, {.max_tokens = 8, .overlap_tokens = 0}, CountWords);
  // Paragraph breaks inside a chunk are kept as they are in the text.
  const std::string paragraphs = "Alpha beta.\n\nGamma delta.\n\n\nEpsilon.";
  chunks = MustChunk(paragraphs, {.max_tokens = 100, .overlap_tokens = 10}, CountWords);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(Sub(paragraphs, chunks[0]), paragraphs);
  EXPECT_EQ(chunks[0].tokens, 7);
}

TEST(ChunkerTest, OverlapRepeatsWholeTrailingSentences) {
  const std::string text = "A a a. B b b. C c c. D d d. E e e. F f f. G g g.";
  const ChunkOptions options{.max_tokens = 2 + 9, .overlap_tokens = 3};
  std::vector<TextChunk> chunks = MustChunk(text, options, CountWords);
  EXPECT_EQ(Texts(text, chunks),
            (Strings{"A a a. B b b. C c c.", "C c c. D d d. E e e.", "E e e. F f f. G g g."}));
  CheckInvariants(text, chunks, options, CountWords);
  // Two trailing sentences fit in an overlap of 6.
  const ChunkOptions wide{.max_tokens = 2 + 12, .overlap_tokens = 6};
  EXPECT_EQ(Texts(text, MustChunk(text, wide, CountWords)),
            (Strings{"A a a. B b b. C c c. D d d.", "C c c. D d d. E e e. F f f.",
                     "E e e. F f f. G g g."}));
  // A sentence larger than the overlap is not repeated.
  const std::string uneven = "A a a a. B b b b. C c c c.";
  EXPECT_EQ(
      Texts(uneven, MustChunk(uneven, {.max_tokens = 2 + 8, .overlap_tokens = 3}, CountWords)),
      (Strings{"A a a a. B b b b.", "C c c c."}));
}

TEST(ChunkerTest, OverlapShrinksSoThatEveryChunkAddsText) {
  // The overlap (one 3-word sentence) plus the next 6-word sentence exceed 2 + 8: the overlap
  // is dropped rather than the new sentence.
  const std::string text = "A a a. B b b. C c c c c c.";
  const ChunkOptions options{.max_tokens = 2 + 8, .overlap_tokens = 3};
  std::vector<TextChunk> chunks = MustChunk(text, options, CountWords);
  EXPECT_EQ(Texts(text, chunks), (Strings{"A a a. B b b.", "C c c c c c."}));
  CheckInvariants(text, chunks, options, CountWords);
}

TEST(ChunkerTest, ExactCountCatchesAnUnderestimate) {
  // CountChars counts the spaces between sentences, which the sum of sentence counts misses:
  // the chunker must count the chunk and move its last sentence on when it does not fit.
  const std::string text = "aaaa. bbbb. cccc. dddd. eeee. ffff.";
  const ChunkOptions options{.max_tokens = 1 + 15, .overlap_tokens = 0};
  std::vector<TextChunk> chunks = MustChunk(text, options, CountChars);
  // Sum of three sentences is 15 but "aaaa. bbbb. cccc." is 17 characters.
  EXPECT_EQ(Texts(text, chunks), (Strings{"aaaa. bbbb.", "cccc. dddd.", "eeee. ffff."}));
  for (const TextChunk& c : chunks) EXPECT_EQ(c.tokens, 12);
  CheckInvariants(text, chunks, options, CountChars, false);
}

TEST(ChunkerTest, LongSentenceIsCutAtWordBoundaries) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "word" + std::to_string(i) + (i % 17 == 16 ? ",\n" : " ");
  text += "end";
  for (int overlap : {0, 10}) {
    const ChunkOptions options{.max_tokens = 2 + 50, .overlap_tokens = overlap};
    std::vector<TextChunk> chunks = MustChunk(text, options, CountWords);
    CheckInvariants(text, chunks, options, CountWords);
    ASSERT_GE(chunks.size(), 21u);
    ASSERT_LE(chunks.size(), 25u);  // pieces are reasonably full
    for (size_t i = 0; i < chunks.size(); ++i) {
      const TextChunk& c = chunks[i];
      EXPECT_TRUE(c.begin == 0 || IsAsciiSpace(text[c.begin - 1])) << i;
      EXPECT_TRUE(c.end == text.size() || IsAsciiSpace(text[c.end])) << i;
      // Pieces of one sentence are not whole sentences: never repeated.
      if (i > 0) {
        EXPECT_GE(c.begin, chunks[i - 1].end) << i;
      }
    }
  }
}

TEST(ChunkerTest, LongWordIsCutAtCharacterBoundaries) {
  const std::string url = "https://example.com/" + std::string(500, 'x') + "\u00E9\u00E9/end";
  const std::string text = "Short one. " + url + " Tail.";
  auto bytes = [](std::string_view s) { return static_cast<int>(s.size()) + 2; };
  const ChunkOptions options{.max_tokens = 2 + 64, .overlap_tokens = 8};
  std::vector<TextChunk> chunks = MustChunk(text, options, bytes);
  CheckInvariants(text, chunks, options, bytes, false);
  EXPECT_GE(chunks.size(), 9u);
}

TEST(ChunkerTest, CjkWithoutSpacesIsCutAtCharacters) {
  std::string text;
  const char* const kChars[] = {"\u4E2D", "\u6587", "\u5B57", "\u7B26", "\U00020000"};
  for (int i = 0; i < 600; ++i) text += kChars[i % 5];
  const ChunkOptions options{.max_tokens = 1 + 50, .overlap_tokens = 5};
  std::vector<TextChunk> chunks = MustChunk(text, options, CountChars);
  CheckInvariants(text, chunks, options, CountChars, false);
  ASSERT_EQ(chunks.size(), 12u);
  for (const TextChunk& c : chunks) EXPECT_EQ(c.tokens, 51);
  EXPECT_EQ(chunks.back().end, text.size());
}

TEST(ChunkerTest, UnicodeWhitespaceIsTrimmed) {
  const std::string text = "\u3000\u00A0First.\u00A0 Second.\u3000\n\nThird.\u00A0";
  const ChunkOptions options{.max_tokens = 1 + 8, .overlap_tokens = 0};
  std::vector<TextChunk> chunks = MustChunk(text, options, CountChars);
  EXPECT_EQ(Texts(text, chunks), (Strings{"First.", "Second.", "Third."}));
  CheckInvariants(text, chunks, options, CountChars, false);
}

// Random texts from words, abbreviations, marks, line breaks, CJK, long words and odd white
// space, under random budgets and both counters.
TEST(ChunkerTest, InvariantsHoldOnRandomTexts) {
  const std::vector<std::string> pieces = {
      "the",
      "quick",
      "brown",
      "fox",
      "jumps",
      "Dr.",
      "e.g.",
      "U.S.",
      "J.",
      "end.",
      "why?",
      "wow!",
      "3.14",
      "\"quoted.\"",
      "(aside.)",
      "\n",
      "\n\n",
      "\t",
      "  ",
      "\u00A0",
      "\u3000",
      "\u4E2D\u6587",
      "\u3002",
      "\uFF01",
      "caf\u00E9",
      "...",
      "\r\n",
      std::string(80, 'z'),
      "\u4E00\u4E8C\u4E09\u56DB\u4E94\u516D\u4E03\u516B\u4E5D\u5341"};
  std::mt19937 rng(20240601);
  for (int round = 0; round < 50; ++round) {
    std::string text;
    const int n = std::uniform_int_distribution<int>(0, 400)(rng);
    for (int i = 0; i < n; ++i) {
      text += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
      if (std::uniform_int_distribution<int>(0, 3)(rng) != 0) text += ' ';
    }
    const bool words = round % 2 == 0;
    const Counter count = words ? Counter(CountWords) : Counter(CountChars);
    const int specials = count("");
    const int max_tokens = std::uniform_int_distribution<int>(specials + 2, 120)(rng);
    const int overlap = std::uniform_int_distribution<int>(0, max_tokens - 1)(rng) / 2;
    const ChunkOptions options{.max_tokens = max_tokens, .overlap_tokens = overlap};
    SCOPED_TRACE("round " + std::to_string(round) + ", max_tokens " + std::to_string(max_tokens) +
                 ", overlap " + std::to_string(overlap) + (words ? ", words" : ", chars"));
    Result<std::vector<TextChunk>> chunks = ChunkText(text, options, count);
    ASSERT_TRUE(chunks.ok()) << chunks.status().ToString();
    CheckInvariants(text, *chunks, options, count, words);
    if (HasFatalFailure() || HasNonfatalFailure()) break;
  }
}

// A real long document: the first L-Eval QuALITY story (and every L-Eval document for speed).
TEST(ChunkerTest, RealLEvalDocuments) {
  const std::filesystem::path dir = ResolveSharedDataDir() / "leval";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_FAIL() << "no L-Eval data in '" << dir.string()
                 << "'; set ENGRAM_SHARED_DATA to the folder that holds leval/";
  }
  std::vector<std::string> docs;
  for (const char* name :
       {"quality.shared.jsonl", "natural_question.shared.jsonl", "coursera.shared.jsonl"}) {
    std::ifstream in(dir / name);
    std::string line;
    while (std::getline(in, line)) {
      docs.push_back(nlohmann::json::parse(line).at("input").get<std::string>());
    }
  }
  ASSERT_FALSE(docs.empty()) << "no documents in " << dir.string();

  size_t counted_bytes = 0;
  Counter counting = [&](std::string_view s) {
    counted_bytes += s.size();
    return CountWords(s);
  };
  const ChunkOptions options{.max_tokens = 200, .overlap_tokens = 40};
  std::vector<TextChunk> chunks = MustChunk(docs[0], options, counting);
  CheckInvariants(docs[0], chunks, options, CountWords);
  EXPECT_GT(chunks.size(), 20u);
  // Linear work: each byte is counted about twice (its sentence, its chunk) plus the overlap.
  EXPECT_LE(counted_bytes, 4 * docs[0].size());
  // Chunks are reasonably full: the mean is above half the budget.
  double mean = 0;
  for (const TextChunk& c : chunks) mean += c.tokens;
  EXPECT_GT(mean / static_cast<double>(chunks.size()), 100.0);

  size_t total = 0, total_chunks = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& doc : docs) {
    Result<std::vector<TextChunk>> r = ChunkText(doc, options, CountWords);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    total += doc.size();
    total_chunks += r->size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ chunker  ] %zu L-Eval documents, %.2f MB, %zu chunks, %.1f MB/s (word counter)\n",
              docs.size(), static_cast<double>(total) / 1e6, total_chunks,
              static_cast<double>(total) / 1e6 / seconds);
}

}  // namespace
}  // namespace engram::retrieval
