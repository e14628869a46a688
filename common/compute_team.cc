#include "common/compute_team.h"

#include "common/thread_pool.h"

#include <algorithm>
#include <system_error>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define ENGRAM_CPU_RELAX() _mm_pause()
#else
#define ENGRAM_CPU_RELAX() std::this_thread::yield()
#endif

namespace engram {
namespace {
// About 100-200 microseconds of pause instructions: long enough to bridge the gap between the
// loops of one forward pass, short enough that an idle team stops burning a core quickly.
constexpr int kSpinIterations = 1 << 14;
}  // namespace

ComputeTeam::ComputeTeam(size_t num_threads) {
  num_threads = ResolveThreadCount(num_threads);
  workers_.reserve(num_threads - 1);
  for (size_t i = 1; i < num_threads; ++i) {
    try {
      workers_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error&) {
      break;  // the calling thread is a member too: the team works with fewer threads
    }
  }
}

ComputeTeam::~ComputeTeam() {
  stopping_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ComputeTeam::RunChunks() {
  for (;;) {
    const size_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= num_chunks_) return;
    const size_t lo = begin_ + c * chunk_;
    (*body_)(lo, std::min(end_, lo + chunk_));
  }
}

void ComputeTeam::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 1; now == seen && spin < kSpinIterations; ++spin) {
      if (spin % 256 == 0) {
        std::this_thread::yield();  // see ParallelFor
      } else {
        ENGRAM_CPU_RELAX();
      }
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = now;
    if (stopping_.load(std::memory_order_acquire)) return;
    RunChunks();
    busy_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ComputeTeam::ParallelFor(size_t begin, size_t end, size_t grain,
                              const std::function<void(size_t, size_t)>& body) {
  if (end <= begin) return;
  grain = std::max<size_t>(grain, 1);
  const size_t n = end - begin;
  const size_t threads = size();
  if (threads == 1 || n <= grain) {
    body(begin, end);
    return;
  }
  // About four chunks per thread: enough to balance uneven rows, few enough to keep the
  // claiming cheap.
  size_t chunk = (n + threads * 4 - 1) / (threads * 4);
  chunk = std::max(grain, (chunk + grain - 1) / grain * grain);
  body_ = &body;
  begin_ = begin;
  end_ = end;
  chunk_ = chunk;
  num_chunks_ = (n + chunk - 1) / chunk;
  next_chunk_.store(0, std::memory_order_relaxed);
  busy_workers_.store(workers_.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  RunChunks();
  // Yield now and then: with more threads than free cores (tests running in parallel, a busy
  // machine) a worker we wait for may need this core to finish.
  for (int spin = 1; busy_workers_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin % 256 == 0) {
      std::this_thread::yield();
    } else {
      ENGRAM_CPU_RELAX();
    }
  }
}

}  // namespace engram
