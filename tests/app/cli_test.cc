// The `engram` binary as a black box: real process, real flags, real models.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/paths.h"
#include "tests/app/engram_process.h"

namespace engram {
namespace {

using testing::LineCount;
using testing::ParseJson;
using testing::RunEngram;
using testing::RunResult;

// The default (not optional) model of `role` in `engram info --json`.
const nlohmann::json* FindModel(const nlohmann::json& info, const std::string& role) {
  for (const nlohmann::json& m : info["models"]) {
    if (m["role"] == role && m["optional"] == false) return &m;
  }
  return nullptr;
}

const nlohmann::json* FindModelByName(const nlohmann::json& info, const std::string& name) {
  for (const nlohmann::json& m : info["models"]) {
    if (m["name"] == name) return &m;
  }
  return nullptr;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::filesystem::temp_directory_path() / ("engram_cli_" + std::to_string(::getpid()));
    std::filesystem::remove_all(tmp_);
    std::filesystem::create_directories(tmp_);
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }
  std::filesystem::path tmp_;
};

TEST_F(CliTest, VersionPrintsVersionAndCommit) {
  const RunResult r = RunEngram({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("engram 0.1.0 (commit ", 0), 0u) << r.out;
}

// The foundation's promise: after scripts/setup.sh, `engram info` finds both default models
// and their sha256 digests match scripts/models.lock.
TEST_F(CliTest, InfoJsonListsBothDefaultModelsVerified) {
  const RunResult r = RunEngram({"info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = ParseJson(r);
  ASSERT_TRUE(info.is_object());
  EXPECT_EQ(info["version"], "0.1.0");
  EXPECT_FALSE(info["build"]["commit"].get<std::string>().empty());
  EXPECT_TRUE(info["cuda"]["compiled"].is_boolean());
  EXPECT_TRUE(info["cuda"]["gpu_visible"].is_boolean());
  EXPECT_GE(info["machine"]["hardware_threads"].get<int>(), 1);
  EXPECT_TRUE(info["libraries"].contains("faiss"));
  EXPECT_TRUE(info["libraries"].contains("rocksdb"));

  ASSERT_EQ(info["models"].size(), 3u);  // the two defaults and gemma3, optional
  for (const nlohmann::json& m : info["models"]) {
    if (m["optional"] == true) continue;  // fetched only on request; not in CI
    EXPECT_EQ(m["fetch_command"], "scripts/fetch_models.sh");
    EXPECT_EQ(m["state"], "verified") << m.dump(2) << "\nrun scripts/fetch_models.sh";
    EXPECT_GT(m["size_bytes"].get<uint64_t>(), 50u << 20) << m["name"];
    for (const nlohmann::json& f : m["files"]) {
      EXPECT_EQ(f["actual_sha256"], f["expected_sha256"]) << f["path"];
    }
  }
  const nlohmann::json* generator = FindModel(info, "generator");
  ASSERT_NE(generator, nullptr);
  EXPECT_EQ((*generator)["name"], "smollm2-135m-instruct");
  ASSERT_NE(FindModel(info, "embedder"), nullptr);
  EXPECT_EQ(info["models_verified"], true);
}

TEST_F(CliTest, InfoTableShowsModelsAndCuda) {
  const RunResult r = RunEngram({"info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("smollm2-135m-instruct"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all-minilm-l6-v2"), std::string::npos);
  EXPECT_NE(r.out.find("sha256 verified"), std::string::npos);
  EXPECT_NE(r.out.find("cuda"), std::string::npos);
}

TEST_F(CliTest, InfoReportsMissingModelsAndHowToFetchThem) {
  const RunResult r = RunEngram({"info"}, {{"ENGRAM_MODELS_DIR", tmp_.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;  // informational: reports, does not fail
  EXPECT_NE(r.out.find("sha256 missing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run scripts/fetch_models.sh"), std::string::npos) << r.out;

  const nlohmann::json info =
      ParseJson(RunEngram({"info", "--json"}, {{"ENGRAM_MODELS_DIR", tmp_.string()}}));
  EXPECT_EQ(info["models_verified"], false);
  EXPECT_EQ(info["paths"]["models_dir"], tmp_.string());
  for (const nlohmann::json& m : info["models"]) EXPECT_EQ(m["state"], "missing");
}

// The optional generator is listed with the command that fetches it, but its absence is no
// failure: the defaults alone make a ready install.
TEST_F(CliTest, InfoListsTheOptionalModelWithoutRequiringIt) {
  Result<std::filesystem::path> real = ResolveModelsDir();
  ASSERT_TRUE(real.ok());
  std::filesystem::create_directory_symlink(*real / "all-MiniLM-L6-v2", tmp_ / "all-MiniLM-L6-v2");
  std::filesystem::create_symlink(*real / "SmolLM2-135M-Instruct.Q4_1.gguf",
                                  tmp_ / "SmolLM2-135M-Instruct.Q4_1.gguf");
  const std::map<std::string, std::string> env = {{"ENGRAM_MODELS_DIR", tmp_.string()}};

  const RunResult r = RunEngram({"info", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = ParseJson(r);
  EXPECT_EQ(info["models_verified"], true) << info["models"].dump(2);
  const nlohmann::json* gemma = FindModelByName(info, "gemma3");
  ASSERT_NE(gemma, nullptr) << info["models"].dump(2);
  EXPECT_EQ((*gemma)["optional"], true);
  EXPECT_EQ((*gemma)["role"], "generator");
  EXPECT_EQ((*gemma)["state"], "missing");
  EXPECT_EQ((*gemma)["ready"], false);
  EXPECT_EQ((*gemma)["fetch_command"], "scripts/fetch_models.sh --with gemma3");
  EXPECT_EQ((*gemma)["path"], (tmp_ / "gemma-3-270m-q4_k_m.gguf").string());

  const RunResult table = RunEngram({"info"}, env);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("optional models"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("gemma3"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("run scripts/fetch_models.sh --with gemma3"), std::string::npos)
      << table.out;
  // The defaults' line only appears when a default is missing.
  EXPECT_EQ(table.out.find("run scripts/fetch_models.sh to"), std::string::npos) << table.out;
}

// `-m gemma3` before the download: one line naming the fetch command, bad-input exit code.
TEST_F(CliTest, ModelNameOfAMissingOptionalModelIsOneLine) {
  const std::map<std::string, std::string> env = {{"ENGRAM_MODELS_DIR", tmp_.string()}};
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"generate", "-m", "gemma3", "-n", "4", "-p", "hello"},
        std::vector<std::string>{"tokenize", "-m", "gemma3", "hello"}}) {
    const RunResult r = RunEngram(args, env);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_EQ(LineCount(r.err), 1) << r.err;
    EXPECT_NE(
        r.err.find("model 'gemma3' is not downloaded: run scripts/fetch_models.sh --with gemma3"),
        std::string::npos)
        << r.err;
    EXPECT_EQ(r.out, "");
  }
  // A damaged copy (wrong size) is named as such.
  { std::ofstream(tmp_ / "gemma-3-270m-q4_k_m.gguf") << "GGUF"; }
  const RunResult damaged = RunEngram({"tokenize", "-m", "gemma3", "hello"}, env);
  EXPECT_EQ(damaged.exit_code, 2) << damaged.err;
  EXPECT_EQ(LineCount(damaged.err), 1) << damaged.err;
  EXPECT_NE(damaged.err.find("is damaged"), std::string::npos) << damaged.err;
}

// A default model's name works wherever a path does.
TEST_F(CliTest, DefaultModelNamesWorkAsModelArguments) {
  const RunResult by_name =
      RunEngram({"tokenize", "--ids", "-m", "smollm2-135m-instruct", "hello"});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  const RunResult by_default = RunEngram({"tokenize", "--ids", "hello"});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_EQ(by_name.out, by_default.out);
}

// A damaged download (right name, wrong bytes) is caught by the digest, not just by presence.
TEST_F(CliTest, InfoDetectsACorruptModelFile) {
  Result<std::filesystem::path> real = ResolveModelsDir();
  ASSERT_TRUE(real.ok());
  // The embedder: links to the real (verified) files. The generator: a truncated copy.
  std::filesystem::create_directory_symlink(*real / "all-MiniLM-L6-v2", tmp_ / "all-MiniLM-L6-v2");
  {
    std::ifstream in(*real / "SmolLM2-135M-Instruct.Q4_1.gguf", std::ios::binary);
    ASSERT_TRUE(in) << "default generator missing; run scripts/fetch_models.sh";
    std::string head(4096, '\0');
    in.read(head.data(), head.size());
    std::ofstream(tmp_ / "SmolLM2-135M-Instruct.Q4_1.gguf", std::ios::binary) << head;
  }
  const RunResult r = RunEngram({"info", "--json"}, {{"ENGRAM_MODELS_DIR", tmp_.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = ParseJson(r);
  EXPECT_EQ((*FindModel(info, "generator"))["state"], "digest mismatch");
  EXPECT_EQ((*FindModel(info, "embedder"))["state"], "verified");
  EXPECT_EQ(info["models_verified"], false);
}

TEST_F(CliTest, DataDirFlagWorksBeforeAndAfterTheSubcommand) {
  for (const auto& args :
       {std::vector<std::string>{"--data-dir", "/srv/engram", "info", "--json", "--no-verify"},
        std::vector<std::string>{"info", "--json", "--no-verify", "--data-dir", "/srv/engram"}}) {
    const RunResult r = RunEngram(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(ParseJson(r)["paths"]["data_dir"], "/srv/engram");
  }
  const RunResult from_env =
      RunEngram({"info", "--json", "--no-verify"}, {{"ENGRAM_DATA_DIR", "/env/dir"}});
  EXPECT_EQ(ParseJson(from_env)["paths"]["data_dir"], "/env/dir");
}

TEST_F(CliTest, NoVerifyReportsPresenceOnly) {
  const RunResult r = RunEngram({"info", "--json", "--no-verify"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const nlohmann::json& m : ParseJson(r)["models"]) {
    if (m["optional"] == false) EXPECT_EQ(m["state"], "present") << m["name"];
  }
}

// Bad input: one clear line on stderr, exit code 2, nothing on stdout.
TEST_F(CliTest, UnknownLogLevelIsOneLineAndExitTwo) {
  const RunResult r = RunEngram({"--log-level", "loud", "info"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("'loud'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("trace, debug, info, warn, error, off"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, UnknownSubcommandIsOneLineAndExitTwo) {
  const RunResult r = RunEngram({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("engram --help"), std::string::npos) << r.err;
}

TEST_F(CliTest, MissingSubcommandIsOneLineAndExitTwo) {
  const RunResult r = RunEngram({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("subcommand"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownFlagIsOneLineAndExitTwo) {
  const RunResult r = RunEngram({"info", "--frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(LineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--frobnicate"), std::string::npos) << r.err;
}

TEST_F(CliTest, HelpExitsZeroAndDescribesTheCommand) {
  const RunResult r = RunEngram({"info", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace engram
