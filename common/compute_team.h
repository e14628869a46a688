// A small team of threads for the forward pass: many short parallel loops back to back.
//
//   ComputeTeam team(2);                      // the caller plus one worker
//   team.ParallelFor(0, rows, 16, [&](size_t begin, size_t end) { ... });
//
// ThreadPool wakes workers through a mutex and a condition variable, which costs tens of
// microseconds per loop; a decode step runs a few hundred loops, so that would be a large share
// of its time. Here idle workers spin on an atomic generation counter for a short while before
// they sleep (std::atomic::wait), so a loop that follows another one starts in well under a
// microsecond, and a team that is not used costs no CPU after the spin ends.
//
// Thread safety: ParallelFor must be called from one thread at a time (the team's owner), never
// from inside a body.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace engram {

class ComputeTeam {
 public:
  // `num_threads` counts the calling thread: 1 runs everything on the caller. 0 means one per
  // hardware thread.
  explicit ComputeTeam(size_t num_threads = 0);
  ~ComputeTeam();

  ComputeTeam(const ComputeTeam&) = delete;
  ComputeTeam& operator=(const ComputeTeam&) = delete;

  size_t size() const { return workers_.size() + 1; }

  // Calls body(chunk_begin, chunk_end) over disjoint chunks covering [begin, end). Chunks are
  // multiples of `grain` long (except the last) and are claimed dynamically, so uneven work
  // (causal attention rows) balances. Returns when every chunk is done. `body` must not throw.
  void ParallelFor(size_t begin, size_t end, size_t grain,
                   const std::function<void(size_t, size_t)>& body);

 private:
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  // The current loop; written by the owner before `generation_` is bumped.
  const std::function<void(size_t, size_t)>* body_ = nullptr;
  size_t begin_ = 0, end_ = 0, chunk_ = 1;
  std::atomic<size_t> next_chunk_{0};
  size_t num_chunks_ = 0;
  std::atomic<size_t> busy_workers_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace engram
