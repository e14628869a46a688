// engram inspect FILE.gguf [--json] [--full-arrays] [--check]: metadata and tensor table of a
// GGUF file; --check also fails (exit 2) when engram cannot run the model.
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "common/json_write.h"
#include "inference/gguf.h"
#include "inference/gguf_report.h"
#include "inference/model_support.h"

namespace engram::app {

namespace {
struct InspectFlags {
  std::string path;
  bool json = false;
  bool full_arrays = false;
  bool check = false;
};
}  // namespace

void RegisterInspectCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show a GGUF file's metadata and tensor table (types, shapes, bytes)");
  cmd->add_option("file", flags->path, "The .gguf file")->required();
  cmd->add_flag("--json", flags->json,
                "Print one JSON object: architecture, metadata, tensors [{name, type, shape, "
                "offset, bytes}]");
  cmd->add_flag("--full-arrays", flags->full_arrays,
                "With --json, print long arrays (the vocabulary) in full instead of cut");
  cmd->add_flag("--check", flags->check,
                "Exit with code 2 and say why when engram cannot run this model (architecture "
                "or tensor type)");

  commands.Add(cmd, [flags]() -> Status {
    Result<std::unique_ptr<inference::GgufFile>> gguf = inference::GgufFile::Open(flags->path);
    if (!gguf.ok()) return gguf.status();
    const Status support = inference::CheckSupportedModel(**gguf);
    if (flags->check && !support.ok()) return support;
    if (flags->json) {
      nlohmann::ordered_json report = inference::GgufToJson(**gguf, flags->full_arrays ? 0 : 16);
      report["engram_supported"] = support.ok();
      if (!support.ok()) report["engram_unsupported_reason"] = std::string(support.message());
      const std::string text = JsonText(report, 2);
      std::printf("%s\n", text.c_str());
    } else {
      std::fputs(inference::FormatGgufReport(**gguf).c_str(), stdout);
    }
    return Status::OK();
  });
}

}  // namespace engram::app
