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

std::string Printable(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void PrintError(std::string_view message) {
  const std::string line = "engram: error: " + Printable(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
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
