// `engram generate`, `engram embed` and `engram bench prefill|decode` as a user runs them: the
// real binary and the default models.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/app/engram_process.h"

namespace engram {
namespace {

using testing::LineCount;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

void ExpectBadInput(const RunResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(GenerateCommandTest, GreedyContinuationIsDeterministicAndReportsSpeed) {
  const std::vector<std::string> args = {"generate", "-p", "The capital of France is", "-n",
                                         "12", "--temp", "0", "--threads", "2"};
  const RunResult a = RunEngram(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("Paris"), std::string::npos) << a.out;
  EXPECT_NE(a.err.find("prefill: 5 tokens"), std::string::npos) << a.err;
  EXPECT_NE(a.err.find("decode:"), std::string::npos) << a.err;
  const RunResult b = RunEngram(args);
  EXPECT_EQ(a.out, b.out);
}

TEST(GenerateCommandTest, SeededSamplingRepeatsAndChatStopsAtEndOfTurn) {
  const std::vector<std::string> args = {"generate", "--chat", "-p", "Name three colours.",
                                         "-n", "40", "--seed", "11", "--temp", "0.9"};
  const RunResult a = RunEngram(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out.find("<|im_end|>"), std::string::npos) << a.out;  // never printed
  EXPECT_EQ(RunEngram(args).out, a.out);
}

TEST(GenerateCommandTest, StopStringIsNeverPrinted) {
  const RunResult r = RunEngram({"generate", "-p", "The capital of France is", "-n", "12",
                                 "--temp", "0", "--stop", "Paris"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("Paris"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("stop: stop_string"), std::string::npos) << r.err;
}

TEST(GenerateCommandTest, BadInputGetsOneLineAndExitTwo) {
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "-n", "0"}), "--n-predict: Value 0 not in range");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "-n", "-3"}), "--n-predict: Value -3 not in range");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--top-p", "1.5"}), "--top-p");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--min-p", "-0.1"}), "--min-p");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--repeat-penalty", "0"}), "--repeat-penalty");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--temp", "warm"}), "--temp");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--kv-type", "q8_0"}), "--kv-type");
  ExpectBadInput(RunEngram({"generate"}), "no prompt");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--ctx", "1152921504606846976"}),
                 "--ctx: Value 1152921504606846976 not in range");
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--ctx", "-5"}), "--ctx: Value -5 not in range");
  // The default model was trained for 8192 positions.
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--ctx", "9000"}),
                 "beyond the 8192 positions");
  ExpectBadInput(RunEngram({"generate", "-m", "/nonexistent/model.gguf", "-p", "hi"}),
                 "/nonexistent/model.gguf");
}

// Without a GPU (CI's machines): cuda is refused in one line naming the way out, auto runs on
// the CPU and says why once.
TEST(GenerateCommandTest, DeviceFlag) {
  ExpectBadInput(RunEngram({"generate", "-p", "hi", "--device", "tpu"}), "cpu, cuda, auto");
  const RunResult cuda = RunEngram({"generate", "-p", "hi", "-n", "2", "--device", "cuda"});
  if (cuda.exit_code == 0) GTEST_SKIP() << "this machine runs --device cuda";
  EXPECT_EQ(LineCount(cuda.err), 1) << cuda.err;
  EXPECT_NE(cuda.err.find("--device cuda"), std::string::npos) << cuda.err;
  EXPECT_NE(cuda.err.find("--device cpu or auto"), std::string::npos) << cuda.err;
  const RunResult automatic = RunEngram({"generate", "-p", "The capital of France is", "-n",
                                         "4", "--temp", "0", "--device", "auto"});
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_NE(automatic.out.find("Paris"), std::string::npos) << automatic.out;
  EXPECT_NE(automatic.err.find("device auto: running on the CPU"), std::string::npos)
      << automatic.err;
}

TEST(GenerateCommandTest, PromptLongerThanTheContextNeedsTruncate) {
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "The quick brown fox jumps over the lazy dog. ";
  ExpectBadInput(RunEngram({"generate", "--ctx", "64", "-p", prompt, "-n", "4"}), "--truncate");
  const RunResult r =
      RunEngram({"generate", "--ctx", "64", "-p", prompt, "-n", "4", "--truncate", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

TEST(BenchCommandTest, PrefillAndDecodeJson) {
  const RunResult d = RunEngram({"bench", "decode", "--ctx", "64,96", "--tokens", "4",
                                 "--repeat", "1", "--threads", "2", "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  const nlohmann::json j = ParseJson(d);
  EXPECT_EQ(j["bench"], "decode");
  EXPECT_EQ(j["threads"], 2);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][1]["ctx"], 96);
  EXPECT_EQ(j["results"][1]["prefill_tokens"], 92);
  EXPECT_GT(j["results"][1]["decode_tokens_per_s"].get<double>(), 0.0);
  const RunResult p = RunEngram({"bench", "prefill", "--ctx", "32", "--repeat", "1", "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_GT(ParseJson(p)["results"][0]["prefill_tokens_per_s"].get<double>(), 0.0);
  ExpectBadInput(RunEngram({"bench", "decode", "--ctx", "16", "--tokens", "32"}),
                 "must be larger than --tokens");
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

TEST(EmbedCommandTest, JsonHasNormalisedVectorsInInputOrder) {
  const testing::RunResult r = testing::RunEngram(
      {"embed", "--json", "A man is eating food.", "A man eats a meal.", "The stock market crashed."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = testing::ParseJson(r);
  EXPECT_EQ(j["model"], "all-MiniLM-L6-v2");
  EXPECT_EQ(j["dim"], 384);
  ASSERT_EQ(j["embeddings"].size(), 3u);
  auto dot = [&](int a, int b) {
    double s = 0;
    for (int d = 0; d < 384; ++d) {
      s += j["embeddings"][a][d].get<double>() * j["embeddings"][b][d].get<double>();
    }
    return s;
  };
  EXPECT_NEAR(dot(0, 0), 1.0, 1e-5);
  EXPECT_GT(dot(0, 1), 0.8);  // paraphrases
  EXPECT_LT(dot(0, 2), 0.2);  // unrelated
}

TEST(EmbedCommandTest, BadInputGetsOneLineAndExitTwo) {
  const testing::RunResult missing = testing::RunEngram({"embed", "--model", "/nonexistent/m", "x"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("scripts/fetch_models.sh"), std::string::npos) << missing.err;
  EXPECT_EQ(testing::LineCount(missing.err), 1);
  const testing::RunResult none = testing::RunEngram({"embed"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("give texts"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace engram
