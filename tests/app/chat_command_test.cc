// `engram chat` driven through a pipe, as a script would: a new session, a fact, /history and
// /recall, then the same session again in a second process (the restart), /forget, and the
// refusals of bad flags. Assertions are on what memory holds, not on the model's words.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "common/default_models.h"
#include "tests/app/engram_process.h"

namespace engram {
namespace {

namespace fs = std::filesystem;
using testing::RunEngram;
using testing::RunOptions;
using testing::RunResult;

class ChatCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<fs::path> model = DefaultModelPath("generator");
    ASSERT_TRUE(model.ok()) << model.status().ToString() << "; run scripts/fetch_models.sh";
    dir_ = fs::temp_directory_path() / ("engram_chat_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult Chat(std::vector<std::string> args, const std::string& input) {
    RunOptions options;
    options.data_dir = dir_;
    options.stdin_data = input;
    options.timeout_s = 120;
    args.insert(args.begin(), "chat");
    for (const char* a : {"--max-tokens", "12", "--temp", "0", "--ctx", "2048", "--threads", "2"}) {
      args.push_back(a);
    }
    return RunEngram(args, {}, options);
  }
  static std::string SessionId(const std::string& out) {
    std::smatch m;
    const std::regex first(R"(^session ([0-9a-f]{32}) )");
    return std::regex_search(out, m, first) ? m[1].str() : "";
  }
  fs::path dir_;
};

TEST_F(ChatCommandTest, RemembersAcrossRunsThroughAPipe) {
  RunResult r = Chat({}, "My sister Ana lives in Porto.\n\n/history\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = SessionId(r.out);
  ASSERT_FALSE(id.empty()) << "the session id is printed first:\n" << r.out;
  EXPECT_NE(r.out.find("#1 user: My sister Ana lives in Porto."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#2 assistant: "), std::string::npos) << r.out;

  r = Chat({"--session", id},
           "/recall where does Ana live\n/forget 1\n/history\n/quit\n/history\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(SessionId(r.out), id);
  EXPECT_NE(r.out.find(") user: My sister Ana lives in Porto."), std::string::npos)
      << "recalled in a new process:\n"
      << r.out;
  EXPECT_NE(r.out.find("forgot #1"), std::string::npos) << r.out;
  const size_t after_forget = r.out.find("forgot #1");
  EXPECT_EQ(r.out.find("#1 user:", after_forget), std::string::npos) << "forgotten:\n" << r.out;
  EXPECT_NE(r.out.find("#2 assistant: ", after_forget), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("#2 assistant: ", r.out.find("#2 assistant: ", after_forget) + 1),
            std::string::npos)
      << "nothing after /quit runs:\n"
      << r.out;
}

TEST_F(ChatCommandTest, BadCommandsAreReportedAndTheChatGoesOn) {
  RunResult r = Chat({"--new"}, "/frob\n/forget abc\n/recall\n/history\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("unknown command '/frob'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/forget needs an episode id"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/recall needs a query"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("(no messages yet)"), std::string::npos) << r.out;
}

TEST_F(ChatCommandTest, RefusesBadSessionFlags) {
  RunResult r = Chat({"--session", "nothex"}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("32 lower-case hex digits"), std::string::npos) << r.err;
  r = Chat({"--session", std::string(32, '0')}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("start a new one with --new"), std::string::npos) << r.err;
  r = Chat({"--session", std::string(32, '0'), "--new"}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace engram
