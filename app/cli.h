// The pieces every `engram` subcommand shares: global flags, the table of registered commands,
// and the mapping from Status to exit code. A later issue adds a command by writing
// app/<name>_command.cc with a Register<Name>Command function and calling it from main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace engram::app {

// Flags accepted before or after the subcommand name.
struct GlobalFlags {
  std::string log_level = "info";  // --log-level
  std::string data_dir;            // --data-dir; empty: see common/paths.h ResolveDataDir
};

// Subcommands and the function that runs each. The runner executes after parsing (and after
// logging is set up), writes its output to stdout and reports failure as a Status.
class CommandTable {
 public:
  void Add(CLI::App* command, std::function<Status()> run);
  // Runs the runner of the subcommand the user named. kInternal if none was parsed.
  Status RunSelected() const;

 private:
  struct Entry {
    CLI::App* command;
    std::function<Status()> run;
  };
  std::vector<Entry> entries_;
};

// Exit codes: 0 success; 2 bad input (usage errors, invalid arguments, missing or malformed
// files, unsupported content); 1 failures of the environment or of engram itself (I/O errors,
// exhausted resources, internal errors).
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitFailure = 1;
int ExitCodeFor(const Status& status);

// Registration functions, one per command file.
void RegisterBenchCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterCollectionCommands(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterEmbedCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterEvalCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterGenerateCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterInfoCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterInspectCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterMemoryCommands(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterTokenizeCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);

}  // namespace engram::app
