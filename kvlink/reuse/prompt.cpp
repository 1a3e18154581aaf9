#include "kvlink/reuse/prompt.h"

#include "tensor/error.h"

namespace kvlink {

std::string render_chunk(const ChunkText& chunk) {
  return "Document (Title: " + chunk.title + ") " + chunk.text + "\n\n";
}

std::vector<TokenId> chunk_tokens(const Model& model, const ChunkText& chunk) {
  // No BOS and no special-token parsing: a document's text is data, never control tokens.
  return model.tokenizer.encode(render_chunk(chunk), /*add_special=*/false, /*parse_special=*/false);
}

std::vector<TokenId> opening_tokens(const Model& model, const std::string& system_prompt) {
  if (!model.has_chat_template) throw Error(model.file.path() + ": the model has no supported chat template");
  const ChatTemplate& chat = model.chat;
  const std::string system = system_prompt.empty() ? chat.default_system_prompt : system_prompt;
  std::string opening = chat.bos_text;
  if (!system.empty()) opening += chat.message_start("system") + system + chat.message_end();
  opening += chat.message_start("user");
  return model.tokenizer.encode(opening, /*add_special=*/chat.bos_text.empty(), /*parse_special=*/true);
}

PromptLayout build_prompt_layout(const Model& model, const std::vector<ChunkText>& chunks, const std::string& question,
                                 const PromptOptions& options) {
  if (!model.has_chat_template) throw Error(model.file.path() + ": the model has no supported chat template");
  if (!options.link_ids.empty() && options.link_ids.size() < chunks.size()) {
    throw Error("link tokens are defined for " + std::to_string(options.link_ids.size()) + " documents, " +
                std::to_string(chunks.size()) + " were given");
  }
  const ChatTemplate& chat = model.chat;
  PromptLayout layout;
  layout.opening = opening_tokens(model, options.system_prompt);
  for (size_t i = 0; i < chunks.size(); ++i) {
    layout.chunks.push_back(chunk_tokens(model, chunks[i]));
    if (!options.link_ids.empty()) layout.links.push_back(options.link_ids[i]);
  }
  const std::string suffix = "Question: " + question + chat.message_end() + chat.assistant_opening();
  layout.suffix = model.tokenizer.encode(suffix, false, /*parse_special=*/true);
  return layout;
}

}  // namespace kvlink
