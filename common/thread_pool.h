// A fixed-size pool of worker threads for CPU work (matmuls, embedding batches, index builds).
//
//   ThreadPool pool(4);
//   std::future<int> f = pool.Submit([] { return 42; });
//   pool.ParallelFor(0, rows, [&](size_t begin, size_t end) { ... rows [begin, end) ... });
//
// Thread safety: every method may be called from any thread, including from inside a task.
// ParallelFor called from a worker does not deadlock: the calling thread always works through
// the range itself and only waits for chunks other threads have already started.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/thread_annotations.h"

namespace engram {

// The most threads a pool or team starts, whatever is asked: more than any machine engram runs
// on has cores, few enough that starting them cannot exhaust the process. Flags that set a
// thread count are checked against it (app/cli.h AddThreadsOption).
inline constexpr size_t kMaxThreads = 1024;

// 0 -> one per hardware thread; anything above kMaxThreads -> kMaxThreads.
size_t ResolveThreadCount(size_t requested);

class ThreadPool {
 public:
  // Starts `num_threads` workers (see ResolveThreadCount). If the system refuses a thread after
  // the first, the pool runs with the workers it has.
  explicit ThreadPool(size_t num_threads = 0);
  // Runs every task already submitted, then joins the workers.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size(); }

  // Queues `fn` and returns a future for its result. If `fn` throws, the exception is stored in
  // the future (engram code reports failures through Status instead).
  template <typename Fn>
  auto Submit(Fn&& fn) -> std::future<std::invoke_result_t<std::decay_t<Fn>>> {
    using R = std::invoke_result_t<std::decay_t<Fn>>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<Fn>(fn));
    std::future<R> result = task->get_future();
    Enqueue([task] { (*task)(); });
    return result;
  }

  // Calls body(chunk_begin, chunk_end) over disjoint chunks that cover [begin, end), each at
  // least `min_chunk` long (except the last), spread over the workers and the calling thread.
  // Returns when every chunk has finished. `body` must not throw.
  void ParallelFor(size_t begin, size_t end, const std::function<void(size_t, size_t)>& body,
                   size_t min_chunk = 1);

 private:
  void Enqueue(std::function<void()> task);
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable work_available_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace engram
