// `engram chat` driven through a pipe, as a script would: a new session, a fact, /history and
// /recall, then the same session again in a second process (the restart), /forget, and the
// refusals of bad flags. Assertions are on what memory holds, not on the model's words.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

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

// Starts `engram chat` with pipes for stdin and stdout; returns its pid.
pid_t SpawnChat(const fs::path& data_dir, int* to_child, int* from_child) {
  int in[2], out[2];
  EXPECT_EQ(::pipe(in), 0);
  EXPECT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args = {ENGRAM_BINARY, "--data-dir", data_dir.string(), "chat",
                                   "--max-tokens", "12", "--temp", "0", "--ctx", "2048",
                                   "--threads", "2"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, ENGRAM_BINARY, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  *to_child = in[1];
  *from_child = out[0];
  return pid;
}

TEST_F(ChatCommandTest, ATurnSurvivesSigkill) {
  int to_child = -1, from_child = -1;
  const pid_t pid = SpawnChat(dir_, &to_child, &from_child);
  const std::string input = "My sister Ana lives in Porto.\n/history\n";
  ASSERT_EQ(::write(to_child, input.data(), input.size()), static_cast<ssize_t>(input.size()));
  // /history runs after the turn returned, so once it shows the fact the turn is stored.
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (out.find("#2 assistant:") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::read(from_child, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::kill(pid, SIGKILL);  // the chat is waiting for more input: no clean shutdown
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(to_child);
  ::close(from_child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the chat ended on its own:\n" << out;
  const std::string id = SessionId(out);
  ASSERT_FALSE(id.empty()) << out;

  RunResult r = Chat({"--session", id}, "/history\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("#1 user: My sister Ana lives in Porto."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#2 assistant: "), std::string::npos) << r.out;
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
  r = Chat({"-c", "nope"}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("collection 'nope' does not exist"), std::string::npos) << r.err;
  r = Chat({"--session", std::string(32, '0'), "-c", "nope"}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("a continued session keeps its own"), std::string::npos) << r.err;
  r = Chat({"--session", std::string(32, '0'), "--new"}, "");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace engram
