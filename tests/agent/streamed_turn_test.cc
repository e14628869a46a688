// StreamedTurn (agent/internal/streamed_turn.h): text produced on the turn's thread reaches the
// waiting thread in order and whole; Cancel makes on_text return false; the result comes back.
#include "agent/internal/streamed_turn.h"

#include <gtest/gtest.h>

#include <thread>

namespace engram::agent::internal {
namespace {

using namespace std::chrono_literals;

TEST(StreamedTurnTest, HandsEveryPieceOverInOrder) {
  StreamedTurn turn([](const StreamedTurn::OnText& on_text) -> Result<TurnResult> {
    TurnResult r;
    for (int i = 0; i < 50; ++i) {
      const std::string piece = std::to_string(i) + ",";
      if (!on_text(piece)) return Status::Cancelled("stopped");
      r.text += piece;
      if (i % 10 == 0) std::this_thread::sleep_for(1ms);
    }
    return r;
  });
  std::string all, piece;
  StreamedTurn::Next next;
  while ((next = turn.Wait(&piece, 50ms)) != StreamedTurn::kDone) {
    if (next == StreamedTurn::kText) all += piece;
  }
  Result<TurnResult> r = turn.Finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(all, r->text);
}

TEST(StreamedTurnTest, CancelStopsTheTurn) {
  std::atomic<int> produced{0};
  StreamedTurn turn([&](const StreamedTurn::OnText& on_text) -> Result<TurnResult> {
    while (on_text("x")) {
      ++produced;
      std::this_thread::sleep_for(1ms);
    }
    return Status::Cancelled("turn cancelled");
  });
  std::string piece;
  while (turn.Wait(&piece, 50ms) != StreamedTurn::kText) {
  }
  turn.Cancel();
  while (turn.Wait(&piece, 50ms) != StreamedTurn::kDone) {
  }
  Result<TurnResult> r = turn.Finish();
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_GT(produced.load(), 0);
}

TEST(StreamedTurnTest, ReportsAnErrorWithoutText) {
  StreamedTurn turn([](const StreamedTurn::OnText&) -> Result<TurnResult> {
    return Status::NotFound("session 'x' not found");
  });
  std::string piece;
  EXPECT_EQ(turn.Wait(&piece, 5000ms), StreamedTurn::kDone);
  EXPECT_EQ(turn.Finish().status().code(), StatusCode::kNotFound);
}

TEST(StreamedTurnTest, DestroyingAnUnfinishedTurnCancelsIt) {
  std::atomic<bool> ended{false};
  {
    StreamedTurn turn([&](const StreamedTurn::OnText& on_text) -> Result<TurnResult> {
      while (on_text("x")) std::this_thread::sleep_for(1ms);
      ended = true;
      return TurnResult{};
    });
  }
  EXPECT_TRUE(ended.load());
}

}  // namespace
}  // namespace engram::agent::internal
