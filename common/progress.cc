#include "common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace engram {

namespace {

constexpr int64_t kRedrawIntervalNs = 100'000'000;  // 10 redraws per second at most
constexpr int kBarWidth = 20;

bool ShouldDraw(const ProgressOptions& options) {
  switch (options.display) {
    case ProgressOptions::Display::kAlways:
      return options.out != nullptr;
    case ProgressOptions::Display::kNever:
      return false;
    case ProgressOptions::Display::kAuto:
      return options.out != nullptr && ::isatty(::fileno(options.out)) == 1;
  }
  return false;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string FormatSeconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  (static_cast<int>(s) / 60) % 60);
  }
  return buf;
}

}  // namespace

ProgressReporter::ProgressReporter(std::string label, uint64_t total, ProgressOptions options)
    : label_(std::move(label)),
      total_(total),
      options_(std::move(options)),
      enabled_(ShouldDraw(options_)),
      start_(std::chrono::steady_clock::now()) {}

ProgressReporter::~ProgressReporter() { Finish(); }

void ProgressReporter::Add(uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (!enabled_) return;
  const int64_t now = NowNs();
  int64_t due = next_draw_ns_.load(std::memory_order_relaxed);
  // Only the thread that wins the exchange redraws; the others return at once.
  if (now < due || !next_draw_ns_.compare_exchange_strong(due, now + kRedrawIntervalNs)) return;
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (!finished_) Draw(/*final=*/false);
}

void ProgressReporter::Finish() {
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (finished_) return;
  finished_ = true;
  if (enabled_) Draw(/*final=*/true);
}

void ProgressReporter::Draw(bool final) {
  const uint64_t done = done_.load(std::memory_order_relaxed);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;

  std::string line = "\r" + label_;
  char buf[160];
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / total_);
    const int filled = static_cast<int>(frac * kBarWidth);
    line += "  [" + std::string(filled, '#') + std::string(kBarWidth - filled, ' ') + "]";
    std::snprintf(buf, sizeof buf, " %3.0f%%  %llu/%llu %s", frac * 100,
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                  options_.unit.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "  %llu %s", static_cast<unsigned long long>(done),
                  options_.unit.c_str());
  }
  line += buf;
  std::snprintf(buf, sizeof buf, "  %.1f %s/s", rate, options_.unit.c_str());
  line += buf;
  if (final) {
    line += "  in " + FormatSeconds(elapsed);
  } else if (total_ > done && rate > 0) {
    line += "  ETA " + FormatSeconds((total_ - done) / rate);
  }
  line += "\033[K";  // clear what a longer previous line left behind
  if (final) line += "\n";
  std::fputs(line.c_str(), options_.out);
  std::fflush(options_.out);
}

}  // namespace engram
