// engram generate [-m MODEL] (-p TEXT | -f FILE) [-n N] [--chat [--system TEXT]
//                 [--chat-template NAME]] [--temp T] [--top-k K] [--top-p P] [--min-p P]
//                 [--repeat-penalty R] [--frequency-penalty F] [--presence-penalty P]
//                 [--repeat-last-n N] [--seed S] [--stop STR]… [--ignore-eos]
//                 [--ctx N] [--threads N] [--kv-type f16|f32] [--truncate]
//                 [--attention full|window|quest|retrieval[:exact|ivf|aware]] [--budget B]
//                 [--sinks N] [--window N]
// Streams the continuation of a prompt (or, with --chat, the assistant's reply) to stdout;
// prefill and decode speeds go to stderr.
#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "app/engine_flags.h"
#include "common/input_file.h"
#include "inference/engine.h"

namespace engram::app {
namespace {

struct GenerateFlags {
  EngineFlags engine;
  std::string prompt;
  std::string file;
  bool chat = false;
  std::string system;
  bool ignore_eos = false;
  bool truncate = false;
};

Result<std::string> ReadPrompt(const GenerateFlags& flags) {
  if (!flags.file.empty() && !flags.prompt.empty()) {
    return Status::InvalidArgument("generate: give the prompt with -p or -f, not both");
  }
  if (flags.file.empty()) {
    if (flags.prompt.empty()) {
      return Status::InvalidArgument("generate: no prompt; give it with -p TEXT or -f FILE");
    }
    return flags.prompt;
  }
  Result<std::string> text = ReadInput(flags.file, kMaxTextInputBytes, "prompt file");
  if (!text.ok()) return text.status().WithContext("generate");
  return text;
}

// Keeps the end of a prompt longer than the context (--truncate), leaving room for the reply;
// without --truncate that is an error.
Status FitPrompt(const GenerateFlags& flags, int64_t n_ctx, std::vector<int32_t>* prompt) {
  if (static_cast<int64_t>(prompt->size()) < n_ctx) return Status::OK();
  if (!flags.truncate) {
    return Status::OutOfRange("generate: the prompt is " + std::to_string(prompt->size()) +
                              " tokens but the context holds " + std::to_string(n_ctx) +
                              "; use a larger --ctx, a shorter prompt, or --truncate to keep "
                              "its end");
  }
  const int64_t n_predict = flags.engine.options.generation.max_tokens;
  const int64_t keep = std::max<int64_t>(1, n_ctx - std::min<int64_t>(n_predict, n_ctx / 2));
  prompt->erase(prompt->begin(), prompt->end() - keep);
  std::fprintf(stderr, "generate: prompt truncated to its last %lld tokens\n",
               static_cast<long long>(keep));
  return Status::OK();
}

Status Run(const GenerateFlags& flags) {
  if (!flags.chat && (!flags.system.empty() || !flags.engine.options.chat_template.empty())) {
    return Status::InvalidArgument("generate: --system and --chat-template need --chat");
  }
  ENGRAM_TRY_ASSIGN(inference::EngineOptions options, flags.engine.Resolve());
  options.generation.stop_at_end_of_generation = !flags.ignore_eos;
  ENGRAM_TRY_ASSIGN(std::string text, ReadPrompt(flags));
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::Engine> engine, inference::Engine::Load(options));

  std::vector<int32_t> prompt;
  if (flags.chat) {
    std::vector<inference::ChatMessage> messages;
    if (!flags.system.empty()) messages.push_back({"system", flags.system});
    messages.push_back({"user", text});
    prompt = engine->EncodeChat(messages);
  } else {
    prompt = engine->Encode(text);
  }
  if (prompt.empty()) return Status::InvalidArgument("generate: the prompt has no tokens");
  ENGRAM_TRY_ASSIGN(std::unique_ptr<inference::LlamaContext> ctx, engine->NewContext());
  if (Status s = FitPrompt(flags, ctx->n_ctx(), &prompt); !s.ok()) return s;

  ENGRAM_TRY_ASSIGN(inference::GenerateStats stats,
                    engine->Generate(*ctx, prompt, [](std::string_view piece) {
                      std::fwrite(piece.data(), 1, piece.size(), stdout);
                      std::fflush(stdout);
                      return true;
                    }));
  std::printf("\n");
  std::fprintf(stderr,
               "prefill: %lld tokens, %.1f tokens/s | decode: %lld tokens, %.1f tokens/s | "
               "stop: %s | %d threads\n",
               static_cast<long long>(stats.prompt_tokens), stats.PrefillTokensPerSecond(),
               static_cast<long long>(stats.generated_tokens), stats.DecodeTokensPerSecond(),
               std::string(inference::StopReasonName(stats.reason)).c_str(), ctx->n_threads());
  return Status::OK();
}

}  // namespace

void RegisterGenerateCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt with a GGUF model");
  AddModelFlags(cmd, &flags->engine);
  cmd->add_option("-p,--prompt", flags->prompt, "The prompt");
  cmd->add_option("-f,--file", flags->file, "Read the prompt from a file ('-' for stdin)");
  cmd->add_option("-n,--n-predict", flags->engine.options.generation.max_tokens,
                  "Tokens to generate at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_flag("--chat", flags->chat,
                "Treat the prompt as a user message in the model's chat template");
  cmd->add_option("--system", flags->system, "With --chat: a system message");
  AddSamplerFlags(cmd, &flags->engine);
  cmd->add_option("--stop", flags->engine.options.generation.stop,
                  "Stop before this string (repeatable)");
  cmd->add_flag("--ignore-eos", flags->ignore_eos, "Keep generating past end-of-generation tokens");
  AddAttentionFlags(cmd, &flags->engine);
  cmd->add_flag("--truncate", flags->truncate,
                "Keep the end of a prompt longer than the context instead of failing");
  commands.Add(cmd, [flags]() { return Run(*flags); });
}

}  // namespace engram::app
