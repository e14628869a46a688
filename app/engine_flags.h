// The flags of every command that runs the generator (generate, ask, eval qa, bench), read into
// inference::EngineOptions. Defaults are the options structs' own (shown in --help), so they live
// in one place.
//
//   auto flags = std::make_shared<EngineFlags>();
//   AddModelFlags(cmd, flags.get());       // -m, --ctx, --threads, --kv-type, --device, --gpu,
//                                          // --chat-template
//   AddAttentionFlags(cmd, flags.get());   // --attention, --budget, --sinks, --window
//   AddSamplerFlags(cmd, flags.get());     // --temp, --top-k, …, --seed
//   ...
//   Result<inference::EngineOptions> options = flags->Resolve();
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "inference/engine.h"

namespace engram::app {

struct EngineFlags {
  inference::EngineOptions options;
  std::string kv_type = "f16";
  std::string device = "cpu";      // inference::ParseDevice
  std::string attention = "full";  // a policy spec: inference::ParseAttentionPolicy
  int64_t seed = -1;               // -1: random

  // The options with the policy, KV type and seed parsed in; kInvalidArgument naming the flag.
  Result<inference::EngineOptions> Resolve() const;
};

void AddModelFlags(CLI::App* cmd, EngineFlags* flags);
void AddAttentionFlags(CLI::App* cmd, EngineFlags* flags);
void AddSamplerFlags(CLI::App* cmd, EngineFlags* flags);
// --device cpu|cuda|auto and --gpu N, into `device` and `gpu` (commands without EngineFlags).
void AddDeviceFlags(CLI::App* cmd, std::string* device, int* gpu);

}  // namespace engram::app
