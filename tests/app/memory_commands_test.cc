// `engram memory add | recall | list | history | forget | purge | export` as a user runs them:
// the real binary, the default embedder, a temporary --data-dir.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sys/wait.h>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/default_models.h"
#include "tests/app/engram_process.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::LineCount;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

class MemoryCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<fs::path> model = DefaultModelPath("embedder");
    ASSERT_TRUE(model.ok()) << model.status().ToString() << "; run scripts/fetch_models.sh";
    dir_ = fs::temp_directory_path() / ("engram_memory_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  RunResult Engram(std::vector<std::string> args) {
    args.insert(args.begin(), {"--data-dir", (dir_ / "data").string()});
    return RunEngram(args);
  }
  // `memory add --json …` in namespace `ns`; returns the new id (0 on failure).
  uint64_t Add(const std::string& ns, const std::string& session, const std::string& text,
               std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"memory", "add", "--ns", ns, "--session", session, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(text);
    const RunResult r = Engram(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return 0;
    return ParseJson(r)["id"].get<uint64_t>();
  }
  // One line on stderr, exit code 2, and the line mentions `part`.
  static void ExpectBadInput(const RunResult& r, const std::string& part) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(LineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  }
  fs::path dir_;
};

TEST_F(MemoryCommandsTest, AddThenRecallFindsIt) {
  const uint64_t porto = Add("user-42", "s1", "My sister Ana lives in Porto.",
                             {"--role", "user", "--time", "2023-05-08T13:56:00Z", "--importance",
                              "0.9", "--meta", "topic=family"});
  ASSERT_NE(porto, 0u);
  ASSERT_NE(Add("user-42", "s1", "I had pancakes for breakfast.",
                {"--time", "1683554220000"}),  // 2023-05-08T13:57:00Z
            0u);
  ASSERT_NE(Add("user-42", "s2", "The quarterly report is due on Friday."), 0u);

  const RunResult r =
      Engram({"memory", "recall", "--ns", "user-42", "-k", "2", "--json", "where does Ana live?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json results = ParseJson(r)["results"];
  ASSERT_EQ(results.size(), 2u) << r.out;
  const nlohmann::json& top = results[0];
  EXPECT_EQ(top["id"].get<uint64_t>(), porto);
  EXPECT_EQ(top["text"], "My sister Ana lives in Porto.");
  EXPECT_EQ(top["session"], "s1");
  EXPECT_EQ(top["role"], "user");
  EXPECT_EQ(top["timestamp_ms"].get<int64_t>(), 1683554160000);
  EXPECT_DOUBLE_EQ(top["importance"].get<double>(), 0.9);
  EXPECT_EQ(top["metadata"]["topic"], "family");
  for (const char* key : {"score", "relevance", "bm25", "recency"}) {
    EXPECT_TRUE(top[key].is_number()) << key;
  }
  EXPECT_GE(top["score"].get<double>(), results[1]["score"].get<double>());

  // Filters: another session, a time range that excludes it, a metadata value it lacks.
  for (const auto& filter :
       std::vector<std::vector<std::string>>{{"--session", "s2"},
                                             {"--from", "2023-05-08T13:56:30Z"},
                                             {"--to", "1683554159999"},
                                             {"--meta", "topic=work"}}) {
    std::vector<std::string> args = {"memory", "recall", "--ns", "user-42", "--json"};
    args.insert(args.end(), filter.begin(), filter.end());
    args.push_back("where does Ana live?");
    const RunResult f = Engram(args);
    ASSERT_EQ(f.exit_code, 0) << f.err;
    for (const nlohmann::json& hit : ParseJson(f)["results"]) {
      EXPECT_NE(hit["id"].get<uint64_t>(), porto) << filter[0] << " " << filter[1];
    }
  }

  // Text mode: one line per hit, the best first, with its ISO time.
  const RunResult text =
      Engram({"memory", "recall", "--ns", "user-42", "-k", "3", "where does Ana live?"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(LineCount(text.out), 3) << text.out;
  EXPECT_EQ(text.out.find("1. "), 0u) << text.out;
  EXPECT_LT(text.out.find("Porto"), text.out.find('\n')) << text.out;
  EXPECT_NE(text.out.find("2023-05-08T13:56:00Z"), std::string::npos) << text.out;

  // A history of one version, the current one.
  const RunResult h =
      Engram({"memory", "history", "--ns", "user-42", "--json", std::to_string(porto)});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const nlohmann::json versions = ParseJson(h)["versions"];
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0]["version"], 1);
  EXPECT_EQ(versions[0]["text"], "My sister Ana lives in Porto.");
}

TEST_F(MemoryCommandsTest, ListPagesThroughASessionInTimeOrder) {
  // Added out of time order; listed by time.
  const int minutes[] = {3, 0, 4, 1, 2};
  std::map<int, uint64_t> id_at;
  for (int m : minutes) {
    id_at[m] = Add("a", "chat", "turn at minute " + std::to_string(m),
                   {"--time", "2024-01-01T00:0" + std::to_string(m) + ":00Z"});
  }
  ASSERT_NE(Add("a", "other", "not in this session"), 0u);

  std::vector<uint64_t> seen;
  std::string token;
  int pages = 0;
  do {
    std::vector<std::string> args = {"memory", "list",    "--ns", "a",     "--session",
                                     "chat",   "--limit", "2",    "--json"};
    if (!token.empty()) args.insert(args.end(), {"--page-token", token});
    const RunResult r = Engram(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json page = ParseJson(r);
    EXPECT_LE(page["episodes"].size(), 2u);
    for (const nlohmann::json& e : page["episodes"]) seen.push_back(e["id"].get<uint64_t>());
    token = page["next_page_token"].get<std::string>();
    ASSERT_LT(++pages, 10) << "paging does not end";
  } while (!token.empty());
  EXPECT_EQ(seen, (std::vector<uint64_t>{id_at[0], id_at[1], id_at[2], id_at[3], id_at[4]}));

  // A time range (inclusive) and text mode.
  const RunResult range = Engram({"memory", "list", "--ns", "a", "--session", "chat", "--from",
                                  "2024-01-01T00:01:00Z", "--to", "2024-01-01T00:03:00Z"});
  ASSERT_EQ(range.exit_code, 0) << range.err;
  EXPECT_EQ(LineCount(range.out), 3) << range.out;
  EXPECT_NE(range.out.find("turn at minute 1"), std::string::npos) << range.out;
  EXPECT_EQ(range.out.find("turn at minute 0"), std::string::npos) << range.out;

  // Export writes every episode of the named sessions, one JSON object a line.
  const RunResult exp =
      Engram({"memory", "export", "--ns", "a", "--session", "chat", "--session", "other"});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  EXPECT_EQ(LineCount(exp.out), 6) << exp.out;
  std::istringstream lines(exp.out);
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << line;
    EXPECT_TRUE(e.contains("id") && e.contains("text") && e.contains("timestamp_ms")) << line;
  }
  // Without --session: every session of the namespace.
  const RunResult all = Engram({"memory", "export", "--ns", "a"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out, exp.out);
}

TEST_F(MemoryCommandsTest, ForgetAndPurge) {
  const uint64_t keep = Add("a", "s1", "The cat is called Miso.");
  const uint64_t gone = Add("a", "s1", "The dog is called Rex.");
  ASSERT_NE(Add("a", "s2", "The parrot is called Kiwi."), 0u);
  ASSERT_NE(Add("a", "s2", "The parrot says hello."), 0u);

  const RunResult f = Engram({"memory", "forget", "--ns", "a", "--json", std::to_string(gone)});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(ParseJson(f)["forgotten"], 1);
  ExpectBadInput(Engram({"memory", "history", "--ns", "a", std::to_string(gone)}),
                 std::to_string(gone));
  ExpectBadInput(Engram({"memory", "forget", "--ns", "a", std::to_string(gone)}),
                 std::to_string(gone));

  const RunResult s = Engram({"memory", "forget", "--ns", "a", "--session", "s2", "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(ParseJson(s)["forgotten"], 2);
  const RunResult left =
      Engram({"memory", "recall", "--ns", "a", "--json", "what are the pets called?"});
  ASSERT_EQ(left.exit_code, 0) << left.err;
  const nlohmann::json results = ParseJson(left)["results"];
  ASSERT_EQ(results.size(), 1u) << left.out;
  EXPECT_EQ(results[0]["id"].get<uint64_t>(), keep);

  // Purge needs --yes: exit 2, one line saying so, nothing deleted.
  const RunResult refused = Engram({"memory", "purge", "--ns", "a"});
  ExpectBadInput(refused, "--yes");
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  ASSERT_EQ(ParseJson(Engram({"memory", "recall", "--ns", "a", "--json", "cat"}))["results"].size(),
            1u);

  const RunResult purged = Engram({"memory", "purge", "--ns", "a", "--yes"});
  ASSERT_EQ(purged.exit_code, 0) << purged.err;
  const RunResult after = Engram({"memory", "recall", "--ns", "a", "--json", "cat"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_TRUE(ParseJson(after)["results"].empty()) << after.out;
  ExpectBadInput(Engram({"memory", "history", "--ns", "a", std::to_string(keep)}),
                 std::to_string(keep));
}

TEST_F(MemoryCommandsTest, NamespacesAreIsolated) {
  const uint64_t id = Add("a", "s", "The launch code is tangerine.");
  ASSERT_NE(id, 0u);
  const RunResult b =
      Engram({"memory", "recall", "--ns", "b", "--json", "what is the launch code?"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(ParseJson(b)["results"].empty()) << b.out;
  const RunResult list = Engram({"memory", "list", "--ns", "b", "--session", "s", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(ParseJson(list)["episodes"].empty()) << list.out;
  ExpectBadInput(Engram({"memory", "history", "--ns", "b", std::to_string(id)}),
                 std::to_string(id));
  ExpectBadInput(Engram({"memory", "forget", "--ns", "b", std::to_string(id)}), std::to_string(id));
  // Purging b leaves a alone.
  ASSERT_EQ(Engram({"memory", "purge", "--ns", "b", "--yes"}).exit_code, 0);
  const RunResult a =
      Engram({"memory", "recall", "--ns", "a", "--json", "what is the launch code?"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(ParseJson(a)["results"].size(), 1u) << a.out;
}

TEST_F(MemoryCommandsTest, BadInputGetsOneLineAndExitTwo) {
  // Nothing added yet: reading commands say there is no store (and do not create one).
  ExpectBadInput(Engram({"memory", "recall", "--ns", "a", "q"}), "no memory store");
  EXPECT_FALSE(fs::exists(dir_ / "data" / "memory"));

  ExpectBadInput(
      Engram({"memory", "add", "--ns", "a", "--session", "s", "--time", "yesterday", "x"}),
      "--time 'yesterday'");
  ExpectBadInput(Engram({"memory", "add", "--ns", "a", "--session", "s", "--time",
                         "2023-05-08 13:56:00", "x"}),
                 "ISO 8601");
  ExpectBadInput(Engram({"memory", "add", "--ns", "a", "--session", "s", "--time",
                         "2023-02-30T00:00:00Z", "x"}),
                 "2023-02-30");
  ExpectBadInput(Engram({"memory", "add", "--ns", "a", "--session", "s", "--meta", "novalue", "x"}),
                 "key=value");
  ExpectBadInput(
      Engram({"memory", "add", "--ns", "a", "--session", "s", "--importance", "1.5", "x"}),
      "importance");
  ExpectBadInput(Engram({"memory", "add", "--ns", "bad/ns", "--session", "s", "x"}), "namespace");
  ExpectBadInput(Engram({"memory", "add", "--session", "s", "x"}), "--ns");

  ASSERT_NE(Add("a", "s", "something to read"), 0u);
  ExpectBadInput(Engram({"memory", "recall", "--ns", "a", "--from", "tomorrow", "q"}), "--from");
  ExpectBadInput(Engram({"memory", "recall", "--ns", "a", "-k", "0", "q"}), "-k");
  ExpectBadInput(Engram({"memory", "recall", "--ns", "a", "--from", "2000", "--to", "1000", "q"}),
                 "--from");
  ExpectBadInput(Engram({"memory", "list", "--ns", "a", "--session", "s", "--page-token", "zz"}),
                 "page token");
  ExpectBadInput(Engram({"memory", "forget", "--ns", "a"}), "--session");
  ExpectBadInput(Engram({"memory", "history", "--ns", "a", "999999"}), "999999");
  ExpectBadInput(Engram({"memory", "purge", "--ns", "a"}), "add --yes");
  // A mistyped or missing memory command names the memory commands.
  ExpectBadInput(Engram({"memory", "remember", "--ns", "a", "x"}), "add, recall, list");
  ExpectBadInput(Engram({"memory"}), "engram memory --help");
}

TEST_F(MemoryCommandsTest, TtlExpiresAnEpisode) {
  const uint64_t id = Add("a", "s", "The door code is 4711.", {"--ttl", "1"});
  ASSERT_NE(id, 0u);
  ASSERT_NE(Add("a", "s", "The door is painted green."), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const RunResult r = Engram({"memory", "recall", "--ns", "a", "--json", "what is the door code?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json results = ParseJson(r)["results"];
  ASSERT_EQ(results.size(), 1u) << r.out;
  EXPECT_NE(results[0]["id"].get<uint64_t>(), id);
  const RunResult list = Engram({"memory", "list", "--ns", "a", "--session", "s", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  ASSERT_EQ(ParseJson(list)["episodes"].size(), 1u) << list.out;
}


// Ids are per namespace: what b adds says nothing to a.
TEST_F(MemoryCommandsTest, IdsArePerNamespace) {
  EXPECT_EQ(Add("a", "s", "a first"), 1u);
  for (uint64_t i = 1; i <= 3; ++i) EXPECT_EQ(Add("b", "s", "b turn " + std::to_string(i)), i);
  EXPECT_EQ(Add("a", "s", "a second"), 2u);
}

// Several ids: all forgotten, or none and every unknown one named.
TEST_F(MemoryCommandsTest, ForgetSeveralIdsIsAllOrNothing) {
  for (int i = 1; i <= 3; ++i) ASSERT_NE(Add("a", "s", "a turn " + std::to_string(i)), 0u);
  for (int i = 1; i <= 8; ++i) ASSERT_NE(Add("b", "s", "b turn " + std::to_string(i)), 0u);
  for (const std::vector<std::string>& ids :
       {std::vector<std::string>{"1", "2", "7"}, {"7", "1", "2"}, {"1", "7", "2", "8"}}) {
    std::vector<std::string> args = {"memory", "forget", "--ns", "a"};
    args.insert(args.end(), ids.begin(), ids.end());
    const RunResult r = Engram(args);
    ExpectBadInput(r, "7");
    if (ids.size() == 4) EXPECT_NE(r.err.find("8"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nothing was forgotten"), std::string::npos) << r.err;
    for (const char* id : {"1", "2", "3"}) {
      EXPECT_EQ(Engram({"memory", "history", "--ns", "a", id}).exit_code, 0) << id;
    }
  }
  const RunResult ok = Engram({"memory", "forget", "--ns", "a", "--json", "1", "2"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ParseJson(ok)["forgotten"], 2);
  EXPECT_NE(Engram({"memory", "history", "--ns", "a", "1"}).exit_code, 0);
  EXPECT_EQ(Engram({"memory", "history", "--ns", "a", "3"}).exit_code, 0);
  // Export of several sessions: an unknown one is named and nothing is written.
  const RunResult exported =
      Engram({"memory", "export", "--ns", "b", "--session", "s", "--session", "nope"});
  ExpectBadInput(exported, "'nope'");
  EXPECT_TRUE(exported.out.empty()) << exported.out;
}

// Every numeric flag: NaN, infinities, negative and huge values get exit 2 and one line that
// names the flag.
TEST_F(MemoryCommandsTest, BadNumbersGetOneLineNamingTheFlag) {
  ASSERT_NE(Add("a", "s", "something to read"), 0u);
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"recall", "--relevance", "nan"}, "--relevance"},
      {{"recall", "--relevance", "inf"}, "--relevance"},
      {{"recall", "--relevance", "-1"}, "--relevance"},
      {{"recall", "--relevance", "1e300"}, "--relevance"},
      {{"recall", "--bm25", "nan"}, "--bm25"},
      {{"recall", "--bm25", "-0.5"}, "--bm25"},
      {{"recall", "--recency", "-inf"}, "--recency"},
      {{"recall", "--importance", "nan"}, "--importance"},
      {{"recall", "--half-life-hours", "0"}, "--half-life-hours"},
      {{"recall", "--half-life-hours", "nan"}, "--half-life-hours"},
      {{"recall", "--half-life-hours", "-3"}, "--half-life-hours"},
      {{"recall", "-k", "0"}, "-k"},
      {{"recall", "-k", "-5"}, "-k"},
      {{"recall", "-k", "10001"}, "-k"},
      {{"recall", "--from", "-1"}, "--from"},
      {{"recall", "--to", "9223372036854775807"}, "--to"},
      {{"add", "--session", "s", "--time", "9223372036854775807"}, "--time"},
      {{"add", "--session", "s", "--time", "-1"}, "--time"},
      {{"add", "--session", "s", "--time", "10000-01-01T00:00:00Z"}, "--time"},
      {{"add", "--session", "s", "--importance", "nan"}, "importance"},
      {{"add", "--session", "s", "--importance", "inf"}, "importance"},
      {{"add", "--session", "s", "--importance", "-0.5"}, "importance"},
      {{"add", "--session", "s", "--ttl", "-1"}, "--ttl"},
      {{"add", "--session", "s", "--ttl", "9223372036854775"}, "--ttl"},
      {{"list", "--session", "s", "--limit", "0"}, "--limit"},
      {{"list", "--session", "s", "--limit", "10001"}, "--limit"},
  };
  for (const auto& [args, flag] : bad) {
    std::vector<std::string> full = {"memory", args[0], "--ns", "a"};
    full.insert(full.end(), args.begin() + 1, args.end());
    if (args[0] != "list") full.push_back("q");
    const RunResult r = Engram(full);
    SCOPED_TRACE(args[0] + " " + args[1] + " " + args.back());
    ExpectBadInput(r, flag);
    EXPECT_TRUE(r.out.empty()) << r.out;  // no result (no NaN score) was printed
  }
  const RunResult list = Engram({"memory", "list", "--ns", "a", "--session", "s", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(ParseJson(list)["episodes"].size(), 1u);
}

// `add -` reads at most 1 MiB of standard input, whatever is behind it.
TEST_F(MemoryCommandsTest, StandardInputIsBounded) {
  const std::string base = std::string(ENGRAM_BINARY) + " --data-dir " + (dir_ / "data").string() +
                           " memory add --ns a --session s - >/dev/null 2>" + (dir_ / "err").string();
  const std::string over = "head -c 1048577 /dev/zero | tr '\\0' a | " + base;
  for (const std::string& command :
       {"timeout 60 " + base + " < /dev/zero", "timeout 60 " + base + " < /dev/urandom", over}) {
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << command;
    EXPECT_EQ(WEXITSTATUS(status), 2) << command;
    const std::string err = testing::Slurp(dir_ / "err");
    EXPECT_EQ(LineCount(err), 1) << err;
    EXPECT_NE(err.find("1 MiB"), std::string::npos) << err;
  }
  // Exactly 1 MiB is accepted.
  const int status = std::system(("head -c 1048576 /dev/zero | tr '\\0' a | " + base).c_str());
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::Slurp(dir_ / "err");
}

// A damaged store is "damaged" (exit 2, one line), never "not a store".
TEST_F(MemoryCommandsTest, DamagedStoreIsReportedAsDamaged) {
  const fs::path db = dir_ / "data" / "memory" / "db";
  for (const std::string what : {"CURRENT", "MANIFEST"}) {
    fs::remove_all(dir_ / "data");
    ASSERT_NE(Add("a", "s", "something worth keeping"), 0u);
    for (const auto& e : fs::directory_iterator(db)) {
      if (e.path().filename().string().starts_with(what)) fs::remove(e.path());
    }
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"memory", "recall", "--ns", "a", "q"},
          {"memory", "add", "--ns", "a", "--session", "s", "more"}}) {
      const RunResult r = Engram(args);
      ExpectBadInput(r, "is damaged");
      EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("restore it from a checkpoint or backup"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find("not an engram"), std::string::npos) << r.err;
    }
  }
}

}  // namespace
}  // namespace engram
