// Tokenizer built from a GGUF file's tokenizer.ggml.* metadata: byte-level BPE (tokenizer.ggml.model
// "gpt2", pre-split by the rules named in tokenizer.ggml.pre) and SentencePiece-style BPE ("llama").
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kvlink {

class GGUFFile;

using TokenId = int32_t;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

struct SpecialTokens {
  TokenId bos = -1, eos = -1, eot = -1, unk = -1, pad = -1;
  bool add_bos = false;           // tokenizer.ggml.add_bos_token
  bool add_eos = false;           // tokenizer.ggml.add_eos_token
  bool add_space_prefix = false;  // tokenizer.ggml.add_space_prefix (SentencePiece)
};

class Tokenizer {
 public:
  static Tokenizer from_gguf(const GGUFFile& file);

  // Text -> ids. add_special: prepend BOS (and append EOS) when the model asks for it.
  // parse_special: text spelling a CONTROL or USER_DEFINED token ("<|im_start|>") becomes that token.
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Ids -> bytes (may be a partial UTF-8 sequence for one token; concatenate before printing).
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
  std::string model_, pre_;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, TokenId> token_to_id_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank (gpt2)
  std::vector<TokenId> end_of_generation_;
  SpecialTokens special_;
  // implementation details are free to add private members
};

}  // namespace kvlink
