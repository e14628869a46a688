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
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "app/cli.h"
#include "common/input_file.h"
#include "common/default_models.h"
#include "inference/chat_template.h"
#include "inference/generate.h"
#include "inference/llama_context.h"
#include "inference/llama_model.h"
#include "inference/tokenizer.h"

namespace engram::app {
namespace {

struct GenerateFlags {
  std::string model;
  std::string prompt;
  std::string file;
  int32_t n_predict = 128;
  bool chat = false;
  std::string system;
  std::string chat_template;
  inference::SamplerOptions sampler;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  int64_t n_ctx = 0;
  int threads = 0;
  std::string kv_type = "f16";
  bool truncate = false;
  std::string attention = "full";
  double budget = 0.05;
  int sinks = 4;
  int window = 240;
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

Status Run(const GenerateFlags& flags) {
  if (flags.n_predict <= 0) {
    return Status::InvalidArgument("generate: -n " + std::to_string(flags.n_predict) +
                                   " must be > 0 (the number of tokens to generate)");
  }
  if (flags.n_ctx < 0) {
    return Status::InvalidArgument("generate: --ctx " + std::to_string(flags.n_ctx) +
                                   " must be > 0 (or 0 for the model's training context)");
  }
  inference::SamplerOptions sampler = flags.sampler;
  if (flags.seed >= 0) sampler.seed = static_cast<uint64_t>(flags.seed);
  if (Status s = inference::ValidateSamplerOptions(sampler); !s.ok()) return s;
  TensorType kv_type;
  if (flags.kv_type == "f16") {
    kv_type = TensorType::kF16;
  } else if (flags.kv_type == "f32") {
    kv_type = TensorType::kF32;
  } else {
    return Status::InvalidArgument("generate: --kv-type '" + flags.kv_type +
                                   "' is not supported; use f16 or f32");
  }
  Result<std::string> text = ReadPrompt(flags);
  if (!text.ok()) return text.status();

  std::string model_path = flags.model;
  if (model_path.empty()) {
    Result<std::filesystem::path> path = DefaultModelPath("generator");
    if (!path.ok()) return path.status();
    model_path = path->string();
  }
  Result<std::shared_ptr<const inference::LlamaModel>> model =
      inference::LlamaModel::Load(model_path);
  if (!model.ok()) return model.status();
  Result<std::unique_ptr<inference::Tokenizer>> tokenizer =
      inference::Tokenizer::FromGguf((*model)->gguf());
  if (!tokenizer.ok()) return tokenizer.status();

  std::string prompt_text = *text;
  inference::EncodeOptions encode;
  if (flags.chat) {
    Result<inference::ChatTemplate> chat =
        inference::ChatTemplateForModel((*model)->gguf(), flags.chat_template);
    if (!chat.ok()) return chat.status();
    std::vector<inference::ChatMessage> messages;
    if (!flags.system.empty()) messages.push_back({"system", flags.system});
    messages.push_back({"user", *text});
    prompt_text = inference::ApplyChatTemplate(*chat, messages);
    encode.add_special = false;  // the template carries its own special tokens
    encode.parse_special = true;
  } else if (!flags.system.empty() || !flags.chat_template.empty()) {
    return Status::InvalidArgument("generate: --system and --chat-template need --chat");
  }
  std::vector<int32_t> prompt = (*tokenizer)->Encode(prompt_text, encode);
  if (prompt.empty()) return Status::InvalidArgument("generate: the prompt has no tokens");

  inference::AttentionOptions attention;
  attention.budget = flags.budget;
  attention.sinks = flags.sinks;
  attention.window = flags.window;
  Result<inference::AttentionOptions> policy =
      inference::ParseAttentionPolicy(flags.attention, attention);
  if (!policy.ok()) return policy.status();
  Result<std::unique_ptr<inference::LlamaContext>> ctx = inference::LlamaContext::Create(
      *model, {.n_ctx = flags.n_ctx, .n_threads = flags.threads, .kv_type = kv_type,
               .attention = *policy});
  if (!ctx.ok()) return ctx.status();
  const int64_t n_ctx = (*ctx)->n_ctx();
  if (static_cast<int64_t>(prompt.size()) >= n_ctx) {
    if (!flags.truncate) {
      return Status::OutOfRange("generate: the prompt is " + std::to_string(prompt.size()) +
                                " tokens but the context holds " + std::to_string(n_ctx) +
                                "; use a larger --ctx, a shorter prompt, or --truncate to keep "
                                "its end");
    }
    // Keep the end of the prompt, leaving room for the reply.
    const int64_t keep = std::max<int64_t>(1, n_ctx - std::min<int64_t>(flags.n_predict, n_ctx / 2));
    prompt.erase(prompt.begin(), prompt.end() - keep);
    std::fprintf(stderr, "generate: prompt truncated to its last %lld tokens\n",
                 static_cast<long long>(keep));
  }

  inference::GenerateOptions options;
  options.max_tokens = flags.n_predict;
  options.sampler = sampler;
  options.stop = flags.stop;
  options.stop_at_end_of_generation = !flags.ignore_eos;
  Result<inference::GenerateStats> stats =
      inference::Generate(**ctx, **tokenizer, prompt, options, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      });
  if (!stats.ok()) return stats.status();
  std::printf("\n");
  std::fprintf(stderr,
               "prefill: %lld tokens, %.1f tokens/s | decode: %lld tokens, %.1f tokens/s | "
               "stop: %s | %d threads\n",
               static_cast<long long>(stats->prompt_tokens), stats->PrefillTokensPerSecond(),
               static_cast<long long>(stats->generated_tokens), stats->DecodeTokensPerSecond(),
               std::string(inference::StopReasonName(stats->reason)).c_str(), (*ctx)->n_threads());
  return Status::OK();
}

}  // namespace

void RegisterGenerateCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt with a GGUF model");
  cmd->add_option("-m,--model", flags->model, "A .gguf model (default: the default generator)");
  cmd->add_option("-p,--prompt", flags->prompt, "The prompt");
  cmd->add_option("-f,--file", flags->file, "Read the prompt from a file ('-' for stdin)");
  cmd->add_option("-n,--n-predict", flags->n_predict, "Tokens to generate at most")
      ->default_val(128)
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_flag("--chat", flags->chat,
                "Treat the prompt as a user message in the model's chat template");
  cmd->add_option("--system", flags->system, "With --chat: a system message");
  cmd->add_option("--chat-template", flags->chat_template,
                  "With --chat: chatml, llama2, llama3 or mistral instead of the model's");
  cmd->add_option("--temp,--temperature", flags->sampler.temperature,
                  "Sampling temperature; 0 = greedy")
      ->default_val(0.8)
      ->check(FiniteIn(0, 1e6));
  cmd->add_option("--top-k", flags->sampler.top_k, "Keep the K most likely tokens (0 = off)")
      ->default_val(40)
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--top-p", flags->sampler.top_p, "Nucleus sampling mass (1 = off)")
      ->default_val(0.95)
      ->check(FiniteIn(0, 1));
  cmd->add_option("--min-p", flags->sampler.min_p,
                  "Drop tokens below this fraction of the top probability (0 = off)")
      ->default_val(0.05)
      ->check(FiniteIn(0, 1));
  cmd->add_option("--repeat-penalty", flags->sampler.repeat_penalty,
                  "Penalty for recently seen tokens (1 = off)")
      ->default_val(1.0)
      ->check(FiniteIn(0, 1e6, /*lo_open=*/true));
  cmd->add_option("--frequency-penalty", flags->sampler.frequency_penalty,
                  "Subtract count × F from seen tokens' logits")
      ->default_val(0.0)
      ->check(FiniteIn(-1e6, 1e6));
  cmd->add_option("--presence-penalty", flags->sampler.presence_penalty,
                  "Subtract P from seen tokens' logits")
      ->default_val(0.0)
      ->check(FiniteIn(-1e6, 1e6));
  cmd->add_option("--repeat-last-n", flags->sampler.penalty_last_n,
                  "Recent tokens the penalties consider (0 = off, -1 = all)")
      ->default_val(64)
      ->check(CLI::Range(-1, 1 << 30));
  cmd->add_option("--seed", flags->seed, "Random seed (default: random)");
  cmd->add_option("--stop", flags->stop, "Stop before this string (repeatable)");
  cmd->add_flag("--ignore-eos", flags->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_option("--ctx", flags->n_ctx, "Context length (0: the model's training context)")
      ->default_val(0)
      ->check(CLI::Range(0, 1 << 22));
  AddThreadsOption(cmd, &flags->threads);
  cmd->add_option("--kv-type", flags->kv_type, "KV cache entries: f16 or f32")->default_val("f16");
  cmd->add_option("--attention", flags->attention,
                  "Decode attention: full, window, quest, retrieval[:exact|ivf|aware]")
      ->default_val("full");
  cmd->add_option("--budget", flags->budget,
                  "Sparse attention: share of the context attended besides sinks and window")
      ->default_val(0.05)
      ->check(FiniteIn(0, 1));
  cmd->add_option("--sinks", flags->sinks, "Sparse attention: first positions always attended")
      ->default_val(4)
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_option("--window", flags->window, "Sparse attention: recent positions always attended")
      ->default_val(240)
      ->check(CLI::Range(0, 1 << 22));
  cmd->add_flag("--truncate", flags->truncate,
                "Keep the end of a prompt longer than the context instead of failing");
  commands.Add(cmd, [flags]() { return Run(*flags); });
}

}  // namespace engram::app
