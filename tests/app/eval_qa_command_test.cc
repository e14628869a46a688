// `engram eval qa` as a user runs it: the JSON contract other checks read (on three tiny
// synthetic datasets with the default generator and embedder, answers not judged), the long
// mode's skip of a document that does not fit, and one clear error line with exit code 2 for
// bad input, before any model is loaded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

void ExpectBadInput(const RunResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("engram: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

class EvalQaCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("engram_eval_qa_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(EvalQaCommandTest, JsonContractPerModeAndDataset) {
  const std::string squad = Write("squad.json", R"({"version": "1.1", "data": [{"title": "Lumen",
    "paragraphs": [
      {"context": "The Lumen Company was founded in Tartu in 1998. It makes lamps.",
       "qas": [{"id": "q1", "question": "Where was the Lumen Company founded?",
                "answers": [{"text": "Tartu", "answer_start": 34}, {"text": "in Tartu", "answer_start": 31}]}]},
      {"context": "Every employee receives twenty-five days of paid vacation per year.",
       "qas": [{"id": "q2", "question": "How many vacation days do employees get?",
                "answers": [{"text": "twenty-five", "answer_start": 25}]}]}]}]})");
  const std::string quality = Write("quality.jsonl",
      R"({"input": "Mara sailed north to find her brother. She found him in a fishing village.", )"
      R"("instructions": ["Where did Mara find her brother?\n\n (A) In a fishing village\n (B) In )"
      R"(the capital\n (C) At sea\n (D) Nowhere"], "outputs": ["(A) In a fishing village"]})"
      "\n");
  // Far longer than the 1024-token context: long mode skips it, rag answers.
  std::string page;
  for (int i = 0; i < 300; ++i) page += "The river town had " + std::to_string(i) + " bridges. ";
  const std::string nq = Write("nq.jsonl", R"({"input": ")" + page +
                                               R"(", "instructions": ["how many bridges"], "outputs": ["299"]})"
                                               "\n");
  const RunResult r = RunEngram({"eval", "qa", "--squad", squad, "--quality", quality, "--nq", nq,
                                 "--modes", "none,rag,long:full,long:retrieval", "--ctx", "1024",
                                 "--k", "2", "--max-answer-tokens", "8", "--threads", "2",
                                 "--limit", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.contains("modes")) << r.out;
  for (const char* mode : {"none", "rag", "long:full", "long:retrieval"}) {
    ASSERT_TRUE(j["modes"].contains(mode)) << mode;
    const nlohmann::json& m = j["modes"][mode];
    for (const char* key : {"squad_em", "squad_f1", "quality_accuracy", "nq_em", "nq_f1",
                            "ttft_ms_cold", "ttft_ms_cached", "tokens_per_answer", "questions",
                            "skipped", "seconds_per_question", "quality_chance"}) {
      EXPECT_TRUE(m.contains(key)) << mode << " lacks " << key;
    }
    EXPECT_EQ(m["squad_questions"], 2) << mode;
    EXPECT_EQ(m["quality_questions"], 1) << mode;
    EXPECT_EQ(m["quality_chance"], 0.25) << mode;
    EXPECT_GE(m["squad_f1"].get<double>(), 0.0);
    EXPECT_LE(m["squad_f1"].get<double>(), 1.0);
  }
  // The NQ page does not fit: long skips it (never truncates), rag answers it.
  EXPECT_EQ(j["modes"]["long:full"]["nq_skipped"], 1);
  EXPECT_TRUE(j["modes"]["long:full"]["nq_em"].is_null());
  EXPECT_EQ(j["modes"]["rag"]["nq_questions"], 1);
  EXPECT_EQ(j["modes"]["rag"]["nq_skipped"], 0);
  EXPECT_TRUE(j["modes"]["rag"]["ttft_ms_cached"].is_null());  // rag reads no cached prefix
  // The second SQuAD question reads the article's prefix from the cache in long mode.
  EXPECT_GE(j["modes"]["long:full"]["answers_cached"].get<int>(), 1);
  EXPECT_EQ(j["modes"]["long:retrieval"]["attention"], "retrieval");
  EXPECT_EQ(j["datasets"]["squad"]["question_ids"], nlohmann::json::array({"q1", "q2"}));
  for (const char* key : {"commit", "machine", "model", "config"}) EXPECT_TRUE(j.contains(key)) << key;
}

TEST_F(EvalQaCommandTest, NoDatasetGiven) {
  ExpectBadInput(RunEngram({"eval", "qa", "--modes", "rag"}), "--squad, --quality, --nq");
}

TEST_F(EvalQaCommandTest, MissingFile) {
  const std::string missing = (dir_ / "nope.json").string();
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", missing}), "nope.json");
  ExpectBadInput(RunEngram({"eval", "qa", "--nq", missing}), "nope.json");
}

TEST_F(EvalQaCommandTest, UnknownMode) {
  const std::string squad = Write("s.json", R"({"data": []})");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--modes", "rag,bogus"}),
                 "unknown mode 'bogus'");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--modes", "long:nonsense"}),
                 "long:nonsense");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--modes", "rag:full"}),
                 "only long and auto take an attention policy");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--modes", "rag,rag"}), "twice");
}

TEST_F(EvalQaCommandTest, MalformedData) {
  // A SQuAD file without questions, an L-Eval line whose lists differ in length, a QuALITY file
  // whose questions carry no options.
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", Write("empty.json", R"({"data": []})")}),
                 "no question with answers");
  ExpectBadInput(RunEngram({"eval", "qa", "--nq",
                            Write("nq.jsonl", R"({"input": "doc", "instructions": ["q1", "q2"], "outputs": ["a"]})"
                                              "\n")}),
                 "2 instructions but 1 outputs");
  ExpectBadInput(RunEngram({"eval", "qa", "--quality",
                            Write("quality.jsonl", R"({"input": "doc", "instructions": ["Who?"], "outputs": ["(A) x"]})"
                                                   "\n")}),
                 "no usable question");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", Write("bad.json", "{not json")}), "bad.json");
}

TEST_F(EvalQaCommandTest, BadFlags) {
  const std::string squad = Write("s.json", R"({"data": []})");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--split", "third"}), "--split");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--limit", "-1"}), "--limit");
  ExpectBadInput(RunEngram({"eval", "qa", "--squad", squad, "--k", "0"}), "--k");
}

}  // namespace
}  // namespace engram
