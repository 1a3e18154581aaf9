// Tokenizer: tables built from tokenizer.ggml.* (llama.cpp's GGUF tokenizer keys) and the two
// encoders, byte-level BPE ("gpt2") and SentencePiece-style score-ordered BPE ("llama").
#include "model/tokenizer.h"

#include <algorithm>
#include <queue>

#include "model/gguf.h"
#include "model/unicode.h"
#include "tensor/error.h"

namespace kvlink {

namespace {

const char* const kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string byte_token_text(uint8_t byte) {
  static const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[byte >> 4] + hex[byte & 15] + ">";
}

// GPT-2 alphabet text -> the bytes it stands for; code points outside the alphabet pass through.
std::string decode_byte_level(const std::string& text) {
  std::string out;
  size_t len = 0;
  for (size_t pos = 0; pos < text.size(); pos += len) {
    const uint32_t cp = utf8_decode(text, pos, &len);
    const int byte = codepoint_to_byte(cp);
    if (byte >= 0) {
      out += static_cast<char>(byte);
    } else {
      out.append(text, pos, len);
    }
  }
  return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(text.substr(pos));
  return out;
}

// "<0xAB>" -> 0xAB, or -1.
int parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    const int digit = (c >= '0' && c <= '9')   ? c - '0'
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                               : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

bool is_special_type(TokenType type) {
  return type == TokenType::CONTROL || type == TokenType::UNKNOWN || type == TokenType::USER_DEFINED;
}

void check_special_id(const char* name, TokenId id, size_t n_vocab) {
  if (id < -1 || id >= static_cast<TokenId>(n_vocab)) {
    throw Error(std::string("tokenizer: ") + name + " id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(n_vocab) + " tokens");
  }
}

}  // namespace

Tokenizer Tokenizer::from_vocab(const TokenizerVocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (vocab.model != "gpt2" && vocab.model != "llama") {
    throw Error("tokenizer: unsupported tokenizer.ggml.model '" + vocab.model + "' (expected gpt2 or llama)");
  }
  if (n == 0) throw Error("tokenizer: tokenizer.ggml.tokens is empty");
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    throw Error("tokenizer: tokenizer.ggml.scores has " + std::to_string(vocab.scores.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }
  if (!vocab.token_types.empty() && vocab.token_types.size() != n) {
    throw Error("tokenizer: tokenizer.ggml.token_type has " + std::to_string(vocab.token_types.size()) +
                " entries for " + std::to_string(n) + " tokens");
  }
  const SpecialTokens& sp = vocab.special;
  check_special_id("bos", sp.bos, n);
  check_special_id("eos", sp.eos, n);
  check_special_id("eot", sp.eot, n);
  check_special_id("unknown", sp.unk, n);
  check_special_id("padding", sp.pad, n);

  Tokenizer tok;
  tok.model_ = vocab.model;
  tok.pre_ = vocab.pre;
  tok.byte_level_ = vocab.model == "gpt2";
  tok.pre_kind_ = pre_tokenizer_from_name(vocab.pre);
  tok.tokens_ = vocab.tokens;
  tok.scores_ = vocab.scores.empty() ? std::vector<float>(n, 0.0f) : vocab.scores;
  tok.special_ = sp;
  tok.types_.resize(n, TokenType::NORMAL);
  for (size_t i = 0; i < vocab.token_types.size(); ++i) {
    const int32_t t = vocab.token_types[i];
    if (t < 0 || t > static_cast<int32_t>(TokenType::BYTE)) {
      throw Error("tokenizer: token " + std::to_string(i) + " has unknown token_type " + std::to_string(t));
    }
    tok.types_[i] = static_cast<TokenType>(t);
  }
  tok.token_to_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) tok.token_to_id_.emplace(tok.tokens_[i], static_cast<TokenId>(i));

  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<uint8_t>(b);
    tok.byte_token_[byte] = tok.find_token(tok.byte_level_ ? byte_to_utf8(byte) : byte_token_text(byte));
  }

  if (tok.byte_level_) {
    if (vocab.merges.empty()) throw Error("tokenizer: a gpt2 tokenizer needs tokenizer.ggml.merges");
    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
      const std::string& merge = vocab.merges[rank];
      const size_t space = merge.find(' ', 1);  // a token never starts with a space; "  x" is " " + "x"
      if (space == std::string::npos)
        throw Error("tokenizer: merge " + std::to_string(rank) + " '" + merge + "' has no space");
      const std::string left = merge.substr(0, space), right = merge.substr(space + 1);
      const TokenId l = tok.find_token(left), r = tok.find_token(right), m = tok.find_token(left + right);
      if (l < 0 || r < 0 || m < 0) {
        throw Error("tokenizer: merge " + std::to_string(rank) + " '" + merge +
                    "' names a token not in the vocabulary");
      }
      tok.merges_.add(l, r, static_cast<int32_t>(rank), m);
    }
  }

  tok.pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = tok.tokens_[i];
    const TokenType type = tok.types_[i];
    if (is_special_type(type) || type == TokenType::UNUSED) {
      tok.pieces_[i] = text;
    } else if (tok.byte_level_) {
      tok.pieces_[i] = decode_byte_level(text);
    } else if (type == TokenType::BYTE && parse_byte_token(text) >= 0) {
      tok.pieces_[i] = std::string(1, static_cast<char>(parse_byte_token(text)));
    } else {
      tok.pieces_[i] = replace_all(text, kSpaceMarker, " ");
    }
  }

  std::vector<TokenId> specials;
  for (size_t i = 0; i < n; ++i) {
    if (is_special_type(tok.types_[i]) && !tok.tokens_[i].empty()) specials.push_back(static_cast<TokenId>(i));
  }
  std::stable_sort(specials.begin(), specials.end(),
                   [&](TokenId a, TokenId b) { return tok.tokens_[a].size() > tok.tokens_[b].size(); });
  for (TokenId id : specials) {
    tok.specials_by_first_byte_[static_cast<uint8_t>(tok.tokens_[id][0])].push_back(id);
  }

  for (TokenId id : {sp.eos, sp.eot}) {
    if (id >= 0) tok.end_of_generation_.push_back(id);
  }
  for (const char* name : {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>"}) {
    const TokenId id = tok.find_token(name);
    if (id >= 0 && tok.types_[id] == TokenType::CONTROL) tok.end_of_generation_.push_back(id);
  }
  return tok;
}

Tokenizer Tokenizer::from_gguf(const GGUFFile& file) {
  TokenizerVocab vocab;
  vocab.model = file.get_string("tokenizer.ggml.model");
  vocab.pre = file.get_string_or("tokenizer.ggml.pre", "default");
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  const size_t n = vocab.tokens.size();
  if (file.has("tokenizer.ggml.scores")) {
    for (double s : file.get_float_array("tokenizer.ggml.scores")) vocab.scores.push_back(static_cast<float>(s));
  }
  if (file.has("tokenizer.ggml.token_type")) {
    for (int64_t t : file.get_int_array("tokenizer.ggml.token_type")) {
      vocab.token_types.push_back(static_cast<int32_t>(std::clamp<int64_t>(t, -1, 1 << 30)));
    }
  }
  if (file.has("tokenizer.ggml.merges")) vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  // Ids are range-checked here as 64-bit values so a huge one cannot wrap into range.
  const auto id_of = [&](const char* key) -> TokenId {
    const int64_t id = file.get_int_or(key, -1);
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      throw Error(std::string("tokenizer: ") + key + " = " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(n) + " tokens");
    }
    return static_cast<TokenId>(id);
  };
  SpecialTokens& sp = vocab.special;
  sp.bos = id_of("tokenizer.ggml.bos_token_id");
  sp.eos = id_of("tokenizer.ggml.eos_token_id");
  sp.eot = id_of("tokenizer.ggml.eot_token_id");
  sp.unk = id_of("tokenizer.ggml.unknown_token_id");
  sp.pad = id_of("tokenizer.ggml.padding_token_id");
  const bool sentencepiece = vocab.model == "llama";
  sp.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", sentencepiece);
  sp.add_eos = file.get_bool_or("tokenizer.ggml.add_eos_token", false);
  sp.add_space_prefix = file.get_bool_or("tokenizer.ggml.add_space_prefix", sentencepiece);
  return from_vocab(vocab);
}

TokenId Tokenizer::find_token(std::string_view text) const {
  auto it = token_to_id_.find(std::string(text));
  return it == token_to_id_.end() ? -1 : it->second;
}

bool Tokenizer::is_end_of_generation(TokenId id) const {
  return id >= 0 && std::find(end_of_generation_.begin(), end_of_generation_.end(), id) != end_of_generation_.end();
}

TokenId Tokenizer::match_special(std::string_view text, size_t pos, bool parse_special) const {
  for (TokenId id : specials_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    if (!parse_special && types_[id] != TokenType::USER_DEFINED) continue;
    const std::string& s = tokens_[id];
    if (text.compare(pos, s.size(), s) == 0) return id;
  }
  return -1;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && special_.add_bos && special_.bos >= 0) out.push_back(special_.bos);
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const TokenId id =
        specials_by_first_byte_[static_cast<uint8_t>(text[pos])].empty() ? -1 : match_special(text, pos, parse_special);
    if (id < 0) {
      ++pos;
      continue;
    }
    encode_text(text.substr(start, pos - start), out);
    out.push_back(id);
    pos += tokens_[id].size();
    start = pos;
  }
  encode_text(text.substr(start), out);
  if (add_special && special_.add_eos && special_.eos >= 0) out.push_back(special_.eos);
  return out;
}

void Tokenizer::encode_text(std::string_view text, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  if (byte_level_) {
    encode_byte_level(text, out);
  } else {
    encode_sentencepiece(text, out);
  }
}

void Tokenizer::emit_bytes(std::string_view bytes, std::vector<TokenId>& out) const {
  for (char c : bytes) {
    const TokenId id = byte_token_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out.push_back(id);
    } else if (special_.unk >= 0) {
      out.push_back(special_.unk);
    }
  }
}

void Tokenizer::encode_byte_level(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<std::string_view> words;
  pre_tokenize(pre_kind_, text, words);
  std::vector<int32_t> symbols;
  for (std::string_view word : words) {
    symbols.clear();
    for (char c : word) symbols.push_back(byte_token_[static_cast<uint8_t>(c)]);
    bpe_apply_merges(merges_, symbols);
    // A byte the vocabulary has no token for (SmolLM2 lacks 21, e.g. 0x04 and 0xF5..0xFF) is
    // dropped, as HF's BPE model without unk_token and llama.cpp's BPE tokenizer do.
    for (int32_t id : symbols) {
      if (id >= 0) out.push_back(id);
    }
  }
}

// SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs it: spaces become U+2581 (one more in
// front when add_space_prefix: llama.cpp adds it to every text fragment, all of which start the
// text or follow a special token), then the adjacent pair whose concatenation is the
// highest-scoring token merges first (leftmost among equal scores); symbols that are not tokens
// fall back to <0xXX> byte tokens.
void Tokenizer::encode_sentencepiece(std::string_view text, std::vector<TokenId>& out) const {
  std::string norm = special_.add_space_prefix ? kSpaceMarker : "";
  norm += replace_all(text, " ", kSpaceMarker);
  struct Symbol {
    size_t start, len;
    int32_t prev, next;
  };
  std::vector<Symbol> symbols;
  size_t len = 0;
  for (size_t pos = 0; pos < norm.size(); pos += len) {
    utf8_decode(norm, pos, &len);
    const auto i = static_cast<int32_t>(symbols.size());
    symbols.push_back({pos, len, i - 1, pos + len < norm.size() ? i + 1 : -1});
  }
  struct Bigram {
    float score;
    int32_t left;
    size_t len;
    bool operator<(const Bigram& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Bigram> heap;
  std::string scratch;
  const auto try_add = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[l.next];
    scratch.assign(norm, l.start, l.len + r.len);
    auto it = token_to_id_.find(scratch);
    if (it != token_to_id_.end()) heap.push({scores_[it->second], left, l.len + r.len});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) try_add(i);
  while (!heap.empty()) {
    const Bigram b = heap.top();
    heap.pop();
    Symbol& l = symbols[b.left];
    // Stale when either side has merged since (lengths no longer add up) or l was absorbed.
    if (l.len == 0 || l.next < 0 || l.len + symbols[l.next].len != b.len) continue;
    Symbol& r = symbols[l.next];
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev);
    try_add(b.left);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    scratch.assign(norm, symbols[i].start, symbols[i].len);
    auto it = token_to_id_.find(scratch);
    if (it != token_to_id_.end()) {
      out.push_back(it->second);
    } else {
      emit_bytes(scratch, out);
    }
  }
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) {
    throw Error("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(n_vocab()) + " tokens");
  }
  const TokenType type = types_[static_cast<size_t>(id)];
  if (type == TokenType::CONTROL || type == TokenType::UNKNOWN) return render_special ? pieces_[id] : std::string();
  if (type == TokenType::UNUSED) return std::string();
  return pieces_[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
  std::string out;
  // SentencePiece: the prefix space encode() added is not part of the text (HF's Strip decoder).
  bool strip_prefix = !byte_level_ && special_.add_space_prefix;
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, render_special);
    if (strip_prefix && !piece.empty()) {
      if (piece[0] == ' ' && types_[static_cast<size_t>(id)] == TokenType::NORMAL) piece.erase(0, 1);
      strip_prefix = false;
    }
    out += piece;
  }
  return out;
}

}  // namespace kvlink
