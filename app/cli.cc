#include "app/cli.h"

#include <cstdio>

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

void PrintError(std::string_view message) {
  std::string line = "engram: error: ";
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      line += hex;
    } else {
      line += c;
    }
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string ThreadsHelp() {
  return "Threads (0: one per hardware thread; at most " + std::to_string(kMaxThreads) + ")";
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
