// The pieces every `engram` subcommand shares: global flags, the table of registered commands,
// and the mapping from Status to exit code. A later issue adds a command by writing
// app/<name>_command.cc with a Register<Name>Command function and calling it from main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <sstream>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"

namespace engram::app {

// A number flag's bounds, checked when the flags are parsed: finite (NaN and infinities fail,
// which CLI::Range lets through) and within [lo, hi] (or (lo, hi] with `lo_open`).
inline CLI::Validator FiniteIn(double lo, double hi, bool lo_open = false) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || v < lo || v > hi ||
            (lo_open && v == lo)) {
          std::ostringstream out;
          out << "Value " << text << " not in range " << (lo_open ? "(" : "[") << lo << " - "
              << hi << "]";
          return out.str();
        }
        return {};
      },
      "");
}

// A string flag whose empty value would otherwise read as "not given" (--time '' is a mistake,
// not "now").
inline CLI::Validator NonEmpty() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text.empty() ? "an empty value; give one or leave the flag out" : "";
      },
      "");
}

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

// The --threads flag every compute command takes, bounded to [0, kMaxThreads] so that a typo
// like --threads 100000 is a usage error instead of a failure to start threads.
template <typename Int>
CLI::Option* AddThreadsOption(CLI::App* command, Int* threads) {
  const std::string help =
      "Threads (0: one per hardware thread; at most " + std::to_string(kMaxThreads) + ")";
  return command->add_option("--threads", *threads, help)
      ->check(CLI::Range(0, static_cast<int>(kMaxThreads)))
      ->default_val(0);
}

// `text` with the bytes a terminal would act on escaped: \n \t \r, other control bytes (NUL,
// ESC, DEL) as \xNN. For one-line output of arbitrary strings (token pieces, error messages).
std::string Printable(std::string_view text);

// Prints "engram: error: <message>" as one line on stderr, through Printable, so a message
// quoting hostile input can neither be cut short at a NUL nor spill over several lines.
void PrintError(std::string_view message);

// Registration functions, one per command file.
void RegisterAskCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterCompressCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterBenchCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterChatCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterCollectionCommands(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterEmbedCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterEvalCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterGenerateCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterInfoCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterInspectCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterMemoryCommands(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterServeCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);
void RegisterTokenizeCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands);

}  // namespace engram::app
