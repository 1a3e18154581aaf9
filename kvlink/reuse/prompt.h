// Renders a retrieval-augmented question into the KVLink prompt layout, tokenising each part on its
// own (a chunk's tokens must not depend on its neighbours, so BPE never merges across parts):
//   opening = chat-template system message + start of the user turn
//   chunk   = "Document (Title: <title>) <text>\n\n"  - rendered without its rank, so its cache
//             serves the chunk at any position (docs/METHOD.md, section 1)
//   suffix  = "Question: <question>" + end of the user turn + the assistant opening
// The same tokens serve every mode: full, kvlink, reencode, noshift, cacheblend.
#pragma once
#include <string>
#include <vector>

#include "kvlink/reuse/layout.h"
#include "model/llama_model.h"

namespace kvlink {

struct ChunkText {
  std::string title;
  std::string text;
};

struct PromptOptions {
  std::string system_prompt =
      "You are a helpful assistant. Answer the question using the documents. Answer briefly.";
  // Link token ids per chunk slot: link_ids[i] follow chunk i (empty: no link tokens).
  std::vector<std::vector<TokenId>> link_ids;
};

// The text a chunk is encoded as; precompute and query both call this.
std::string render_chunk(const ChunkText& chunk);
std::vector<TokenId> chunk_tokens(const Model& model, const ChunkText& chunk);

// The opening: the chat template's system message with `system_prompt` ("" takes the template's
// default) and the start of the user turn. The same for every query with that system prompt, so it
// is cached like a chunk (precompute makes the default one's cache).
std::vector<TokenId> opening_tokens(const Model& model, const std::string& system_prompt);

PromptLayout build_prompt_layout(const Model& model, const std::vector<ChunkText>& chunks, const std::string& question,
                                 const PromptOptions& options);

}  // namespace kvlink
