// Source documents for KVLink: reading a .txt or .md file into a title and a text, and splitting it
// into the chunks that get cached, each rendered as the prompt shows it ("Document (Title: …) text",
// prompt.h) and tokenised alone. kvlink-precompute and kvlink-query both go through here, so a
// document gives the same chunks, hence the same cache keys, in both.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvlink/reuse/prompt.h"

namespace kvlink {

struct Document {
  std::string path;
  std::string title;
  std::string text;
};

// True for the file types kvlink reads: .txt and .md (case-insensitive).
bool is_document_file(const std::string& path);

// Reads a document. The title of a .md file is its first line when that is a "# " heading (the line
// is then removed from the text); otherwise, and for .txt, it is the file name without extension.
// Throws kvlink::Error when the file cannot be read.
Document read_document(const std::string& path);

struct DocumentChunk {
  ChunkText text;               // title + the chunk's text
  std::vector<TokenId> tokens;  // chunk_tokens(model, text): the rendered chunk, tokenised alone
};

// Splits a document into chunks of at most `max_tokens` tokens each, rendered header included: the
// text is cut at paragraph (then sentence, then token) boundaries by chunk_document with a budget of
// max_tokens less the title header's tokens and a margin of 2 for merges at the seam. Throws
// kvlink::Error when the title alone leaves fewer than 8 tokens.
std::vector<DocumentChunk> document_chunks(const Model& model, const Document& doc, int32_t max_tokens);

}  // namespace kvlink
