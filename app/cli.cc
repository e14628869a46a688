#include "app/cli.h"

namespace engram::app {

void CommandTable::Add(CLI::App* command, std::function<Status()> run) {
  entries_.push_back(Entry{command, std::move(run)});
}

Status CommandTable::RunSelected() const {
  for (const Entry& e : entries_) {
    if (e.command->parsed()) return e.run();
  }
  return Status::Internal("no subcommand was selected");
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kCorruption:
    case StatusCode::kNotSupported:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      return kExitBadInput;
    default:
      return kExitFailure;
  }
}

}  // namespace engram::app
