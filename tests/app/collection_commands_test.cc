// `engram ingest | search | collections | docs | delete` as a user runs them: the real binary,
// the default embedder, real files (txt, html, a damaged pdf) in a temporary --data-dir.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

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
  // All or nothing: the damaged PDF is named in one line, and nothing is ingested (the
  // collection is not even created).
  const RunResult bad = Engram({"ingest", "-c", "notes", "--json", (dir_ / "docs" / "rust.txt").string(),
                                (dir_ / "docs" / "bread.html").string(),
                                (dir_ / "docs" / "broken.pdf").string()});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(testing::LineCount(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("broken.pdf"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("nothing was ingested"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty()) << bad.out;
  EXPECT_FALSE(fs::exists(dir_ / "data" / "collections" / "notes"));

  const RunResult ingest = Engram({"ingest", "-c", "notes", "--json", (dir_ / "docs" / "rust.txt").string(),
                                   (dir_ / "docs" / "bread.html").string()});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_EQ(ParseJson(ingest)["added"], 2);

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
  EXPECT_EQ(ParseJson(collections)["collections"][0]["sentence_vectors"], true);
  // --no-sentence-vectors makes a collection without them (format 5), still searchable.
  const RunResult plain = Engram(
      {"ingest", "-c", "plain", "--no-sentence-vectors", (dir_ / "docs" / "rust.txt").string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const nlohmann::json listed = ParseJson(Engram({"collections", "--json"}))["collections"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1]["name"], "plain");
  EXPECT_EQ(listed[1]["sentence_vectors"], false);
  const RunResult plain_search =
      Engram({"search", "-c", "plain", "--json", "what stops references from outliving data?"});
  ASSERT_EQ(plain_search.exit_code, 0) << plain_search.err;
  EXPECT_EQ(ParseJson(plain_search)["hits"].size(), 1u);
  const RunResult docs = Engram({"docs", "-c", "notes", "--json"});
  ASSERT_EQ(docs.exit_code, 0) << docs.err;
  const nlohmann::json list = ParseJson(docs)["documents"];
  ASSERT_EQ(list.size(), 2u);

  // Deleting a known and an unknown id deletes neither.
  const std::string first = std::to_string(list[0]["id"].get<int>());
  const RunResult partial = Engram({"delete", "-c", "notes", first, "999999"});
  EXPECT_EQ(partial.exit_code, 2) << partial.err;
  EXPECT_NE(partial.err.find("nothing was deleted"), std::string::npos) << partial.err;
  EXPECT_EQ(ParseJson(Engram({"docs", "-c", "notes", "--json"}))["documents"].size(), 2u);
  const RunResult del = Engram({"delete", "-c", "notes", first});
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

// Runs engram with `input` on its standard input (RunEngram inherits the test's).
RunResult RunWithStdin(const fs::path& dir, std::vector<std::string> args, const std::string& input) {
  static int counter = 0;
  const fs::path in = dir / ("stdin_" + std::to_string(counter++));
  std::ofstream(in, std::ios::binary) << input;
  const fs::path out = in.string() + ".out", err = in.string() + ".err";
  args.insert(args.begin(), {ENGRAM_BINARY, "--data-dir", (dir / "data").string()});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  RunResult r;
  pid_t pid = -1;
  if (posix_spawn(&pid, ENGRAM_BINARY, &actions, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&actions);
  r.out = testing::Slurp(out);
  r.err = testing::Slurp(err);
  return r;
}

// A document's identity: stdin by --name or by content, a file by canonical path (named twice,
// as ./f, through a symlink: one document, replaced when it changes, its old text gone).
TEST_F(CollectionCommandsTest, DocumentIdentityForStdinAndFiles) {
  auto ingest_stdin = [&](const std::string& text, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"ingest", "-c", "s", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("-");
    const RunResult r = RunWithStdin(dir_, args, text);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? ParseJson(r)["documents"][0] : nlohmann::json();
  };
  EXPECT_EQ(ingest_stdin("apples are red")["outcome"], "added");
  EXPECT_EQ(ingest_stdin("bananas are yellow")["outcome"], "added");
  EXPECT_EQ(ingest_stdin("bananas are yellow")["outcome"], "unchanged");
  EXPECT_EQ(ingest_stdin("cherries", {"--name", "fruit"})["source"], "fruit");
  EXPECT_EQ(ingest_stdin("plums", {"--name", "fruit"})["outcome"], "replaced");
  const RunResult twice = RunWithStdin(dir_, {"ingest", "-c", "s", "-", "-"}, "x");
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_EQ(testing::LineCount(twice.err), 1) << twice.err;
  EXPECT_NE(twice.err.find("'-'"), std::string::npos) << twice.err;

  const fs::path f = dir_ / "docs" / "f.txt";
  std::ofstream(f) << "the old walnut text";
  fs::create_symlink(f, dir_ / "docs" / "link.txt");
  const std::string dotted = (dir_ / "docs" / "." / "f.txt").string();
  RunResult r = Engram({"ingest", "-c", "s", "--json", f.string(), dotted, (dir_ / "docs" / "link.txt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["added"], 1);
  EXPECT_EQ(ParseJson(r)["documents"].size(), 1u);
  std::ofstream(f, std::ios::trunc) << "the new hazelnut text";
  r = Engram({"ingest", "-c", "s", "--json", (dir_ / "docs" / "link.txt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["replaced"], 1);
  const nlohmann::json docs = ParseJson(Engram({"docs", "-c", "s", "--json"}))["documents"];
  EXPECT_EQ(docs.size(), 4u);  // two stdin:<sha>, fruit, f.txt
  r = Engram({"search", "-c", "s", "--mode", "bm25", "--json", "walnut"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ParseJson(r)["hits"].empty()) << r.out;
}

// Read commands never create: a missing collection is exit 2 with one line naming the
// collections there are, and the data directory stays as it was (here: absent).
TEST_F(CollectionCommandsTest, ReadCommandsOnAMissingCollectionWriteNothing) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"search", "-c", "typo", "q"}, {"docs", "-c", "typo"}, {"delete", "-c", "typo", "1"}}) {
    const RunResult r = Engram(args);
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_EQ(testing::LineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("collection 'typo' does not exist (collections: none); create it with "
                         "'engram ingest -c typo FILE'"), std::string::npos) << r.err;
  }
  const RunResult list = Engram({"collections", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_FALSE(fs::exists(dir_ / "data")) << "a read command created the data directory";
}

// A damaged collection (CURRENT or MANIFEST gone) is kCorruption, exit 2, one line, for every
// command; `collections` still lists it as damaged; nothing in it changes.
TEST_F(CollectionCommandsTest, DamagedCollectionsAreReportedAndListed) {
  ASSERT_EQ(Engram({"ingest", "-c", "ok", (dir_ / "docs" / "rust.txt").string()}).exit_code, 0);
  const fs::path good = dir_ / "data" / "collections" / "ok";
  for (const char* damage : {"CURRENT", "MANIFEST"}) {
    SCOPED_TRACE(damage);
    const fs::path bad = dir_ / "data" / "collections" / "bad";
    fs::remove_all(bad);
    fs::copy(good, bad, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(bad / "db")) {
      if (e.path().filename().string().starts_with(damage)) fs::remove(e.path());
    }
    std::vector<std::string> before;
    for (const auto& e : fs::recursive_directory_iterator(bad)) before.push_back(e.path().string());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"search", "-c", "bad", "q"}, {"docs", "-c", "bad"}, {"delete", "-c", "bad", "1"},
             {"ingest", "-c", "bad", (dir_ / "docs" / "rust.txt").string()}}) {
      const RunResult r = Engram(args);
      EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
      EXPECT_EQ(testing::LineCount(r.err), 1) << r.err;
      EXPECT_NE(r.err.find("collection 'bad' at '"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("is damaged"), std::string::npos) << r.err;
    }
    const RunResult list = Engram({"collections", "--json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    const nlohmann::json all = ParseJson(list)["collections"];
    ASSERT_EQ(all.size(), 2u) << list.out;
    EXPECT_EQ(all[0]["name"], "bad");
    EXPECT_EQ(all[0]["status"], "damaged");
    EXPECT_EQ(all[1]["status"], "ok");
    std::vector<std::string> after;
    for (const auto& e : fs::recursive_directory_iterator(bad)) after.push_back(e.path().string());
    EXPECT_EQ(after, before);
  }
}

// Every numeric search option and the query are checked (exit 2, one line naming the option)
// before anything is loaded.
TEST_F(CollectionCommandsTest, BadSearchValuesAreRefused) {
  ASSERT_EQ(Engram({"ingest", "-c", "notes", (dir_ / "docs" / "rust.txt").string()}).exit_code, 0);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-k", "0"}, "k"},
      {{"-k", "-3"}, "k"},
      {{"-k", "1001"}, "k"},
      {{"--dense-weight", "nan"}, "dense_weight"},
      {{"--dense-weight", "inf"}, "dense_weight"},
      {{"--dense-weight", "-1"}, "dense_weight"},
      {{"--dense-weight", "2"}, "dense_weight"},
      {{"--rrf-k", "-1"}, "rrf_k"},
      {{"--rrf-k", "1e300"}, "rrf_k"},
      {{"--rrf-k", "nan"}, "rrf_k"},
      {{"--candidates", "-1"}, "candidates"},
      {{"--candidates", "99999999"}, "candidates"},
      {{"--mmr-lambda", "nan"}, "mmr_lambda"},
      {{"--mmr-lambda", "1.5"}, "mmr_lambda"},
      {{"--rescore", "-1"}, "rescore.candidates"},
      {{"--rescore", "99999999"}, "rescore.candidates"},
      {{"--rerank", "-1"}, "--rerank"},
      {{"--rerank", "101"}, "--rerank"},
      {{"--reranker", "bm25"}, "--reranker"},
      {{"--rerank", "2", "--rerank-weight", "nan"}, "weight"},
      {{"--rerank", "2", "--rerank-weight", "-1"}, "weight"},
  };
  for (const auto& [flags, option] : cases) {
    std::vector<std::string> args = {"search", "-c", "notes"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("rust");
    const RunResult r = Engram(args);
    EXPECT_EQ(r.exit_code, 2) << flags[0] << " " << flags[1];
    EXPECT_EQ(testing::LineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(option), std::string::npos) << r.err;
  }
  for (const char* query : {"", "   ", "\t\n"}) {
    const RunResult r = Engram({"search", "-c", "notes", query});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("query is empty"), std::string::npos) << r.err;
  }
}

// --rerank N rescores the first N hits with the language model's question likelihood: the hit
// that answers the query comes first, its score is the hybrid score plus 2 × the mean log
// probability, and hits past N are not rescored. Every hit names its sentence nearest the query.
TEST_F(CollectionCommandsTest, RerankRescoresTheFirstHitsWithTheLanguageModel) {
  std::ofstream(dir_ / "docs" / "porto.txt")
      << "Porto is a city in the north of Portugal. Its port wine is famous. The Douro river "
         "flows through Porto into the Atlantic.";
  ASSERT_EQ(
      Engram({"ingest", "-c", "notes", (dir_ / "docs" / "rust.txt").string(),
              (dir_ / "docs" / "bread.html").string(), (dir_ / "docs" / "porto.txt").string()})
          .exit_code,
      0);
  const char* query = "which river flows through Porto?";
  const RunResult plain = Engram({"search", "-c", "notes", "-k", "3", "--json", query});
  const RunResult reranked =
      Engram({"search", "-c", "notes", "-k", "3", "--rerank", "2", "--json", query});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(reranked.exit_code, 0) << reranked.err;
  const nlohmann::json before = ParseJson(plain)["hits"], after = ParseJson(reranked)["hits"];
  ASSERT_EQ(after.size(), 3u);
  EXPECT_NE(after[0]["source"].get<std::string>().find("porto.txt"), std::string::npos);
  for (size_t i = 0; i < 2; ++i) {
    const double hybrid = before[i]["score"].get<double>();
    bool found = false;
    for (const auto& h : after) {
      if (h["chunk"] != before[i]["chunk"]) continue;
      found = true;
      const double lm = h["rerank"].get<double>();
      EXPECT_LT(lm, 0.0);  // a mean log probability
      EXPECT_NEAR(h["score"].get<double>(), hybrid + 2.0 * lm, 1e-9);
    }
    EXPECT_TRUE(found) << i;
  }
  EXPECT_EQ(after[2]["chunk"], before[2]["chunk"]);
  EXPECT_EQ(after[2]["rerank"].get<double>(), 0.0);
  EXPECT_EQ(after[2]["score"], before[2]["score"]);
  const nlohmann::json& porto = after[0];
  const std::string text = porto["text"];
  const size_t begin = porto["begin"], sentence_begin = porto["sentence_begin"],
               sentence_end = porto["sentence_end"];
  EXPECT_EQ(text.substr(sentence_begin - begin, sentence_end - sentence_begin),
            "The Douro river flows through Porto into the Atlantic.");
}

// Invalid UTF-8 in a file name, a tag and a query: exit 0 and valid JSON (bytes become U+FFFD).
TEST_F(CollectionCommandsTest, InvalidUtf8InNamesTagsAndQueriesGivesValidJson) {
  const fs::path odd = dir_ / "docs" / "caf\xe9.txt";
  std::ofstream(odd) << "espresso with steamed milk";
  RunResult r = Engram({"ingest", "-c", "u", "--json", "--tag", "\xff", odd.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(ParseJson(r)["documents"][0]["source"].get<std::string>().find("caf\uFFFD.txt"),
            std::string::npos);
  r = Engram({"search", "-c", "u", "--json", "--tag", "\xff", "\xff espresso"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json hits = ParseJson(r);
  EXPECT_EQ(hits["query"], "\uFFFD espresso");
  ASSERT_EQ(hits["hits"].size(), 1u) << r.out;
  r = Engram({"docs", "-c", "u", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r)["documents"][0]["tags"][0], "\uFFFD");
  r = Engram({"collections", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace engram
