#include "agent/internal/streamed_turn.h"

namespace engram::agent::internal {

StreamedTurn::StreamedTurn(Run run) {
  thread_ = std::thread([this, run = std::move(run)] {
    Result<TurnResult> r = run([this](std::string_view text) {
      if (cancelled_.load()) return false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pending_.append(text);
      }
      cv_.notify_all();
      return true;
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      result_.emplace(std::move(r));
      done_ = true;
    }
    cv_.notify_all();
  });
}

StreamedTurn::~StreamedTurn() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

StreamedTurn::Next StreamedTurn::Wait(std::string* text, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !pending_.empty() || done_; });
  if (!pending_.empty()) {
    text->swap(pending_);
    pending_.clear();
    return kText;
  }
  return done_ ? kDone : kTimeout;
}

Result<TurnResult> StreamedTurn::Finish() {
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(*result_);
}

}  // namespace engram::agent::internal
