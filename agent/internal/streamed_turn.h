// Runs an agent turn on its own thread and hands its text to the caller's thread piece by
// piece. HTTP handlers use it because the scheduler calls on_text on its own thread, where a
// ResponseWriter must not be touched (and a slow client must not stall other sequences): the
// handler thread waits here, writes what arrives, polls for a client that went away, and
// cancels the turn through the flag that on_text checks.
//
//   StreamedTurn turn([&](const auto& on_text) { return agent.Turn(t, id, req, on_text); });
//   std::string piece;
//   while (turn.Next(&piece, 100ms) != StreamedTurn::kDone) { ...; if (gone) turn.Cancel(); }
//   Result<TurnResult> r = turn.Finish();
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "agent/agent_runtime.h"
#include "common/thread_annotations.h"

namespace engram::agent::internal {

class StreamedTurn {
 public:
  using OnText = std::function<bool(std::string_view)>;
  using Run = std::function<Result<TurnResult>(const OnText&)>;

  explicit StreamedTurn(Run run);  // starts the turn
  ~StreamedTurn();                 // cancels and joins when not finished

  enum Next { kText, kDone, kTimeout };
  // kText: *text holds the next piece (pieces that arrived together are joined); kDone: the
  // turn has ended and every piece was handed out; kTimeout: nothing within `timeout`.
  Next Wait(std::string* text, std::chrono::milliseconds timeout);
  // Makes the turn's on_text return false: generation stops, nothing is stored.
  void Cancel() { cancelled_.store(true); }
  // Joins the turn and returns its result.
  Result<TurnResult> Finish();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_ GUARDED_BY(mu_);
  bool done_ GUARDED_BY(mu_) = false;
  std::optional<Result<TurnResult>> result_ GUARDED_BY(mu_);
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

}  // namespace engram::agent::internal
