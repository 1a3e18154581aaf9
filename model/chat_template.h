// Chat prompt formats chosen from the GGUF's tokenizer.chat_template: ChatML (SmolLM2, Qwen) and
// Llama-3. Rendering is split into pieces so a caller can tokenise the parts of a prompt on their own
// (the KVLink prompt layout tokenises opening, documents and question separately).
#pragma once
#include <string>
#include <vector>

namespace kvlink {

class GGUFFile;

enum class ChatFormat { CHATML, LLAMA3 };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFormat format = ChatFormat::CHATML;
  // System prompt the template inserts when the conversation has none ("" if it inserts none).
  std::string default_system_prompt;
  std::string bos_text;  // text prepended once at the start (Llama-3: "<|begin_of_text|>")

  // Chooses the format from tokenizer.chat_template (and the architecture as a fallback).
  static ChatTemplate from_gguf(const GGUFFile& file);
  // The same choice from the template text ("" when the file has none) and the vocabulary:
  // "<|im_start|>" in the template -> CHATML, "<|start_header_id|>" -> LLAMA3; without either, the
  // vocabulary's tokens decide the same way. Throws kvlink::Error("unsupported chat template").
  static ChatTemplate from_template(const std::string& chat_template, const std::vector<std::string>& tokens);

  std::string message_start(const std::string& role) const;  // "<|im_start|>user\n"
  std::string message_end() const;                           // "<|im_end|>\n"
  std::string assistant_opening() const;                     // generation prompt
  // Whole conversation, as the model's Jinja template renders it (add_generation_prompt = true
  // appends the assistant opening). Inserts the default system prompt when the template does, and
  // starts with bos_text, so encode the result without add_special.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
};

// The system prompt a ChatML template writes when the conversation has no system message: the
// string literal that follows "<|im_start|>system\n" up to "<|im_end|>" (SmolLM2: "You are a
// helpful AI assistant named SmolLM, trained by Hugging Face"; Qwen2: "You are a helpful
// assistant."). "" when the template holds no such literal.
std::string chatml_default_system_prompt(const std::string& chat_template);

}  // namespace kvlink
