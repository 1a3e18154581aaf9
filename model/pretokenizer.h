// Pre-tokenizers of byte-level BPE: split text into the words that BPE merges never cross, as the
// split regex named by tokenizer.ggml.pre does. The regexes use \p{..} classes and lookahead, which
// std::regex cannot express, so each is a hand-written matcher that reproduces the regex's
// leftmost-first alternation and backtracking exactly (the patterns are quoted in pretokenizer.cpp).
#pragma once
#include <string_view>
#include <vector>

namespace kvlink {

enum class PreTokenizer {
  GPT2,    // GPT-2's pattern: "default", "gpt2" and every name not listed below
  LLAMA3,  // "llama3", "llama-bpe", "llama-v3", "falcon3", "smaug-bpe", "dbrx"
  QWEN2,   // "qwen2", "deepseek-r1-qwen": Llama-3's pattern with single digits
  SMOLLM,  // "smollm", "starcoder", "refact", "codeshell": every \p{N} alone, then GPT-2's pattern
};

// tokenizer.ggml.pre -> splitter. Unknown names fall back to GPT2 silently: it is the pattern
// GPT-2-style vocabularies were trained with, and a fixed fallback keeps encoding deterministic.
PreTokenizer pre_tokenizer_from_name(std::string_view pre);

// Appends the words of `text` to `words`, in order. Every byte of `text` lands in exactly one
// word (so concatenating the words gives back `text`), including bytes of invalid UTF-8, which are
// classed like U+FFFD (neither letter, number nor space).
void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& words);

}  // namespace kvlink
