#include "agent/internal/session_locks.h"

namespace engram::agent::internal {

SessionLocks::Guard::~Guard() {
  if (locks_ != nullptr) locks_->Release(key_);
}

SessionLocks::Guard SessionLocks::Acquire(const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  Entry& entry = entries_[key];
  const uint64_t ticket = entry.next_ticket++;
  cv_.wait(lock, [&] { return entries_[key].serving == ticket; });
  return Guard(this, key);
}

void SessionLocks::Release(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (++it->second.serving == it->second.next_ticket) entries_.erase(it);
  }
  cv_.notify_all();
}

}  // namespace engram::agent::internal
