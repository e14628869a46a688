// `engram eval attention` and `engram bench attention` as a user runs them: the real binary, the
// default generator and the essays in ENGRAM_SHARED_DATA. Kept small (a 400-token context, a
// 64-position window, 8 steps) so the eval runs in about half a minute on two cores.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

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
  EXPECT_NE(r.err.find("engram: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// The eval's small run; `extra` replaces nothing, it is appended.
std::vector<std::string> EvalArgs(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"eval",    "attention", "--ctx",    "400", "--window", "64",
                                   "--steps", "8",         "--depths", "2",   "--texts",  "essays"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(EvalAttentionCommandTest, PoliciesAgainstFullAttentionJson) {
  const RunResult r = RunEngram(
      EvalArgs({"--budgets", "0.1", "--policies", "full,window,quest,retrieval", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["eval"], "attention");
  EXPECT_EQ(j["steps"], 8);
  EXPECT_EQ(j["depths"], 2);
  EXPECT_EQ(j["window"], 64);
  EXPECT_EQ(j["sinks"], 4);
  ASSERT_TRUE(j["results"].is_array());
  ASSERT_EQ(j["results"].size(), 4u) << j.dump(2);
  std::map<std::string, nlohmann::json> by_policy;
  for (const nlohmann::json& row : j["results"]) {
    for (const char* field :
         {"policy", "index", "ctx", "budget", "top1_agreement", "kl", "mass_recall",
          "output_rel_err", "needle_accuracy", "attention_ms_per_token", "decode_ms_per_token",
          "keys_attended"}) {
      EXPECT_TRUE(row.contains(field)) << field << " missing in " << row.dump();
    }
    const std::string policy = row["policy"].get<std::string>();
    EXPECT_TRUE(by_policy.emplace(policy, row).second) << policy << " twice";
    EXPECT_EQ(row["ctx"], 400);
    EXPECT_GE(row["needle_accuracy"].get<double>(), 0.0);
    EXPECT_LE(row["needle_accuracy"].get<double>(), 1.0);
    EXPECT_GT(row["decode_ms_per_token"].get<double>(), 0.0);
    EXPECT_GT(row["attention_ms_per_token"].get<double>(), 0.0);
  }
  ASSERT_EQ(by_policy.size(), 4u);
  for (const char* policy : {"full", "window", "quest", "retrieval"}) {
    ASSERT_TRUE(by_policy.count(policy)) << policy << " has no row: " << j.dump(2);
  }
  const nlohmann::json& full = by_policy["full"];
  EXPECT_EQ(full["budget"].get<double>(), 1.0);
  EXPECT_EQ(full["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(full["kl"].get<double>(), 0.0);
  EXPECT_EQ(full["mass_recall"].get<double>(), 1.0);
  EXPECT_EQ(full["output_rel_err"].get<double>(), 0.0);
  // Full attention attends the whole cache: 392 prefilled positions plus the steps.
  EXPECT_GT(full["keys_attended"].get<double>(), 390.0);
  EXPECT_LE(full["keys_attended"].get<double>(), 400.0);
  EXPECT_EQ(by_policy["retrieval"]["index"], "aware");  // the default index
  for (const char* policy : {"window", "quest", "retrieval"}) {
    SCOPED_TRACE(policy);
    const nlohmann::json& row = by_policy[policy];
    EXPECT_EQ(row["budget"].get<double>(), 0.1);
    const double mass = row["mass_recall"].get<double>();
    EXPECT_GT(mass, 0.0);
    EXPECT_LE(mass, 1.0 + 1e-9);
    const double top1 = row["top1_agreement"].get<double>();
    EXPECT_GE(top1, 0.0);
    EXPECT_LE(top1, 1.0);
    EXPECT_GE(row["kl"].get<double>(), 0.0);
    EXPECT_GE(row["output_rel_err"].get<double>(), 0.0);
    EXPECT_LT(row["keys_attended"].get<double>(), full["keys_attended"].get<double>());
    // About sinks + window + budget * length each (4 + 64 + 40).
    EXPECT_GT(row["keys_attended"].get<double>(), 68.0);
  }
}

TEST(EvalAttentionCommandTest, BadInputGetsOneLineAndExitTwo) {
  ExpectBadInput(RunEngram(EvalArgs({"--budgets", "0"})), "budget");
  ExpectBadInput(RunEngram(EvalArgs({"--budgets", "1.5"})), "--budgets: Value 1.5 not in range");
  ExpectBadInput(RunEngram(EvalArgs({"--budgets", "abc"})), "--budgets");
  ExpectBadInput(RunEngram(EvalArgs({"--policies", "dense"})), "'dense'");
  ExpectBadInput(RunEngram(EvalArgs({"--policies", "window:ivf"})), "window:ivf");
  ExpectBadInput(RunEngram(EvalArgs({"--policies", "retrieval:hnsw"})), "'hnsw'");
  ExpectBadInput(RunEngram(EvalArgs({"--texts", "nope"})), "'nope'");
  // The context must hold the steps, the window and the sinks: 70 <= 8 + 64 + 4.
  ExpectBadInput(RunEngram({"eval", "attention", "--ctx", "70", "--window", "64", "--steps", "8",
                            "--texts", "essays"}),
                 "context 70");
}

TEST(BenchAttentionCommandTest, RetrievalAttendsFewerKeysThanFull) {
  const RunResult r = RunEngram(
      {"bench", "attention", "--ctx", "1024", "--steps", "2", "--policies", "full,retrieval",
       "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["bench"], "attention");
  ASSERT_TRUE(j["results"].is_array());
  ASSERT_EQ(j["results"].size(), 2u) << j.dump(2);
  const nlohmann::json& full = j["results"][0];
  const nlohmann::json& retrieval = j["results"][1];
  EXPECT_EQ(full["policy"], "full");
  EXPECT_EQ(retrieval["policy"], "retrieval");
  for (const nlohmann::json* row : {&full, &retrieval}) {
    EXPECT_EQ((*row)["ctx"], 1024);
    EXPECT_GT((*row)["decode_ms_per_token"].get<double>(), 0.0);
    EXPECT_GT((*row)["attention_ms_per_token"].get<double>(), 0.0);
  }
  // 1022 cached positions, then two steps: 1023 and 1024 keys.
  EXPECT_DOUBLE_EQ(full["keys_attended"].get<double>(), 1023.5);
  EXPECT_LT(retrieval["keys_attended"].get<double>(), full["keys_attended"].get<double>());
  EXPECT_GT(retrieval["keys_attended"].get<double>(), 244.0);  // at least sinks + window
  EXPECT_EQ(retrieval["budget"].get<double>(), 0.05);
  ExpectBadInput(RunEngram({"bench", "attention", "--ctx", "1024", "--budget", "0"}), "budget");
  ExpectBadInput(RunEngram({"bench", "attention", "--ctx", "1024", "--policies", "dense"}),
                 "'dense'");
  ExpectBadInput(RunEngram({"bench", "attention", "--ctx", "8", "--steps", "8"}), "context 8");
}

}  // namespace
}  // namespace engram
