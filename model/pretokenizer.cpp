// Hand-written matchers for the pre-tokenizer split regexes (see pretokenizer.h). Each matcher
// returns the end of the match that the regex's first matching alternative gives at position i;
// every code point is matched by some alternative, so the text is cut into consecutive words.
#include "model/pretokenizer.h"

#include <cstdint>

#include "model/unicode.h"

namespace kvlink {

PreTokenizer pre_tokenizer_from_name(std::string_view pre) {
  if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3" || pre == "falcon3" || pre == "smaug-bpe" ||
      pre == "dbrx") {
    return PreTokenizer::LLAMA3;
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return PreTokenizer::QWEN2;
  if (pre == "smollm" || pre == "starcoder" || pre == "refact" || pre == "codeshell") {
    return PreTokenizer::SMOLLM;
  }
  return PreTokenizer::GPT2;
}

namespace {

// The text as code points with their classes and byte offsets (offset[n] = text.size()).
struct CodepointText {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<size_t> offset;

  explicit CodepointText(std::string_view text) {
    cp.reserve(text.size());
    flags.reserve(text.size());
    offset.reserve(text.size() + 1);
    size_t len = 0;
    for (size_t pos = 0; pos < text.size(); pos += len) {
      const uint32_t c = utf8_decode(text, pos, &len);
      cp.push_back(c);
      flags.push_back(codepoint_flags(c));
      offset.push_back(pos);
    }
    offset.push_back(text.size());
  }
  size_t size() const { return cp.size(); }
  bool letter(size_t i) const { return flags[i] & CP_LETTER; }
  bool number(size_t i) const { return flags[i] & CP_NUMBER; }
  bool space(size_t i) const { return flags[i] & CP_WHITESPACE; }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const { return !(flags[i] & (CP_LETTER | CP_NUMBER | CP_WHITESPACE)); }
  bool newline(size_t i) const { return cp[i] == '\r' || cp[i] == '\n'; }
};

template <typename Pred>
size_t run_of(size_t k, size_t end, Pred pred) {
  while (k < end && pred(k)) ++k;
  return k;
}

uint32_t ascii_lower(uint32_t c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// 's|'t|'re|'ve|'m|'ll|'d (no alternative is a prefix of another, so order does not matter).
size_t match_contraction(const CodepointText& t, size_t i, size_t end, bool ignore_case) {
  if (t.cp[i] != '\'' || i + 1 >= end) return i;
  const auto fold = [&](size_t k) { return ignore_case ? ascii_lower(t.cp[k]) : t.cp[k]; };
  const uint32_t c1 = fold(i + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
  if (i + 2 < end) {
    const uint32_t c2 = fold(i + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return i + 3;
  }
  return i;
}

// \s+(?!\S)|\s+ at a whitespace code point: the whole run when it ends the text, else the run
// less its last code point (left to lead the next word), else the single code point.
size_t match_space_run(const CodepointText& t, size_t i, size_t end) {
  const size_t j = run_of(i, end, [&](size_t k) { return t.space(k); });
  if (j == end) return j;
  return j - 1 > i ? j - 1 : j;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const CodepointText& t, size_t i, size_t end) {
  if (size_t m = match_contraction(t, i, end, false); m > i) return m;
  const size_t s = (t.cp[i] == ' ' && i + 1 < end) ? i + 1 : i;  // after the optional space
  if (t.letter(s)) return run_of(s, end, [&](size_t k) { return t.letter(k); });
  if (t.number(s)) return run_of(s, end, [&](size_t k) { return t.number(k); });
  if (t.other(s)) return run_of(s, end, [&](size_t k) { return t.other(k); });
  if (t.letter(i)) return run_of(i, end, [&](size_t k) { return t.letter(k); });
  if (t.number(i)) return run_of(i, end, [&](size_t k) { return t.number(k); });
  if (t.other(i)) return run_of(i, end, [&](size_t k) { return t.other(k); });
  return match_space_run(t, i, end);
}

// Llama-3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_llama3(const CodepointText& t, size_t i, size_t end, size_t max_digits) {
  if (size_t m = match_contraction(t, i, end, true); m > i) return m;
  const auto letter = [&](size_t k) { return t.letter(k); };
  if (t.letter(i)) return run_of(i, end, letter);
  if (!t.newline(i) && !t.number(i) && i + 1 < end && t.letter(i + 1)) return run_of(i + 1, end, letter);
  if (t.number(i)) {
    size_t k = i + 1;
    while (k < end && k - i < max_digits && t.number(k)) ++k;
    return k;
  }
  const size_t s = (t.cp[i] == ' ' && i + 1 < end && t.other(i + 1)) ? i + 1 : i;
  if (t.other(s)) {
    const size_t k = run_of(s, end, [&](size_t q) { return t.other(q); });
    return run_of(k, end, [&](size_t q) { return t.newline(q); });
  }
  // \s*[\r\n]+: greedy \s* backs off to the last newline of the whitespace run.
  const size_t j = run_of(i, end, [&](size_t k) { return t.space(k); });
  for (size_t k = j; k > i; --k) {
    if (t.newline(k - 1)) return k;
  }
  return match_space_run(t, i, end);
}

void split_range(PreTokenizer kind, const CodepointText& t, size_t begin, size_t end, std::string_view text,
                 std::vector<std::string_view>& words) {
  size_t i = begin;
  while (i < end) {
    size_t m;
    switch (kind) {
      case PreTokenizer::LLAMA3:
        m = match_llama3(t, i, end, 3);
        break;
      case PreTokenizer::QWEN2:
        m = match_llama3(t, i, end, 1);
        break;
      default:
        m = match_gpt2(t, i, end);
        break;
    }
    words.push_back(text.substr(t.offset[i], t.offset[m] - t.offset[i]));
    i = m;
  }
}

}  // namespace

void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& words) {
  if (text.empty()) return;
  const CodepointText t(text);
  if (kind != PreTokenizer::SMOLLM) {
    split_range(kind, t, 0, t.size(), text, words);
    return;
  }
  // SmolLM: Digits(individual_digits) isolates every \p{N} code point first (llama.cpp's
  // "\p{N}" split); the GPT-2 pattern then runs on each stretch between them on its own.
  size_t begin = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!t.number(i)) continue;
    split_range(PreTokenizer::GPT2, t, begin, i, text, words);
    words.push_back(text.substr(t.offset[i], t.offset[i + 1] - t.offset[i]));
    begin = i + 1;
  }
  split_range(PreTokenizer::GPT2, t, begin, t.size(), text, words);
}

}  // namespace kvlink
