// Crash safety (ctest label `slow`): a child process appends with sync=true and prints every
// acknowledged id; the parent SIGKILLs it at random moments, 50 times. After each kill the store
// opens, every acknowledged episode is present with its text and is recalled first by its own
// vector, and the vector index holds exactly the stored episodes.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "memory/episodic_store.h"
#include "tests/memory/test_vectors.h"

namespace engram::memory {
namespace {

namespace fs = std::filesystem;
using testing::kTestDim;
using testing::VectorFor;

std::unique_ptr<EpisodicStore> OpenStore(const std::string& dir) {
  StoreOptions options;
  options.dim = kTestDim;
  options.sync = true;
  auto store = EpisodicStore::Open(dir, options);
  return store.ok() ? std::move(*store) : nullptr;
}

// The child: re-executed with ENGRAM_MEMORY_CRASH_DIR set; appends until killed.
TEST(EpisodicStoreCrashChild, AppendUntilKilled) {
  const char* dir = std::getenv("ENGRAM_MEMORY_CRASH_DIR");
  const char* round = std::getenv("ENGRAM_MEMORY_CRASH_ROUND");
  if (dir == nullptr || round == nullptr) GTEST_SKIP() << "runs only as the crash test's child";
  auto store = OpenStore(dir);
  if (store == nullptr) ::_exit(3);
  for (int i = 0;; ++i) {
    Episode e;
    e.session = std::string("round-") + round;
    e.role = "user";
    e.text = std::string("round ") + round + " turn " + std::to_string(i);
    e.timestamp_ms = 1000 + i;
    e.embedding = VectorFor(e.text);
    // Two namespaces, so the index of each must be caught up separately.
    Result<uint64_t> id = store->Append(i % 2 ? "odd" : "even", e);
    if (!id.ok()) ::_exit(4);
    std::printf("%llu %s\n", static_cast<unsigned long long>(*id), e.text.c_str());
    std::fflush(stdout);
  }
}

TEST(EpisodicStoreCrash, AcknowledgedAppendsSurviveSigkill) {
  const fs::path dir = fs::temp_directory_path() / ("engram-memory-crash-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::mt19937 rng(11);
  std::vector<std::pair<uint64_t, std::string>> acknowledged;  // (id, text), every round
  for (int round = 0; round < 50; ++round) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      ::setenv("ENGRAM_MEMORY_CRASH_DIR", dir.c_str(), 1);
      ::setenv("ENGRAM_MEMORY_CRASH_ROUND", std::to_string(round).c_str(), 1);
      ::execl(self.c_str(), self.c_str(), "--gtest_filter=EpisodicStoreCrashChild.*", nullptr);
      ::_exit(5);
    }
    ::close(pipe_fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << status;
    std::string output;
    char buffer[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, n);
    ::close(pipe_fds[0]);
    // Complete lines only: a line cut by the kill was never acknowledged to anyone.
    std::istringstream lines(output.substr(0, output.rfind('\n') + 1));
    for (std::string line; std::getline(lines, line);) {
      // "<id> round R turn I"; gtest's own lines start otherwise.
      const size_t space = line.find(' ');
      if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0])) ||
          space == std::string::npos) {
        continue;
      }
      const std::string text = line.substr(space + 1);
      if (text.rfind("round ", 0) != 0) continue;
      acknowledged.emplace_back(std::stoull(line.substr(0, space)), text);
    }

    StoreOptions options;
    options.dim = kTestDim;
    auto opened = EpisodicStore::Open(dir.string(), options);
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status().ToString();
    std::unique_ptr<EpisodicStore> store = std::move(*opened);
    for (const auto& [id, text] : acknowledged) {
      const int turn = std::stoi(text.substr(text.rfind(' ') + 1));
      const std::string ns = turn % 2 ? "odd" : "even";
      auto e = store->Get(ns, id);
      ASSERT_TRUE(e.ok()) << "round " << round << ": acknowledged id " << id << " is gone";
      EXPECT_EQ(e->text, text);
    }
    // Recalled by its own vector: the newest ones (where a torn write would show) and a sample.
    std::vector<std::pair<uint64_t, std::string>> check(
        acknowledged.end() - std::min<ptrdiff_t>(acknowledged.size(), 6), acknowledged.end());
    for (size_t i = 0; i < acknowledged.size(); i += 1 + acknowledged.size() / 10) {
      check.push_back(acknowledged[i]);
    }
    for (const auto& [id, text] : check) {
      const int turn = std::stoi(text.substr(text.rfind(' ') + 1));
      RecallOptions o;
      o.k = 1;
      o.query_embedding = VectorFor(text);
      o.bm25_weight = o.recency_weight = o.importance_weight = 0;
      auto hits = store->Recall(turn % 2 ? "odd" : "even", "", o);
      ASSERT_TRUE(hits.ok());
      ASSERT_EQ(hits->size(), 1u);
      EXPECT_EQ((*hits)[0].episode.id, id) << "round " << round;
    }
    for (const char* ns : {"odd", "even"}) {
      auto stats = store->Stats(ns);
      ASSERT_TRUE(stats.ok());
      EXPECT_EQ(stats->index_vectors, stats->episodes) << ns << ", round " << round;
    }
  }
  EXPECT_GT(acknowledged.size(), 100u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace engram::memory
