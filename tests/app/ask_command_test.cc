// `engram ask` as a user runs it: the real binary, the default generator and embedder, real
// files in a temporary --data-dir. Answers of a 135M model are not checked for wording; what is
// checked is what a user relies on: citations that point at the cited text, documents ingested
// once, the long mode's cache reused, and one clear error line for every kind of bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/app/engram_process.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

constexpr const char* kPolicy =
    "Vacation policy of the Lumen Company.\n\n"
    "Every employee receives twenty-five days of paid vacation per year. Unused days expire at the "
    "end of March of the following year. Requests for more than ten consecutive days must be "
    "approved by a director.\n\n"
    "Remote work. Employees may work remotely up to three days per week. The office in Tartu is "
    "open from 8 am to 6 pm.\n\n"
    "Equipment. Each new employee receives a laptop and a monitor on the first day. Broken "
    "equipment is replaced within two working days.\n";

class AskCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("engram_ask_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "docs");
    std::ofstream(dir_ / "docs" / "policy.md") << kPolicy;
  }
  void TearDown() override { fs::remove_all(dir_); }
  RunResult Ask(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"--data-dir", (dir_ / "data").string(), "ask", "--ctx", "1024",
                               "--max-tokens", "24", "--threads", "2"});
    return RunEngram(args, env);
  }
  std::string Policy() const { return (dir_ / "docs" / "policy.md").string(); }
  // Directories named ask-* under the data dir's collections.
  int AskCollections() const {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / "data" / "collections", ec)) {
      n += e.path().filename().string().starts_with("ask-") ? 1 : 0;
    }
    return n;
  }
  // Every citation names the file as given and quotes what its span holds.
  void ExpectCitationsPointAtText(const nlohmann::json& answer) {
    const std::string text = kPolicy;
    for (const auto& c : answer["citations"]) {
      EXPECT_EQ(c["document"], Policy());
      const size_t begin = c["begin"], end = c["end"];
      ASSERT_LE(begin, end);
      ASSERT_LE(end, text.size());
      std::string snippet = c["snippet"];
      if (snippet.ends_with("…")) snippet.resize(snippet.size() - std::string("…").size());
      std::string span = text.substr(begin, end - begin);
      std::string collapsed;  // snippets collapse white space runs
      for (char ch : span) {
        const bool space = ch == ' ' || ch == '\n';
        if (space && (collapsed.empty() || collapsed.back() == ' ')) continue;
        collapsed += space ? ' ' : ch;
      }
      EXPECT_NE(collapsed.find(snippet.substr(0, 40)), std::string::npos) << snippet;
    }
  }
  fs::path dir_;
};

TEST_F(AskCommandTest, RagAnswerCitesTheFileAndIngestsOnce) {
  const RunResult first =
      Ask({"--mode", "rag", "--json", Policy(), "How many vacation days does an employee get?"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const nlohmann::json a = ParseJson(first);
  EXPECT_EQ(a["mode"], "rag");
  EXPECT_FALSE(a["answer"].get<std::string>().empty());
  EXPECT_GT(a["timing"]["tokens_read"].get<int>(), 0);
  ExpectCitationsPointAtText(a);
  for (const auto& c : a["citations"]) EXPECT_GE(c["source"].get<int>(), 1);
  EXPECT_EQ(AskCollections(), 1);

  const RunResult second =
      Ask({"--mode", "rag", "--json", Policy(), "Where is the office?"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(AskCollections(), 1) << "the same file must not be ingested twice";
}

TEST_F(AskCommandTest, LongModeReusesTheCachedDocument) {
  const RunResult cold = Ask({"--mode", "long", "--json", Policy(), "When do unused days expire?"});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  const nlohmann::json a = ParseJson(cold);
  EXPECT_EQ(a["mode"], "long");
  EXPECT_FALSE(a["timing"]["cache_hit"].get<bool>());
  ExpectCitationsPointAtText(a);
  for (const auto& c : a["citations"]) EXPECT_TRUE(c["supporting"].get<bool>());

  const RunResult warm = Ask({"--mode", "long", "--json", Policy(), "Who approves long requests?"});
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_TRUE(ParseJson(warm)["timing"]["cache_hit"].get<bool>()) << warm.out;

  // auto picks long for a document that fits.
  const RunResult chosen = Ask({"--json", Policy(), "What does a new employee receive?"});
  ASSERT_EQ(chosen.exit_code, 0) << chosen.err;
  EXPECT_EQ(ParseJson(chosen)["mode"], "long");
}

TEST_F(AskCommandTest, DamagedCachedDocumentIsRebuilt) {
  const RunResult cold = Ask({"--mode", "long", "--json", Policy(), "When do unused days expire?"});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  int damaged = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "data" / "kv")) {
    if (e.path().extension() != ".kv") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(e.path()) / 2));
    f.put('\x5a').put('\x5a').put('\x5a');
    ++damaged;
  }
  ASSERT_EQ(damaged, 1);
  const RunResult again = Ask({"--mode", "long", "--json", Policy(), "When do unused days expire?"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(ParseJson(again)["timing"]["cache_hit"].get<bool>()) << "a damaged file is no hit";
  const RunResult rebuilt = Ask({"--mode", "long", "--json", Policy(), "Who approves requests?"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_TRUE(ParseJson(rebuilt)["timing"]["cache_hit"].get<bool>());
}

TEST_F(AskCommandTest, AskingAnIngestedCollection) {
  const RunResult ingest = RunEngram({"--data-dir", (dir_ / "data").string(), "ingest", "-c",
                                      "handbook", Policy()});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  const RunResult r = Ask({"-c", "handbook", "--mode", "rag", "--json", "Where is the office?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json a = ParseJson(r);
  EXPECT_EQ(a["mode"], "rag");
  EXPECT_GT(a["timing"]["tokens_read"].get<int>(), 0);
  // The collection's own source names the document (its canonical path).
  for (const auto& c : a["citations"]) {
    EXPECT_EQ(c["document"], fs::canonical(Policy()).string());
  }
}

TEST_F(AskCommandTest, TwoProcessesAskingNewFilesAtOnceShareOneWholeCollection) {
  RunResult a, b;
  std::thread first([&] { a = Ask({"--extractive", "--json", Policy(), "Where is the office?"}); });
  std::thread second([&] { b = Ask({"--extractive", "--json", Policy(), "Where is the office?"}); });
  first.join();
  second.join();
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(ParseJson(a)["answer"], ParseJson(b)["answer"]);
  EXPECT_EQ(AskCollections(), 1);
}

TEST_F(AskCommandTest, ExtractiveAnswersQuoteTheDocument) {
  const RunResult r = Ask({"--extractive", "--json", Policy(), "How many days per week remote?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json a = ParseJson(r);
  EXPECT_TRUE(a["extractive"].get<bool>());
  ASSERT_FALSE(a["citations"].empty());
  const std::string text = kPolicy;
  for (const auto& c : a["citations"]) {
    const size_t begin = c["begin"], end = c["end"];
    EXPECT_NE(a["answer"].get<std::string>().find(text.substr(begin, end - begin)),
              std::string::npos);
  }
  EXPECT_NE(a["answer"].get<std::string>().find("three days"), std::string::npos) << a["answer"];
}

TEST_F(AskCommandTest, WithoutAGeneratorTheAnswerIsExtractiveAndSaysSo) {
  // A models dir with the embedder only.
  const char* home = std::getenv("HOME");
  const char* models_env = std::getenv("ENGRAM_MODELS_DIR");
  const fs::path models = models_env != nullptr ? fs::path(models_env)
                                                : fs::path(home) / ".cache" / "engram" / "models";
  fs::create_directories(dir_ / "models");
  fs::create_directory_symlink(models / "all-MiniLM-L6-v2", dir_ / "models" / "all-MiniLM-L6-v2");
  const RunResult r = Ask({"--json", Policy(), "How many vacation days?"},
                          {{"ENGRAM_MODELS_DIR", (dir_ / "models").string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json a = ParseJson(r);
  EXPECT_TRUE(a["extractive"].get<bool>());
  EXPECT_NE(a["note"].get<std::string>().find("no generator model"), std::string::npos);
  EXPECT_FALSE(a["citations"].empty());
}

// Four one-topic files; each is one chunk of about 100 tokens.
void WriteHandbook(const fs::path& dir) {
  std::ofstream(dir / "vacation.md")
      << "Vacation policy.\n\nEvery employee receives twenty-five days of paid vacation per year. "
         "Unused days expire at the end of March. Requests for more than ten days need a "
         "director. Requests are filed in the staff portal two weeks ahead. Part-time employees "
         "receive vacation in proportion to their hours. Public holidays are not vacation days.\n";
  std::ofstream(dir / "office.md")
      << "Offices.\n\nThe main office in Tartu is open from 8 am to 6 pm on weekdays. Visitors "
         "sign in at the front desk. The second office, in Riga, hosts the sales team. Parking is "
         "free in the courtyard. Bicycles are stored in the basement. The canteen serves lunch "
         "from noon until two.\n";
  std::ofstream(dir / "equipment.md")
      << "Equipment.\n\nEach new employee receives a laptop and a monitor on the first day. "
         "Broken equipment is replaced within two working days. Phones are issued to the sales "
         "team. Laptops must be locked with a password. The IT desk lends headsets and cables.\n";
  std::ofstream(dir / "remote.md")
      << "Remote work.\n\nEmployees may work remotely up to three days per week. Remote days are "
         "agreed with the team lead. The company pays forty euros a month towards internet "
         "costs. Meetings on Tuesdays are held in the office. Working from abroad is allowed for "
         "four weeks per year.\n";
}

// Every citation's span lies in its file, and its snippet quotes text that is in one of the
// spans the prompt held (the kept spans when the source was compressed).
void ExpectCompressedCitationsValid(const nlohmann::json& answer) {
  for (const auto& c : answer["citations"]) {
    std::ifstream in(c["document"].get<std::string>());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t begin = c["begin"], end = c["end"];
    ASSERT_LE(begin, end);
    ASSERT_LE(end, text.size());
    std::vector<std::pair<size_t, size_t>> spans = {{begin, end}};
    if (c.contains("spans")) spans = c["spans"].get<std::vector<std::pair<size_t, size_t>>>();
    std::string snippet = c["snippet"];
    if (snippet.ends_with("…")) snippet.resize(snippet.size() - std::string("…").size());
    bool quoted = false;
    for (const auto& [b, e] : spans) {
      ASSERT_TRUE(b >= begin && e <= end && b < e) << b << "-" << e;
      std::string collapsed;  // snippets collapse white space runs
      for (char ch : text.substr(b, e - b)) {
        const bool space = ch == ' ' || ch == '\n';
        if (space && (collapsed.empty() || collapsed.back() == ' ')) continue;
        collapsed += space ? ' ' : ch;
      }
      quoted |= collapsed.find(snippet.substr(0, 40)) != std::string::npos;
    }
    EXPECT_TRUE(quoted) << snippet;
  }
}

TEST_F(AskCommandTest, CompressionFitsMoreSourcesIntoATightBudget) {
  WriteHandbook(dir_ / "docs");
  const std::string d = (dir_ / "docs").string();
  const std::vector<std::string> files = {d + "/vacation.md", d + "/office.md",
                                          d + "/equipment.md", d + "/remote.md"};
  auto ask = [&](std::vector<std::string> flags) {
    flags.insert(flags.end(), {"--mode", "rag", "--json"});
    flags.insert(flags.end(), files.begin(), files.end());
    flags.push_back("How many vacation days does an employee get, and where is the main office?");
    const RunResult r = Ask(flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? ParseJson(r) : nlohmann::json::object();
  };
  const nlohmann::json on = ask({"--budget-tokens", "200", "--compress"});
  const nlohmann::json off = ask({"--budget-tokens", "200"});  // the default: off
  ASSERT_TRUE(on.contains("sources") && off.contains("sources"));
  EXPECT_TRUE(on["compression"]["applied"].get<bool>());
  EXPECT_FALSE(off["compression"]["applied"].get<bool>()) << "--no-compress: packing alone";
  EXPECT_GT(on["sources"].get<int>(), off["sources"].get<int>());
  EXPECT_EQ(on["compression"]["sources_out"], on["sources"]);
  EXPECT_LE(on["compression"]["tokens_out"].get<int>(), 200);
  EXPECT_GT(on["compression"]["tokens_in"].get<int>(), 200);
  ExpectCompressedCitationsValid(on);
  ExpectCompressedCitationsValid(off);

  // When everything fits, compression changes nothing: the same prompt, the same answer.
  const nlohmann::json fits = ask({"--compress"});
  const nlohmann::json fits_off = ask({"--no-compress"});
  EXPECT_FALSE(fits["compression"]["applied"].get<bool>());
  EXPECT_EQ(fits["sources"], fits_off["sources"]);
  EXPECT_EQ(fits["timing"]["tokens_read"], fits_off["timing"]["tokens_read"]);
  EXPECT_EQ(fits["answer"], fits_off["answer"]);
  EXPECT_EQ(fits["citations"], fits_off["citations"]);
}

TEST_F(AskCommandTest, BadInputGetsOneLineAndWritesNothing) {
  std::ofstream(dir_ / "docs" / "empty.txt") << "";
  std::ofstream(dir_ / "docs" / "blank.txt") << "  \n\n \t";
  std::string binary(4096, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 7919) % 256);
  std::ofstream(dir_ / "docs" / "binary.txt", std::ios::binary) << binary;
  std::ofstream(dir_ / "docs" / "notes.docx") << "not supported";
  const std::string d = (dir_ / "docs").string();
  std::string long_question;  // about 1,700 tokens: more than the 1,024-token context
  while (long_question.size() < 9800) long_question += "what about the vacation days ";
  const struct {
    std::vector<std::string> args;
    std::string expect;
  } cases[] = {
      {{d + "/empty.txt", "q?"}, "holds no text"},
      {{d + "/blank.txt", "q?"}, "holds no text"},
      {{d + "/binary.txt", "q?"}, "does not look like text"},
      {{d + "/missing.txt", "q?"}, "missing.txt"},
      {{d + "/notes.docx", "q?"}, "notes.docx"},
      {{d, "q?"}, "directory"},
      {{Policy(), Policy(), "q?"}, "named twice"},
      {{Policy(), "   "}, "the question is empty"},
      {{"-c", "nothere", "q?"}, "does not exist"},
      {{"-c", "x", Policy(), "q?"}, "not both"},
      {{"What is it?"}, "no documents"},
      {{"--mode", "fast", Policy(), "q?"}, "mode"},
      {{"--compress=maybe", Policy(), "q?"}, "compress"},
      {{"-m", d + "/missing.gguf", Policy(), "q?"}, "missing.gguf"},
      {{"--mode", "rag", Policy(), std::string(20000, 'w')}, "16384"},
      {{"--mode", "rag", Policy(), long_question}, "does not fit the context"},
  };
  for (const auto& c : cases) {
    const RunResult r = Ask(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.expect << "\n" << r.err;
    EXPECT_EQ(testing::LineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_EQ(AskCollections(), 0) << "a refused ask must not leave a collection behind";
}

}  // namespace
}  // namespace engram
