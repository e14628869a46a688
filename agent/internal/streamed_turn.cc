#include "agent/internal/streamed_turn.h"

namespace engram::agent::internal {

StreamedTurn::StreamedTurn(Run run, std::shared_ptr<TextChannel> channel)
    : channel_(std::move(channel)) {
  thread_ = std::thread([this, run = std::move(run)] {
    Result<TurnResult> r =
        run([this](std::string_view text) { return channel_->Push(text); });
    result_.emplace(std::move(r));  // read by Finish after the join
    channel_->Close();
  });
}

StreamedTurn::~StreamedTurn() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

StreamedTurn::Next StreamedTurn::Wait(std::string* text, std::chrono::milliseconds timeout) {
  switch (channel_->Next(text, timeout)) {
    case TextChannel::kText: return kText;
    case TextChannel::kClosed: return kDone;
    case TextChannel::kTimeout: break;
  }
  return kTimeout;
}

Result<TurnResult> StreamedTurn::Finish() {
  if (thread_.joinable()) thread_.join();
  return std::move(*result_);
}

}  // namespace engram::agent::internal
