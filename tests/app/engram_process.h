// Runs the real `engram` binary as a child process (posix_spawn) and captures its exit code,
// stdout and stderr: the black-box harness of the app tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace engram::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal when a signal ended it (134 abort, 137 kill, 139 segfault)
  std::string out;
  std::string err;
  bool timed_out = false;       // killed after RunOptions::timeout_s
  bool memory_exceeded = false;  // killed after its resident set passed RunOptions::max_rss_bytes
  double seconds = 0;           // wall-clock time until it ended
  uint64_t peak_rss_bytes = 0;  // largest resident set seen while polling (with a limit only)
};

// How to run the child; the defaults are the plain RunEngram of old (stdin inherited, no limits).
struct RunOptions {
  // Standard input: a file opened as fd 0 (/dev/zero, a FIFO, a regular file) when set...
  std::filesystem::path stdin_path;
  // ...else these bytes (written to a temporary file) when set; else this process's stdin.
  std::optional<std::string> stdin_data;
  // > 0: kill the child (SIGKILL) once it has run this long; RunResult::timed_out says so.
  double timeout_s = 0;
  // > 0: kill the child once its resident set passes this many bytes (polled every few ms).
  uint64_t max_rss_bytes = 0;
  // Set: `--data-dir <data_dir>` goes before the arguments.
  std::filesystem::path data_dir;
  // Set: the child's working directory.
  std::filesystem::path cwd;
};

inline std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The resident set of process `pid` in bytes (0 when unknown).
inline uint64_t ResidentBytes(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Runs the engram binary with `args`; `env` entries override (or, with an empty value, remove)
// variables of this process's environment; `options` add stdin, limits, --data-dir and cwd.
inline RunResult RunEngram(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {},
                           const RunOptions& options = {}) {
  static std::atomic<int> counter{0};  // callers run cases from several threads
  const auto base =
      std::filesystem::temp_directory_path() /
      ("engram_cli_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string out_path = base.string() + ".out", err_path = base.string() + ".err",
                    in_path = base.string() + ".in";

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (!env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) {
    if (!value.empty()) env_strings.push_back(key + "=" + value);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings = {ENGRAM_BINARY};
  if (!options.data_dir.empty()) {
    argv_strings.push_back("--data-dir");
    argv_strings.push_back(options.data_dir.string());
  }
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string stdin_source;
  if (!options.stdin_path.empty()) {
    stdin_source = options.stdin_path.string();
  } else if (options.stdin_data.has_value()) {
    std::ofstream(in_path, std::ios::binary) << *options.stdin_data;
    stdin_source = in_path;
  }
  if (!stdin_source.empty()) {
    // O_NONBLOCK: opening a FIFO with no writer must not hang this process; the child sees
    // a descriptor it may read (it gets end-of-file, or EAGAIN, never a hang of the test).
    posix_spawn_file_actions_addopen(&actions, 0, stdin_source.c_str(), O_RDONLY | O_NONBLOCK, 0);
  }
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  pid_t pid = -1;
  RunResult result;
  const auto start = std::chrono::steady_clock::now();
  if (posix_spawn(&pid, ENGRAM_BINARY, &actions, nullptr, argv.data(), envp.data()) == 0) {
    int status = 0;
    if (options.timeout_s <= 0 && options.max_rss_bytes == 0) {
      ::waitpid(pid, &status, 0);
    } else {
      auto pause = std::chrono::microseconds(200);
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (options.max_rss_bytes > 0) {
          const uint64_t rss = ResidentBytes(pid);
          result.peak_rss_bytes = std::max(result.peak_rss_bytes, rss);
          if (rss > options.max_rss_bytes) result.memory_exceeded = true;
        }
        if (options.timeout_s > 0 && elapsed > options.timeout_s) result.timed_out = true;
        if (result.timed_out || result.memory_exceeded) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(5000));
      }
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  posix_spawn_file_actions_destroy(&actions);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  std::filesystem::remove(in_path);
  return result;
}

inline nlohmann::json ParseJson(const RunResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "stdout is not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return j;
}

inline int LineCount(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace engram::testing
