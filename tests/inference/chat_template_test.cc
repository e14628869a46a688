#include "inference/chat_template.h"

#include <gtest/gtest.h>

#include "common/default_models.h"
#include "inference/gguf.h"
#include "tests/inference/gguf_builder.h"

namespace engram::inference {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};

TEST(ChatTemplateTest, DefaultModelIsChatMlWithItsDefaultSystemPrompt) {
  Result<std::filesystem::path> path = DefaultModelPath("generator");
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  auto gguf = GgufFile::Open(path->string());
  ASSERT_TRUE(gguf.ok());
  Result<ChatTemplate> t = ChatTemplateForModel(**gguf, "");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format, ChatFormat::kChatML);
  EXPECT_EQ(t->default_system,
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const std::vector<ChatMessage> one = {{"user", "Hi"}};
  // What transformers' apply_chat_template renders from the model's Jinja template.
  EXPECT_EQ(ApplyChatTemplate(*t, one),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // An explicit system message replaces the default.
  EXPECT_EQ(ApplyChatTemplate(*t, std::span(kConversation).first(2), false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateTest, RecognisesTheCommonTemplates) {
  EXPECT_EQ(RecognizeChatTemplate("{{'<|im_start|>' + message['role']}}")->format,
            ChatFormat::kChatML);
  EXPECT_EQ(RecognizeChatTemplate(
                "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}")
                ->format,
            ChatFormat::kLlama3);
  EXPECT_EQ(RecognizeChatTemplate("{{ bos_token + '[INST] <<SYS>>\\n' }}")->format,
            ChatFormat::kLlama2);
  EXPECT_EQ(RecognizeChatTemplate("{{ bos_token }}{{ '[INST] ' + message['content'] }}")->format,
            ChatFormat::kMistral);
  EXPECT_FALSE(RecognizeChatTemplate("{{ message['content'] }}").has_value());
}

TEST(ChatTemplateTest, RendersEachFormat) {
  ChatTemplate llama3{ChatFormat::kLlama3, ""};
  EXPECT_EQ(ApplyChatTemplate(llama3, std::span(kConversation).first(2)),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  ChatTemplate llama2{ChatFormat::kLlama2, ""};
  EXPECT_EQ(ApplyChatTemplate(llama2, kConversation),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? "
            "[/INST]");
  ChatTemplate mistral{ChatFormat::kMistral, ""};
  EXPECT_EQ(ApplyChatTemplate(mistral, kConversation),
            "<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]");
}

TEST(ChatTemplateTest, OverrideByNameAndErrors) {
  EXPECT_EQ(*ParseChatFormat("llama3"), ChatFormat::kLlama3);
  Result<ChatFormat> bad = ParseChatFormat("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("chatml, llama2, llama3, mistral, gemma"),
            std::string_view::npos);
  Result<std::filesystem::path> path = DefaultModelPath("generator");
  ASSERT_TRUE(path.ok());
  auto gguf = GgufFile::Open(path->string());
  ASSERT_TRUE(gguf.ok());
  EXPECT_EQ(ChatTemplateForModel(**gguf, "mistral")->format, ChatFormat::kMistral);
  EXPECT_FALSE(ChatTemplateForModel(**gguf, "nope").ok());
}

// Gemma's official template (and llama.cpp's gemma format): "assistant" is "model", the
// system text opens the first user turn followed by a blank line, contents are trimmed.
TEST(ChatTemplateTest, RendersGemma) {
  const ChatTemplate gemma{ChatFormat::kGemma, ""};
  EXPECT_EQ(*ParseChatFormat("gemma"), ChatFormat::kGemma);
  EXPECT_EQ(ChatFormatName(ChatFormat::kGemma), "gemma");
  EXPECT_EQ(ApplyChatTemplate(gemma, kConversation),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
            "<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\n2+2?<end_of_turn>\n"
            "<start_of_turn>model\n");
  const std::vector<ChatMessage> plain = {{"user", "  Hi\n"}};
  EXPECT_EQ(ApplyChatTemplate(gemma, plain),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(ApplyChatTemplate(gemma, plain, false), "<bos><start_of_turn>user\nHi<end_of_turn>\n");
  // A system message with nothing after it still reaches the model, as a user turn.
  const std::vector<ChatMessage> system_only = {{"system", "Be brief."}};
  EXPECT_EQ(ApplyChatTemplate(gemma, system_only, false),
            "<bos><start_of_turn>user\nBe brief.\n\n<end_of_turn>\n");
  EXPECT_EQ(RecognizeChatTemplate("{{ '<start_of_turn>' + role + '\n' }}")->format,
            ChatFormat::kGemma);
}

// A GGUF with `architecture` and, when not empty, a tokenizer.chat_template.
std::unique_ptr<GgufFile> TemplateOnlyGguf(const std::string& architecture,
                                           const std::string& jinja) {
  testing::GgufBuilder b;
  b.Header(0, jinja.empty() ? 1 : 2);
  b.KvStr("general.architecture", architecture);
  if (!jinja.empty()) b.KvStr("tokenizer.chat_template", jinja);
  Result<std::unique_ptr<GgufFile>> gguf = GgufFile::Parse(b.bytes, architecture + ".gguf");
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  return gguf.ok() ? std::move(*gguf) : nullptr;
}

// gemma-3-270m's GGUF has no tokenizer.chat_template: the architecture picks gemma.
TEST(ChatTemplateTest, GemmaArchitectureWithoutTemplateKeyIsGemma) {
  auto gemma3 = TemplateOnlyGguf("gemma3", "");
  ASSERT_NE(gemma3, nullptr);
  EXPECT_EQ(ChatTemplateForModel(*gemma3, "")->format, ChatFormat::kGemma);
  EXPECT_EQ(ChatTemplateForModel(*gemma3, "chatml")->format, ChatFormat::kChatML);
  auto llama = TemplateOnlyGguf("llama", "");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(ChatTemplateForModel(*llama, "")->format, ChatFormat::kChatML);
  EXPECT_EQ(ChatTemplateForModel(*llama, "gemma")->format, ChatFormat::kGemma);
  // A template the file does ship wins over the architecture.
  auto gemma3_chatml = TemplateOnlyGguf("gemma3", "{{'<|im_start|>' + message['role']}}");
  ASSERT_NE(gemma3_chatml, nullptr);
  EXPECT_EQ(ChatTemplateForModel(*gemma3_chatml, "")->format, ChatFormat::kChatML);
}

}  // namespace
}  // namespace engram::inference
