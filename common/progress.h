// A progress line for long work (ingest, index builds, evals), redrawn in place on stderr:
//   ingest  [#########           ]  45%  450/1000 docs  123.4 docs/s  ETA 4s
//
// By default it draws only when the output is a terminal, so logs and CI output stay clean.
// Add() is thread-safe and cheap (one atomic add; the line is redrawn at most 10 times a second).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include "common/thread_annotations.h"

namespace engram {

struct ProgressOptions {
  enum class Display { kAuto, kAlways, kNever };
  // kAuto: draw when `out` is a terminal. kAlways is for tests; kNever silences it.
  Display display = Display::kAuto;
  // Where to draw; not owned. Default stderr.
  std::FILE* out = stderr;
  // Unit shown after the counts ("docs", "tokens"). Default "items".
  std::string unit = "items";
};

class ProgressReporter {
 public:
  // `total` may be 0 when unknown: then no bar, percentage or ETA is shown.
  ProgressReporter(std::string label, uint64_t total, ProgressOptions options = {});
  // Calls Finish() if it was not called.
  ~ProgressReporter();

  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Add(uint64_t n = 1);
  // Draws the final line and moves to the next line. Idempotent.
  void Finish();

  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  bool enabled() const { return enabled_; }

 private:
  void Draw(bool final) EXCLUSIVE_LOCKS_REQUIRED(draw_mu_);

  const std::string label_;
  const uint64_t total_;
  const ProgressOptions options_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::atomic<int64_t> next_draw_ns_{0};  // steady-clock time before which Add() does not draw
  std::mutex draw_mu_;
  bool finished_ GUARDED_BY(draw_mu_) = false;
};

}  // namespace engram
