#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace engram {
namespace {

using namespace std::chrono_literals;

TEST(ThreadPoolTest, ZeroMeansOneThreadPerCore) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1u);
}

// A count from a flag or a request never starts more than kMaxThreads threads.
TEST(ThreadPoolTest, ThreadCountsAreBounded) {
  EXPECT_GE(ResolveThreadCount(0), 1u);
  EXPECT_EQ(ResolveThreadCount(3), 3u);
  EXPECT_EQ(ResolveThreadCount(100000), kMaxThreads);
  EXPECT_EQ(ResolveThreadCount(static_cast<size_t>(-1)), kMaxThreads);
}

TEST(ThreadPoolTest, SubmitReturnsResults) {
  ThreadPool pool(3);
  std::vector<std::future<int>> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(pool.Submit([i] { return i * i; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(futures[i].get(), i * i);
}

TEST(ThreadPoolTest, ExceptionsReachTheFuture) {
  ThreadPool pool(1);
  auto f = pool.Submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(f.get(), std::runtime_error);
  EXPECT_EQ(pool.Submit([] { return 5; }).get(), 5);  // the worker survived
}

// Many threads submit at once to a small pool: every task runs exactly once.
TEST(ThreadPoolTest, ManySubmittersUnderContention) {
  ThreadPool pool(4);
  constexpr int kSubmitters = 8;
  constexpr int kTasksEach = 2000;
  std::atomic<int> runs{0};
  std::vector<std::thread> submitters;
  std::mutex futures_mu;
  std::vector<std::future<void>> futures;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < kTasksEach; ++i) {
        auto f = pool.Submit([&runs] { runs.fetch_add(1, std::memory_order_relaxed); });
        std::lock_guard<std::mutex> lock(futures_mu);
        futures.push_back(std::move(f));
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  for (auto& f : futures) f.get();
  EXPECT_EQ(runs.load(), kSubmitters * kTasksEach);
}

TEST(ThreadPoolTest, DestructorRunsQueuedTasks) {
  std::atomic<int> runs{0};
  {
    ThreadPool pool(1);
    for (int i = 0; i < 200; ++i) {
      (void)pool.Submit([&runs] {
        std::this_thread::sleep_for(10us);
        runs.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(runs.load(), 200);
}

// Each index of awkward-sized ranges is visited exactly once, for several chunk minimums.
TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (size_t n : {0u, 1u, 2u, 7u, 97u, 1000u, 10007u}) {
    for (size_t min_chunk : {1u, 3u, 64u, 100000u}) {
      const size_t begin = 5;
      std::vector<std::atomic<int>> hits(begin + n);
      pool.ParallelFor(
          begin, begin + n,
          [&](size_t lo, size_t hi) {
            ASSERT_LE(lo, hi);
            for (size_t i = lo; i < hi; ++i) hits[i].fetch_add(1);
          },
          min_chunk);
      for (size_t i = 0; i < begin; ++i) ASSERT_EQ(hits[i].load(), 0) << "n=" << n;
      for (size_t i = begin; i < begin + n; ++i) {
        ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " min_chunk=" << min_chunk << " i=" << i;
      }
    }
  }
}

TEST(ThreadPoolTest, ParallelForRespectsMinChunk) {
  ThreadPool pool(4);
  std::mutex mu;
  std::vector<size_t> sizes;
  pool.ParallelFor(
      0, 1000,
      [&](size_t lo, size_t hi) {
        std::lock_guard<std::mutex> lock(mu);
        sizes.push_back(hi - lo);
      },
      128);
  size_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) total += sizes[i];
  EXPECT_EQ(total, 1000u);
  int short_chunks = 0;
  for (size_t s : sizes) short_chunks += (s < 128);
  EXPECT_LE(short_chunks, 1);  // only the last chunk may be shorter
}

TEST(ThreadPoolTest, ParallelForUsesSeveralThreads) {
  ThreadPool pool(4);
  std::mutex mu;
  std::set<std::thread::id> ids;
  pool.ParallelFor(0, 64, [&](size_t, size_t) {
    std::this_thread::sleep_for(2ms);
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_GE(ids.size(), 2u);
}

// ParallelFor from inside tasks that occupy every worker must not deadlock: the calling thread
// works through its own range.
TEST(ThreadPoolTest, NestedParallelForFromEveryWorkerDoesNotDeadlock) {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  std::vector<std::future<void>> outer;
  for (int t = 0; t < 6; ++t) {
    outer.push_back(pool.Submit([&] {
      pool.ParallelFor(0, 1000, [&](size_t lo, size_t hi) {
        for (size_t i = lo; i < hi; ++i) sum.fetch_add(static_cast<long>(i));
      });
    }));
  }
  for (auto& f : outer) {
    ASSERT_EQ(f.wait_for(60s), std::future_status::ready) << "nested ParallelFor deadlocked";
  }
  EXPECT_EQ(sum.load(), 6L * (999L * 1000L / 2));
}

TEST(ThreadPoolTest, ConcurrentParallelForsFromManyThreads) {
  ThreadPool pool(3);
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        pool.ParallelFor(0, 257,
                         [&](size_t lo, size_t hi) { sum.fetch_add(static_cast<long>(hi - lo)); });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(sum.load(), 6L * 50 * 257);
}

}  // namespace
}  // namespace engram
