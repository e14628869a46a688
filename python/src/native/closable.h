// One open store or collection with the embedder it borrows, used from any Python thread and
// closed once (memory_binding.cc, collection_binding.cc). Run calls f(target) with the GIL
// released and holds Close off until it returns; once Close has begun, new calls fail at once.
// Locks are taken without the GIL, so a callback that takes the GIL back (a summarizer) cannot
// deadlock against Close.
#pragma once

#include <nanobind/nanobind.h>

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>

#include "common/status.h"
#include "errors.h"
#include "inference/bert_embedder.h"

namespace engram::python {

template <class T>
class Closable {
 public:
  // `what` names the target in the error a call after Close gets: "memory store '<path>'".
  explicit Closable(std::string what) : what_(std::move(what)) {}

  // Takes the opened target and the embedder it borrows (null for none); once, before any Run.
  void Hold(std::unique_ptr<inference::BertEmbedder> embedder, std::unique_ptr<T> target) {
    embedder_ = std::move(embedder);
    target_ = std::move(target);
  }

  template <class F>
  auto Run(F&& f) {
    nanobind::gil_scoped_release release;
    // Checked before locking: glibc's rwlock prefers readers, so a steady stream of calls
    // would otherwise keep Close waiting.
    std::shared_lock lock(mu_, std::defer_lock);
    if (!closing_.load()) lock.lock();
    if (!lock.owns_lock() || !target_) Throw(Status::FailedPrecondition(what_ + " is closed"));
    return f(*target_);
  }

  // Waits for calls in flight, then closes the target (and only then drops its embedder).
  void Close() {
    nanobind::gil_scoped_release release;
    closing_.store(true);
    std::unique_lock lock(mu_);
    target_.reset();
    embedder_.reset();
  }

  bool closed() const {
    std::shared_lock lock(mu_);
    return target_ == nullptr;
  }

 private:
  std::string what_;
  std::atomic<bool> closing_{false};  // set by Close: new calls fail at once
  mutable std::shared_mutex mu_;      // shared by calls, exclusive for Close
  std::unique_ptr<inference::BertEmbedder> embedder_;  // declared first: outlives target_
  std::unique_ptr<T> target_;
};

}  // namespace engram::python
