// Document chunking for kvlink-precompute: splits a document into chunks of at most max_tokens tokens
// at paragraph, then sentence, then token boundaries, and tokenises each chunk on its own, so that a
// chunk's tokens (and hence its KV cache) depend on its own text only (KVLink step 1: no BPE merge
// ever crosses a chunk boundary).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace kvlink {

struct Chunk {
  std::string text;             // what is encoded; see chunk_document for how it relates to the source
  std::vector<TokenId> tokens;  // == tok.encode(text, false, false), 1..max_tokens ids
  size_t byte_begin = 0;        // [byte_begin, byte_end): the chunk's range in the normalised text
  size_t byte_end = 0;
};

// "\r\n" -> "\n" (a lone "\r" is kept). The byte ranges of chunk_document refer to this text.
std::string normalize_line_endings(std::string_view text);

// Splits `text` into chunks, in document order, by these rules:
//  1. Line endings are normalised first (normalize_line_endings); byte ranges refer to that text.
//  2. Paragraphs are separated by one or more blank lines (lines of ASCII white space only). A
//     paragraph keeps its single line breaks; its leading and trailing white space is dropped.
//  3. Whole paragraphs are packed greedily: a chunk grows by the next paragraph while its packed text
//     (the paragraphs joined by "\n\n", tokenised as one string, since that is what gets encoded)
//     stays <= max_tokens tokens. Its byte range runs from its first paragraph's first byte to its
//     last paragraph's last byte, so the text differs from that range only in the separators.
//  4. A paragraph that alone exceeds max_tokens starts and ends chunks of its own: it is split into
//     sentences, ending after ". ", "? ", "! " (the punctuation stays, the space goes) or at a newline,
//     and sentences are packed greedily the same way; such a chunk's text is the trimmed source range.
//  5. A sentence that alone exceeds max_tokens is split at token boundaries: a run of at most
//     max_tokens tokens of the remaining text is decoded back to its bytes and cut there, so the
//     pieces concatenate to the sentence. Cuts are moved back to a UTF-8 character boundary unless one
//     character alone exceeds max_tokens; a run is shortened when its re-encoded piece would not fit.
//  6. Every chunk's text is trimmed of ASCII white space and non-empty; a document of white space only
//     gives no chunks. So the chunk texts, concatenated, hold every non-white-space byte of the
//     document in order, and nothing else but white space.
// Throws kvlink::Error when max_tokens < 1, or when not even one byte fits (a tokenizer that adds
// tokens of its own, with max_tokens 1).
std::vector<Chunk> chunk_document(const Tokenizer& tok, std::string_view text, int32_t max_tokens);

}  // namespace kvlink
