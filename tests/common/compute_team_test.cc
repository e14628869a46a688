#include "common/compute_team.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace engram {
namespace {

TEST(ComputeTeamTest, CoversEveryIndexExactlyOnceInGrainedChunks) {
  for (size_t threads : {1, 2, 3, 8}) {
    ComputeTeam team(threads);
    EXPECT_EQ(team.size(), threads);
    for (size_t n : {0, 1, 7, 16, 100, 1000, 4097}) {
      std::vector<std::atomic<int>> hits(n);
      team.ParallelFor(0, n, 16, [&](size_t lo, size_t hi) {
        EXPECT_TRUE(lo % 16 == 0) << lo;  // chunks start on the grain
        for (size_t i = lo; i < hi; ++i) hits[i].fetch_add(1);
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i << " of " << n;
    }
  }
}

TEST(ComputeTeamTest, ManyShortLoopsBackToBackAndAfterSleeping) {
  ComputeTeam team(3);
  std::atomic<long> total{0};
  for (int round = 0; round < 20000; ++round) {
    team.ParallelFor(0, 8, 1, [&](size_t lo, size_t hi) { total += static_cast<long>(hi - lo); });
  }
  EXPECT_EQ(total.load(), 8 * 20000);
  // Workers go to sleep when idle and must wake for the next loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  team.ParallelFor(0, 100, 1, [&](size_t lo, size_t hi) { total += static_cast<long>(hi - lo); });
  EXPECT_EQ(total.load(), 8 * 20000 + 100);
}

TEST(ComputeTeamTest, UsesMoreThanOneThread) {
  ComputeTeam team(2);
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int round = 0; round < 200 && ids.size() < 2; ++round) {
    team.ParallelFor(0, 64, 1, [&](size_t, size_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    });
  }
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace engram
