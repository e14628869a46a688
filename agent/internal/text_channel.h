// Hands generated text from the thread that produces it (the scheduler, an agent turn) to the
// HTTP thread that writes it, which also notices a client that went away.
//
//   TextChannel channel;
//   producer: channel.Push(text) ... channel.Close();
//   consumer: while (channel.Next(&text, 100ms) != TextChannel::kClosed) write(text);
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

namespace engram::agent::internal {

class TextChannel {
 public:
  enum Wait { kText, kTimeout, kClosed };

  // False once the consumer has cancelled (the producer stops generating).
  bool Push(std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.append(text);
    ready_.notify_one();
    return !cancelled_;
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    ready_.notify_one();
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  // Waits up to `timeout` for text: kText with everything pushed so far in *text, kTimeout, or
  // kClosed when the producer has closed and nothing is left.
  Wait Next(std::string* text, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait_for(lock, timeout, [&] { return !pending_.empty() || closed_; });
    if (!pending_.empty()) {
      text->swap(pending_);
      pending_.clear();
      return kText;
    }
    return closed_ ? kClosed : kTimeout;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::string pending_;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace engram::agent::internal
