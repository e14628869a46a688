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

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "agent/agent_runtime.h"
#include "agent/internal/text_channel.h"

namespace engram::agent::internal {

class StreamedTurn {
 public:
  using OnText = std::function<bool(std::string_view)>;
  using Run = std::function<Result<TurnResult>(const OnText&)>;

  // Starts the turn; its text goes into `channel` (a new one by default), which is closed when
  // the turn ends.
  explicit StreamedTurn(Run run,
                        std::shared_ptr<TextChannel> channel = std::make_shared<TextChannel>());
  ~StreamedTurn();                 // cancels and joins when not finished

  enum Next { kText, kDone, kTimeout };
  // kText: *text holds the next piece (pieces that arrived together are joined); kDone: the
  // turn has ended and every piece was handed out; kTimeout: nothing within `timeout`.
  Next Wait(std::string* text, std::chrono::milliseconds timeout);
  // Makes the turn's on_text return false: generation stops, nothing is stored.
  void Cancel() { channel_->Cancel(); }
  // Joins the turn and returns its result.
  Result<TurnResult> Finish();

 private:
  std::shared_ptr<TextChannel> channel_;
  std::optional<Result<TurnResult>> result_;  // written by the thread, read after the join
  std::thread thread_;
};

}  // namespace engram::agent::internal
