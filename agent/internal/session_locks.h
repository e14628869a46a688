// One FIFO lock per session, so the turns of a session run one at a time in arrival order while
// different sessions run in parallel. Entries are created on first use and dropped when nobody
// holds or waits for them.
//
//   SessionLocks locks;
//   SessionLocks::Guard guard = locks.Acquire("acme/0123…");   // blocks behind earlier turns
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/thread_annotations.h"

namespace engram::agent::internal {

class SessionLocks {
 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept : locks_(other.locks_), key_(std::move(other.key_)) {
      other.locks_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();

   private:
    friend class SessionLocks;
    Guard(SessionLocks* locks, std::string key) : locks_(locks), key_(std::move(key)) {}
    SessionLocks* locks_;
    std::string key_;
  };

  // Blocks until every earlier Acquire of `key` has been released.
  Guard Acquire(const std::string& key);

 private:
  struct Entry {
    uint64_t next_ticket = 0;  // handed to the next arrival
    uint64_t serving = 0;      // the ticket that holds the lock
  };
  void Release(const std::string& key);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace engram::agent::internal
