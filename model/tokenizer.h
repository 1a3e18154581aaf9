// Tokenizer built from a GGUF file's tokenizer.ggml.* metadata: byte-level BPE (tokenizer.ggml.model
// "gpt2", pre-split by the rules named in tokenizer.ggml.pre) and SentencePiece-style BPE ("llama").
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/bpe.h"
#include "model/pretokenizer.h"

namespace kvlink {

class GGUFFile;

using TokenId = int32_t;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  UNDEFINED = 0,
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6
};

struct SpecialTokens {
  TokenId bos = -1, eos = -1, eot = -1, unk = -1, pad = -1;
  bool add_bos = false;           // tokenizer.ggml.add_bos_token
  bool add_eos = false;           // tokenizer.ggml.add_eos_token
  bool add_space_prefix = false;  // tokenizer.ggml.add_space_prefix (SentencePiece)
};

// Everything a tokenizer is built from: the tokenizer.ggml.* metadata, already read. from_gguf fills
// it from a file; tests fill it by hand.
struct TokenizerVocab {
  std::string model;                 // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;                   // tokenizer.ggml.pre ("" = default)
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores; empty = all zero
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type; empty = all NORMAL
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "left right", best first (gpt2 only)
  SpecialTokens special;
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.*; missing optional keys take llama.cpp's defaults (add_bos_token and
  // add_space_prefix: true for "llama", false for "gpt2"). Throws kvlink::Error on bad data.
  static Tokenizer from_gguf(const GGUFFile& file);
  // Validates `vocab` (ids in range, merges naming known tokens, array lengths) and builds the tables.
  static Tokenizer from_vocab(const TokenizerVocab& vocab);

  // Text -> ids. add_special: prepend BOS (and append EOS) when the model asks for it.
  // parse_special: text spelling a CONTROL or USER_DEFINED token ("<|im_start|>") becomes that token.
  // USER_DEFINED tokens are matched whole even without parse_special (as llama.cpp and HF do);
  // where several match at one position the longest wins, and the leftmost position goes first.
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Ids -> bytes (may be a partial UTF-8 sequence for one token; concatenate before printing).
  // For "llama" with add_space_prefix, the space the encoder prepended is removed again.
  std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const;
  std::string token_to_piece(TokenId id, bool render_special = false) const;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  const SpecialTokens& special() const { return special_; }
  const std::string& model() const { return model_; }  // "gpt2" or "llama"
  const std::string& pre() const { return pre_; }      // tokenizer.ggml.pre
  const std::string& token_text(TokenId id) const { return tokens_.at(static_cast<size_t>(id)); }
  TokenType token_type(TokenId id) const { return types_.at(static_cast<size_t>(id)); }
  TokenId find_token(std::string_view text) const;  // -1 when absent
  // True for ids that end generation: EOS, EOT and CONTROL tokens named like an end-of-turn marker.
  bool is_end_of_generation(TokenId id) const;

 private:
  // One stretch of text between special tokens (empty text gives no tokens).
  void encode_text(std::string_view text, std::vector<TokenId>& out) const;
  void encode_byte_level(std::string_view text, std::vector<TokenId>& out) const;
  void encode_sentencepiece(std::string_view text, std::vector<TokenId>& out) const;
  void emit_bytes(std::string_view bytes, std::vector<TokenId>& out) const;
  // Longest special token spelled at text[pos], or -1.
  TokenId match_special(std::string_view text, size_t pos, bool parse_special) const;

  std::string model_, pre_;
  bool byte_level_ = true;  // model_ == "gpt2"
  PreTokenizer pre_kind_ = PreTokenizer::GPT2;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, TokenId> token_to_id_;
  BpeMergeTable merges_;                   // gpt2
  std::array<TokenId, 256> byte_token_{};  // token of one byte (gpt2: its alphabet char; llama: <0xXX>)
  std::vector<std::string> pieces_;        // decoded bytes of each token (CONTROL: its text)
  // Tokens matched whole in the input, by first byte, longest text first.
  std::array<std::vector<TokenId>, 256> specials_by_first_byte_;
  std::vector<TokenId> end_of_generation_;
  SpecialTokens special_;
};

}  // namespace kvlink
