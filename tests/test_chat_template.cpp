// Chat template tests: format choice and default system prompt parsed from template text, rendering
// of ChatML and Llama-3 conversations, and SmolLM2's rendering and token ids against transformers
// (tests/fixtures/chat_smollm2.json, written by scripts/reference/make_fixtures.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "support/support.h"
#include "tensor/error.h"

namespace kvlink {
namespace {

// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim (real newlines inside the literals).
const std::string kSmolLM2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Qwen2-Instruct's template: the newlines are "\n" escapes inside the Jinja literals.
const std::string kQwen2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Qwen2.5's template (abridged): the first "<|im_start|>system\n" is followed by a variable.
const std::string kQwen25Template =
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}"
    "{{- messages[0]['content'] }}{%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.' }}{%- endif %}{%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
    "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by "
    "Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}";

const std::string kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

TEST(ChatTemplate, DefaultSystemPromptIsParsedFromTheTemplateLiteral) {
  EXPECT_EQ(chatml_default_system_prompt(kSmolLM2Template),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(chatml_default_system_prompt(kQwen2Template), "You are a helpful assistant.");
  EXPECT_EQ(chatml_default_system_prompt(kQwen25Template),
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(chatml_default_system_prompt("{{'<|im_start|>' + message['role'] + '\n'}}"), "");
  EXPECT_EQ(chatml_default_system_prompt(kLlama3Template), "");
}

TEST(ChatTemplate, FormatComesFromTemplateThenVocabulary) {
  EXPECT_EQ(ChatTemplate::from_template(kSmolLM2Template, {}).format, ChatFormat::CHATML);
  const ChatTemplate llama3 = ChatTemplate::from_template(kLlama3Template, {});
  EXPECT_EQ(llama3.format, ChatFormat::LLAMA3);
  EXPECT_EQ(llama3.bos_text, "<|begin_of_text|>");
  EXPECT_EQ(llama3.default_system_prompt, "");
  const ChatTemplate by_tokens = ChatTemplate::from_template("", {"a", "<|im_start|>", "<|im_end|>"});
  EXPECT_EQ(by_tokens.format, ChatFormat::CHATML);
  EXPECT_EQ(by_tokens.default_system_prompt, "");
  EXPECT_THROW(ChatTemplate::from_template("{{ messages }}", {"a", "b"}), Error);
}

TEST(ChatTemplate, ChatMLInsertsDefaultSystemOnlyWhenFirstMessageIsNotSystem) {
  const ChatTemplate t = ChatTemplate::from_template(kSmolLM2Template, {});
  const std::string sys =
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";
  EXPECT_EQ(t.render({{"user", "Hi"}}, true), sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.render({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}}, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n");
  EXPECT_EQ(t.render({}, true), "<|im_start|>assistant\n");
  EXPECT_EQ(t.message_start("user") + "Q" + t.message_end() + t.assistant_opening(),
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3StartsWithBosAndTrimsContent) {
  const ChatTemplate t = ChatTemplate::from_template(kLlama3Template, {});
  EXPECT_EQ(t.render({{"user", "  Hi there \n"}}, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.message_end(), "<|eot_id|>");
}

TEST(ChatTemplate, SmolLM2FileGivesChatMLWithItsSystemPrompt) {
  KVLINK_MODEL_OR_SKIP(path);
  const ChatTemplate t = ChatTemplate::from_gguf(GGUFFile::open(path));
  EXPECT_EQ(t.format, ChatFormat::CHATML);
  EXPECT_EQ(t.default_system_prompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(t.bos_text, "");
}

// Every case: render() equals transformers' apply_chat_template text, and encoding that text
// (no BOS, special tokens parsed) gives transformers' ids.
TEST(ChatTemplate, SmolLM2MatchesTransformersOnEveryFixtureCase) {
  KVLINK_MODEL_OR_SKIP(path);
  const GGUFFile file = GGUFFile::open(path);
  const ChatTemplate t = ChatTemplate::from_gguf(file);
  const Tokenizer tok = Tokenizer::from_gguf(file);
  const std::string fixture_path = testing::fixture_path("chat_smollm2.json");
  std::ifstream in(fixture_path);
  ASSERT_TRUE(in) << "fixture " << fixture_path << " is missing: run scripts/reference/make_fixtures.py";
  const nlohmann::json fixture = nlohmann::json::parse(in);
  ASSERT_FALSE(fixture["cases"].empty());
  size_t n_pass = 0;
  for (const auto& c : fixture["cases"]) {
    std::vector<ChatMessage> messages;
    for (const auto& m : c["messages"])
      messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    const std::string text = c["text"].get<std::string>();
    const std::string rendered = t.render(messages, c["add_generation_prompt"].get<bool>());
    EXPECT_EQ(rendered, text);
    const std::vector<TokenId> ids = tok.encode(rendered, false, true);
    EXPECT_EQ(ids, c["ids"].get<std::vector<TokenId>>()) << "text: " << nlohmann::json(text).dump();
    n_pass += rendered == text && ids == c["ids"].get<std::vector<TokenId>>();
  }
  std::printf("chat fixture: %zu / %zu cases identical\n", n_pass, fixture["cases"].size());
}

}  // namespace
}  // namespace kvlink
