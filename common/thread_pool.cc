#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <system_error>

namespace engram {

size_t ResolveThreadCount(size_t requested) {
  if (requested == 0) return std::max(1u, std::thread::hardware_concurrency());
  return std::min(requested, kMaxThreads);
}

ThreadPool::ThreadPool(size_t num_threads) {
  num_threads = ResolveThreadCount(num_threads);
  workers_.reserve(num_threads);
  for (size_t i = 0; i < num_threads; ++i) {
    try {
      workers_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error&) {
      if (workers_.empty()) throw;  // no worker at all: tasks could never run
      break;
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Enqueue(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  work_available_.notify_one();
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_available_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain the queue before stopping so that no submitted future is left broken.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

namespace {

// Shared by the caller and the helper tasks of one ParallelFor. Chunks are claimed with an
// atomic counter, so whoever is free takes the next one; `finished` counts completed chunks.
struct ParallelForState {
  size_t begin, end, chunk, num_chunks;
  const std::function<void(size_t, size_t)>* body;
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished{0};
  std::mutex mu;
  std::condition_variable all_done;

  // Runs chunks until none is left to claim.
  void Work() {
    for (;;) {
      const size_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= num_chunks) return;
      const size_t lo = begin + c * chunk;
      (*body)(lo, std::min(end, lo + chunk));
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == num_chunks) {
        std::lock_guard<std::mutex> lock(mu);
        all_done.notify_all();
      }
    }
  }
};

}  // namespace

void ThreadPool::ParallelFor(size_t begin, size_t end,
                             const std::function<void(size_t, size_t)>& body, size_t min_chunk) {
  if (end <= begin) return;
  const size_t n = end - begin;
  min_chunk = std::max<size_t>(min_chunk, 1);
  const size_t threads = size() + 1;  // the workers and the caller
  // A few chunks per thread balances uneven chunk costs without much claiming overhead.
  size_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
  const size_t num_chunks = (n + chunk - 1) / chunk;
  if (num_chunks == 1) {
    body(begin, end);
    return;
  }

  auto state = std::make_shared<ParallelForState>();
  state->begin = begin;
  state->end = end;
  state->chunk = chunk;
  state->num_chunks = num_chunks;
  state->body = &body;  // valid until we return, and we return only after every chunk ran

  const size_t helpers = std::min(size(), num_chunks - 1);
  for (size_t i = 0; i < helpers; ++i) Enqueue([state] { state->Work(); });
  state->Work();

  std::unique_lock<std::mutex> lock(state->mu);
  state->all_done.wait(
      lock, [&] { return state->finished.load(std::memory_order_acquire) == state->num_chunks; });
}

}  // namespace engram
