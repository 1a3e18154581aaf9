// Chat formats (see chat_template.h). The output strings follow the models' Jinja templates
// character for character; tests/test_chat_template.cpp checks them against transformers' rendering.
#include "model/chat_template.h"

#include <algorithm>

#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

namespace {

bool contains(const std::string& s, const char* what) {
  return s.find(what) != std::string::npos;
}

// Jinja's `trim` filter (Python str.strip(): ASCII whitespace is what chat content holds).
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return std::string();
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Undoes the escapes of a Jinja string literal (\n, \t, \', \", \\).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
  }
  return out;
}

}  // namespace

std::string chatml_default_system_prompt(const std::string& chat_template) {
  const std::string head = "<|im_start|>system", tail = "<|im_end|>";
  for (size_t at = chat_template.find(head); at != std::string::npos; at = chat_template.find(head, at + 1)) {
    size_t begin = at + head.size();
    bool escaped;
    if (chat_template.compare(begin, 1, "\n") == 0) {
      escaped = false, begin += 1;  // the template text holds a real newline
    } else if (chat_template.compare(begin, 2, "\\n") == 0) {
      escaped = true, begin += 2;  // a "\n" escape inside the literal
    } else {
      continue;
    }
    const size_t end = chat_template.find(tail, begin);
    if (end == std::string::npos) continue;
    const std::string literal = chat_template.substr(begin, end - begin);
    // The literal must run unbroken to <|im_end|>; a quote or brace means the content comes from
    // a variable ('<|im_start|>system\n' + messages[0]['content'] ...), not a default.
    if (literal.empty() || literal.find_first_of("'\"{}") != std::string::npos) continue;
    return escaped ? unescape(literal) : literal;
  }
  return std::string();
}

ChatTemplate ChatTemplate::from_template(const std::string& chat_template, const std::vector<std::string>& tokens) {
  ChatTemplate t;
  const auto has_token = [&](const char* text) {
    return std::find(tokens.begin(), tokens.end(), text) != tokens.end();
  };
  if (contains(chat_template, "<|im_start|>")) {
    t.format = ChatFormat::CHATML;
    t.default_system_prompt = chatml_default_system_prompt(chat_template);
  } else if (contains(chat_template, "<|start_header_id|>")) {
    t.format = ChatFormat::LLAMA3;
    t.bos_text = "<|begin_of_text|>";
  } else if (has_token("<|im_start|>")) {
    t.format = ChatFormat::CHATML;
  } else if (has_token("<|start_header_id|>")) {
    t.format = ChatFormat::LLAMA3;
    t.bos_text = "<|begin_of_text|>";
  } else {
    throw Error("unsupported chat template");
  }
  return t;
}

ChatTemplate ChatTemplate::from_gguf(const GGUFFile& file) {
  const std::string text = file.get_string_or("tokenizer.chat_template", "");
  static const std::vector<std::string> kNoTokens;
  const std::vector<std::string>& tokens =
      file.has("tokenizer.ggml.tokens") ? file.get_string_array("tokenizer.ggml.tokens") : kNoTokens;
  return from_template(text, tokens);
}

std::string ChatTemplate::message_start(const std::string& role) const {
  if (format == ChatFormat::LLAMA3) return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
  return "<|im_start|>" + role + "\n";
}

std::string ChatTemplate::message_end() const {
  return format == ChatFormat::LLAMA3 ? "<|eot_id|>" : "<|im_end|>\n";
}

std::string ChatTemplate::assistant_opening() const {
  return message_start("assistant");
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  std::string out = bos_text;
  // SmolLM2/Qwen2: `if loop.first and messages[0]['role'] != 'system'` -> the default system turn.
  if (!messages.empty() && messages[0].role != "system" && !default_system_prompt.empty()) {
    out += message_start("system") + default_system_prompt + message_end();
  }
  for (const ChatMessage& m : messages) {
    // Llama-3's template trims each message's content; ChatML templates copy it verbatim.
    out += message_start(m.role) + (format == ChatFormat::LLAMA3 ? trim(m.content) : m.content) + message_end();
  }
  if (add_generation_prompt) out += assistant_opening();
  return out;
}

}  // namespace kvlink
