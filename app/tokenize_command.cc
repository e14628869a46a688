// engram tokenize [-m MODEL] [--json] [--ids] [--parse-special] [--no-add-special]
//                 [--chat [--chat-template NAME]] TEXT…
// Token ids and pieces of TEXT under a model's tokenizer (a .gguf file, a SentencePiece
// .model, a BERT vocab.txt or model directory); the default generator when -m is omitted.
// With --chat, TEXT is a user message rendered through the model's chat template first.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include "app/cli.h"
#include "common/json_write.h"
#include "common/input_file.h"
#include "common/default_models.h"
#include "inference/chat_template.h"
#include "inference/gguf.h"
#include "inference/tokenizer.h"
#include "nlohmann/json.hpp"

namespace engram::app {

namespace {

struct TokenizeFlags {
  std::string model;
  std::vector<std::string> texts;
  std::string file;
  bool json = false;
  bool ids_only = false;
  bool parse_special = false;
  bool no_add_special = false;
  bool chat = false;
  std::string chat_template;
};

// The user message wrapped in the model's chat template (a GGUF model only).
Result<std::string> RenderChat(const std::string& model, const TokenizeFlags& flags,
                               const std::string& message) {
  Result<std::unique_ptr<inference::GgufFile>> gguf = inference::GgufFile::Open(model);
  if (!gguf.ok()) return gguf.status().WithContext("--chat needs a GGUF model");
  Result<inference::ChatTemplate> chat =
      inference::ChatTemplateForModel(**gguf, flags.chat_template);
  if (!chat.ok()) return chat.status();
  const std::vector<inference::ChatMessage> messages = {{"user", message}};
  return inference::ApplyChatTemplate(*chat, messages);
}

Result<std::string> ReadInput(const TokenizeFlags& flags) {
  if (!flags.file.empty()) {
    Result<std::string> text = engram::ReadInput(flags.file, kMaxTextInputBytes, "text file");
    if (!text.ok()) return text.status().WithContext("tokenize");
    return text;
  }
  if (flags.texts.empty()) {
    return Status::InvalidArgument("tokenize: give the text as arguments or with --file");
  }
  std::string text;
  for (size_t i = 0; i < flags.texts.size(); ++i) {
    if (i > 0) text += ' ';
    text += flags.texts[i];
  }
  return text;
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, const GlobalFlags&, CommandTable& commands) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text");
  cmd->add_option("-m,--model", flags->model,
                  "A .gguf file, a SentencePiece .model, a vocab.txt, a BERT model directory or a "
                  "model name such as gemma3 (default: the default generator)");
  cmd->add_option("text", flags->texts, "The text (several arguments are joined by spaces)");
  cmd->add_option("-f,--file", flags->file, "Read the text from a file ('-' for stdin)");
  cmd->add_flag("--json", flags->json, "Print {\"model\", \"ids\", \"pieces\"} as JSON");
  cmd->add_flag("--ids", flags->ids_only, "Print only the ids, space-separated");
  cmd->add_flag("--parse-special", flags->parse_special,
                "Turn special-token text such as <|im_start|> into its token");
  cmd->add_flag("--no-add-special", flags->no_add_special,
                "Do not add the model's BOS/EOS ([CLS]/[SEP]) tokens");
  cmd->add_flag("--chat", flags->chat,
                "Treat the text as a user message and tokenize the model's chat prompt for it");
  cmd->add_option(
      "--chat-template", flags->chat_template,
      "With --chat: chatml, llama2, llama3, mistral or gemma instead of the template the "
      "model names");

  commands.Add(cmd, [flags]() -> Status {
    std::string model = flags->model;
    if (model.empty()) {
      Result<std::filesystem::path> path = DefaultModelPath("generator");
      if (!path.ok()) return path.status();
      model = path->string();
    } else {
      // Any lock model by name (-m gemma3, -m all-minilm-l6-v2): tokenize takes every kind.
      Result<std::string> path = ResolveModelArgument(model);
      if (!path.ok()) return path.status();
      model = *path;
    }
    Result<std::string> text = ReadInput(*flags);
    if (!text.ok()) return text.status();
    if (!flags->chat_template.empty() && !flags->chat) {
      return Status::InvalidArgument("tokenize: --chat-template needs --chat");
    }
    if (flags->chat) {
      text = RenderChat(model, *flags, *text);
      if (!text.ok()) return text.status();
    }
    Result<std::unique_ptr<inference::Tokenizer>> tokenizer = inference::Tokenizer::Load(model);
    if (!tokenizer.ok()) return tokenizer.status();
    const inference::Tokenizer& tok = **tokenizer;
    inference::EncodeOptions options;
    // A chat prompt carries its own special tokens (and BOS where the format has one).
    options.add_special = !flags->no_add_special && !flags->chat;
    options.parse_special = flags->parse_special || flags->chat;
    const std::vector<int32_t> ids = tok.Encode(*text, options);

    if (flags->json) {
      nlohmann::json pieces = nlohmann::json::array();
      for (int32_t id : ids) pieces.push_back(std::string(tok.TokenText(id)));
      nlohmann::json out = {{"model", model}, {"tokenizer", std::string(tok.Family())},
                            {"count", ids.size()}, {"ids", ids}, {"pieces", pieces}};
      std::printf("%s\n", JsonText(out).c_str());
    } else if (flags->ids_only) {
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
      std::printf("%s\n", line.c_str());
    } else {
      for (int32_t id : ids) {
        std::printf("%6d  %s\n", id,
                    Printable(tok.TokenToPiece(id, /*render_special=*/true)).c_str());
      }
      std::fprintf(stderr, "%zu tokens (%s tokenizer)\n", ids.size(),
                   std::string(tok.Family()).c_str());
    }
    return Status::OK();
  });
}

}  // namespace engram::app
