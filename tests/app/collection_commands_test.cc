// `engram ingest | search | collections | docs | delete` as a user runs them: the real binary,
// the default embedder, real files (txt, html, a damaged pdf) in a temporary --data-dir.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/app/engram_process.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

class CollectionCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("engram_collection_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "docs");
    std::ofstream(dir_ / "docs" / "rust.txt")
        << "Rust's ownership rules prevent data races at compile time.\n\n"
           "The borrow checker enforces that references never outlive their data.";
    std::ofstream(dir_ / "docs" / "bread.html")
        << "<html><head><title>Bread</title><script>var x = 1;</script></head><body>"
           "<h1>Sourdough</h1><p>A sourdough loaf needs a starter, flour, water and salt.</p>"
           "</body></html>";
    std::ofstream(dir_ / "docs" / "broken.pdf") << "%PDF-1.4 this is not really a pdf";
  }
  void TearDown() override { fs::remove_all(dir_); }
  RunResult Engram(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", (dir_ / "data").string()});
    return RunEngram(args);
  }
  fs::path dir_;
};

TEST_F(CollectionCommandsTest, IngestSearchListDelete) {
  const RunResult ingest = Engram({"ingest", "-c", "notes", "--json", (dir_ / "docs" / "rust.txt").string(),
                                   (dir_ / "docs" / "bread.html").string(),
                                   (dir_ / "docs" / "broken.pdf").string()});
  // The damaged PDF is reported and skipped; the rest is ingested; exit code 2 says so.
  EXPECT_EQ(ingest.exit_code, 2) << ingest.err;
  EXPECT_NE(ingest.err.find("broken.pdf"), std::string::npos) << ingest.err;
  const nlohmann::json summary = ParseJson(ingest);
  EXPECT_EQ(summary["added"], 2);
  EXPECT_EQ(summary["failed"].size(), 1u);

  for (const char* mode : {"bm25", "dense", "hybrid"}) {
    const RunResult search = Engram({"search", "-c", "notes", "--mode", mode, "-k", "1", "--json",
                                     "what stops references from outliving data?"});
    ASSERT_EQ(search.exit_code, 0) << search.err;
    const nlohmann::json hits = ParseJson(search)["hits"];
    ASSERT_EQ(hits.size(), 1u) << mode;
    EXPECT_NE(hits[0]["source"].get<std::string>().find("rust.txt"), std::string::npos) << mode;
    // The citation's span is exactly the chunk text within the file.
    const std::string text = testing::Slurp(dir_ / "docs" / "rust.txt");
    const size_t begin = hits[0]["begin"], end = hits[0]["end"];
    EXPECT_EQ(text.substr(begin, end - begin), hits[0]["text"].get<std::string>());
  }
  const RunResult bread = Engram({"search", "-c", "notes", "--json", "how do I bake sourdough"});
  ASSERT_EQ(bread.exit_code, 0) << bread.err;
  EXPECT_EQ(ParseJson(bread)["hits"][0]["title"], "Bread");

  // Re-ingesting the same file changes nothing; collections and docs list it.
  const RunResult again = Engram({"ingest", "-c", "notes", "--json", (dir_ / "docs" / "rust.txt").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ParseJson(again)["unchanged"], 1);
  const RunResult collections = Engram({"collections", "--json"});
  ASSERT_EQ(collections.exit_code, 0) << collections.err;
  EXPECT_EQ(ParseJson(collections)["collections"][0]["documents"], 2);
  const RunResult docs = Engram({"docs", "-c", "notes", "--json"});
  ASSERT_EQ(docs.exit_code, 0) << docs.err;
  const nlohmann::json list = ParseJson(docs)["documents"];
  ASSERT_EQ(list.size(), 2u);

  const RunResult del = Engram({"delete", "-c", "notes", std::to_string(list[0]["id"].get<int>())});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(ParseJson(Engram({"docs", "-c", "notes", "--json"}))["documents"].size(), 1u);
}

TEST_F(CollectionCommandsTest, BadInputGetsOneLineAndExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"search", "-c", "../x", "q"},
           {"search", "-c", "notes", "--mode", "fuzzy", "q"},
           {"search", "-c", "notes", "-k", "0", "q"},
           {"delete", "-c", "notes", "12345"},
       }) {
    const RunResult r = Engram(args);
    EXPECT_NE(r.exit_code, 0) << args[2];
    EXPECT_EQ(testing::LineCount(r.err), 1) << r.err;
  }
  // A directory that is not a collection is refused, untouched.
  fs::create_directories(dir_ / "data" / "collections" / "mine");
  std::ofstream(dir_ / "data" / "collections" / "mine" / "keep.txt") << "mine";
  const RunResult r = Engram({"search", "-c", "mine", "q"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not an engram collection"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "data" / "collections" / "mine" / "db"));
}

}  // namespace
}  // namespace engram
