// engram info [--json] [--no-verify]: the build, the machine, CUDA, paths and default models.
#include <cstdio>
#include <memory>

#include "agent/system_report.h"
#include "app/cli.h"
#include "common/json_write.h"

namespace engram::app {

namespace {

struct InfoFlags {
  bool json = false;
  bool no_verify = false;
};

}  // namespace

void RegisterInfoCommand(CLI::App& app, const GlobalFlags& flags, CommandTable& commands) {
  auto info = std::make_shared<InfoFlags>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Show build options, CUDA and GPU, paths, and the default and optional models (verified)");
  cmd->add_flag("--json", info->json, "Print one JSON object instead of a table");
  cmd->add_flag("--no-verify", info->no_verify,
                "Skip hashing the model files (only check they exist)");

  commands.Add(cmd, [info, &flags]() -> Status {
    agent::SystemReportOptions options;
    options.data_dir_flag = flags.data_dir;
    options.verify_model_digests = !info->no_verify;
    const agent::SystemReport report = agent::CollectSystemReport(options);
    if (info->json) {
      const std::string text = JsonText(agent::SystemReportToJson(report), 2);
      std::printf("%s\n", text.c_str());
    } else {
      std::fputs(agent::FormatSystemReport(report).c_str(), stdout);
    }
    return Status::OK();
  });
}

}  // namespace engram::app
