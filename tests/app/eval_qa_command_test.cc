// `engram eval qa` as a user runs it: bad input gets one clear error line and exit code 2
// before any model is loaded.
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
