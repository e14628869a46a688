// The `engram` command line. Thin: it parses flags and calls into agent/ and the modules below.
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.h"
#include "common/build_info.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  using namespace engram;
  const BuildInfo& build = GetBuildInfo();

  CLI::App cli{
      "engram: a runtime that lets language models work far beyond their context window "
      "(retrieval, sparse attention, prompt compression, persistent memory).",
      "engram"};
  cli.set_version_flag("--version", "engram " + std::string(build.version) + " (commit " +
                                        std::string(build.git_commit) + ")");
  app::GlobalFlags flags;
  cli.add_option("--log-level", flags.log_level,
                 "Log verbosity on stderr: " + std::string(kLogLevelNames))
      ->capture_default_str();
  cli.add_option("--data-dir", flags.data_dir,
                 "Where collections and memory stores live (default: $ENGRAM_DATA_DIR, else "
                 "./engram-data)");
  cli.require_subcommand(1);
  cli.fallthrough();  // global flags may also follow the subcommand name

  app::CommandTable commands;
  app::RegisterAskCommand(cli, flags, commands);
  app::RegisterChatCommand(cli, flags, commands);
  app::RegisterCompressCommand(cli, flags, commands);
  app::RegisterCollectionCommands(cli, flags, commands);
  app::RegisterEmbedCommand(cli, flags, commands);
  app::RegisterEvalCommand(cli, flags, commands);
  app::RegisterGenerateCommand(cli, flags, commands);
  app::RegisterInfoCommand(cli, flags, commands);
  app::RegisterBenchCommand(cli, flags, commands);
  app::RegisterInspectCommand(cli, flags, commands);
  app::RegisterMemoryCommands(cli, flags, commands);
  app::RegisterServeCommand(cli, flags, commands);
  app::RegisterTokenizeCommand(cli, flags, commands);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);  // --help, --version
    const std::vector<std::string> unparsed = cli.remaining();
    // The innermost command named so far (`engram memory frob`: memory), and its path.
    CLI::App* group = &cli;
    std::string path = "engram";
    while (!group->get_subcommands().empty()) {
      group = group->get_subcommands().front();
      path += " " + group->get_name();
    }
    std::string names;
    for (const CLI::App* sub : group->get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !names.empty() &&
        (!unparsed.empty() || group != &cli)) {
      // CLI11 reports a missing or mistyped command name as "A subcommand is required"; say
      // what it was and which commands there are.
      if (unparsed.empty()) {
        app::PrintError("'" + path + "' needs a subcommand (" + names + "); run '" + path +
                        " --help' for usage");
      } else {
        app::PrintError("unknown command '" + unparsed.front() + "' (commands" +
                        (group == &cli ? "" : " of " + path) + ": " + names + "); run '" + path +
                        " --help' for usage");
      }
    } else {
      app::PrintError(std::string(e.what()) + "; run 'engram --help' for usage");
    }
    return app::kExitBadInput;
  }

  if (Status s = InitLogging(flags.log_level); !s.ok()) {
    app::PrintError("--log-level: " + std::string(s.message()));
    return app::kExitBadInput;
  }

  const Status status = commands.RunSelected();
  if (!status.ok()) {
    app::PrintError(status.message());
    return app::ExitCodeFor(status);
  }
  return 0;
}
