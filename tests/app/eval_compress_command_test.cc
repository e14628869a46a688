// `engram eval compress` as a user runs it: the JSON contract other checks read (on a tiny
// synthetic SQuAD file and L-Eval NQ page, with the default generator and embedder), the
// cases file the peer script reads, a peer's contexts scored beside engram's, and one clear
// error line with exit code 2 for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/app/engram_process.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::LineCount;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

class EvalCompressCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("engram_eval_compress_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    squad_ = Write("squad.json", R"({"version": "1.1", "data": [{"title": "Lumen",
      "paragraphs": [
        {"context": "The Lumen Company was founded in Tartu in 1998. It makes lamps. Its lamps are sold in forty countries. The founders were two engineers.",
         "qas": [{"id": "q1", "question": "Where was the Lumen Company founded?",
                  "answers": [{"text": "Tartu", "answer_start": 34}]}]},
        {"context": "Every employee receives twenty-five days of paid vacation per year. Lunch is free on Fridays. The office closes at six.",
         "qas": [{"id": "q2", "question": "How many vacation days do employees get?",
                  "answers": [{"text": "twenty-five", "answer_start": 25}]}]}]}]})");
    std::string page = "<H1> Harbor </H1> <P> The harbor of Velmora opened in 1871 . </P> ";
    for (int i = 0; i < 40; ++i) page += "<P> Ships came and went on the tide every day . </P> ";
    nq_ = Write("nq.jsonl", R"({"input": ")" + page +
                                R"(", "instructions": ["when did the harbor of velmora open"], )"
                                R"("outputs": ["1871"]})" "\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  fs::path dir_;
  std::string squad_, nq_;
};

TEST_F(EvalCompressCommandTest, JsonContractCasesAndPeer) {
  const std::string cases = (dir_ / "cases.jsonl").string();
  const std::string peer = Write("peer.jsonl",
      R"({"id": "q1", "method": "longllmlingua", "ratio": 2, "compressed": "founded in Tartu", "latency_ms": 12.5, "tokens_in": 40, "tokens_out": 5})"
      "\n");
  RunResult r = RunEngram({"eval", "compress", "--squad", squad_, "--nq", nq_, "--ratios", "2,4",
                           "--no-f1", "--methods", "engram,random,first,retrieval-only", "--dump-cases", cases, "--peer", peer,
                           "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  EXPECT_EQ(j["cases"]["squad"], 2);
  EXPECT_EQ(j["cases"]["nq"], 1);
  for (const char* ratio : {"2", "4"}) {
    for (const char* method : {"engram", "random", "first", "retrieval-only"}) {
      const nlohmann::json& m = j["ratios"][ratio][method];
      ASSERT_TRUE(m.is_object()) << ratio << " " << method << "\n" << r.out;
      for (const char* key : {"answer_survival", "latency_ms_p50", "tokens_in", "tokens_out"}) {
        EXPECT_TRUE(m[key].is_number()) << key;
      }
      EXPECT_TRUE(m["f1"].is_null());
      EXPECT_LE(m["tokens_out"].get<double>(), m["tokens_in"].get<double>() / std::stod(ratio) + 1);
    }
  }
  // The peer's one line is scored at its ratio only, on its case.
  const nlohmann::json& p = j["ratios"]["2"]["longllmlingua"];
  EXPECT_EQ(p["cases"], 1);
  EXPECT_EQ(p["answer_survival"], 1.0);
  EXPECT_EQ(p["latency_ms_p50"], 12.5);
  EXPECT_FALSE(j["ratios"]["4"].contains("longllmlingua"));
  // The cases file: one line per question with the documents and answers.
  std::ifstream in(cases);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["dataset"], "squad");
  EXPECT_EQ(lines[0]["documents"].size(), 2u);
  EXPECT_EQ(lines[2]["dataset"], "nq");
  EXPECT_GT(lines[2]["documents"].size(), 1u);  // the page in chunks
  EXPECT_EQ(lines[2]["answers"][0], "1871");
}

TEST_F(EvalCompressCommandTest, BadInputIsOneClearLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"eval", "compress", "--json"}, "--squad"},
      {{"eval", "compress", "--squad", squad_, "--ratios", "1"}, "--ratios"},
      {{"eval", "compress", "--squad", squad_, "--methods", "magic"}, "magic"},
      {{"eval", "compress", "--squad", (dir_ / "missing.json").string()}, "missing.json"},
      {{"eval", "compress", "--squad", squad_, "--no-f1", "--methods", "engram", "--peer", nq_}, "id"},
  };
  for (const auto& [args, part] : cases) {
    RunResult r = RunEngram(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(LineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace engram
