// Unicode helpers for the tokenizer: UTF-8 decoding/encoding, the code point classes that the
// pre-tokenizer patterns test (\p{L}, \p{N}, \s, ...), and GPT-2's byte <-> code point alphabet.
// The class tables are generated from Unicode data by scripts/gen_unicode_tables.py.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvlink {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[pos] (pos < s.size()) and stores its length in bytes in
// *len. Anything that is not well-formed UTF-8 (stray continuation byte, truncated or overlong
// sequence, surrogate, value above U+10FFFF) decodes to U+FFFD with *len = 1, so every byte of the
// input is consumed exactly once and the original bytes can be recovered from the offsets.
uint32_t utf8_decode(std::string_view s, size_t pos, size_t* len);
// Appends the UTF-8 encoding of cp (cp above U+10FFFF or a surrogate appends U+FFFD).
void utf8_append(std::string& out, uint32_t cp);
std::string utf8_encode(uint32_t cp);
std::vector<uint32_t> utf8_to_codepoints(std::string_view s);

// Code point classes, as bit flags (one code point may have several, e.g. U+0020 is SEPARATOR and
// WHITESPACE). LETTER..SEPARATOR are the Unicode general category majors L, N, P, M, S, Z; CONTROL is
// Cc/Cf/Co/Cs; WHITESPACE is the White_Space property, which is what \s matches in the regex
// engines the reference tokenizers use.
enum CodepointFlag : uint8_t {
  CP_LETTER = 1 << 0,
  CP_NUMBER = 1 << 1,
  CP_PUNCT = 1 << 2,
  CP_MARK = 1 << 3,
  CP_SYMBOL = 1 << 4,
  CP_SEPARATOR = 1 << 5,
  CP_CONTROL = 1 << 6,
  CP_WHITESPACE = 1 << 7,
};

struct CodepointRange {
  uint32_t first, last;
  uint8_t flags;
};

namespace unicode_data {
extern const uint8_t kLatin1Flags[256];
extern const CodepointRange kRanges[];
extern const size_t kRangeCount;
}  // namespace unicode_data

uint8_t codepoint_flags_slow(uint32_t cp);  // binary search of the generated ranges
inline uint8_t codepoint_flags(uint32_t cp) {
  return cp < 256 ? unicode_data::kLatin1Flags[cp] : codepoint_flags_slow(cp);
}
inline bool is_letter(uint32_t cp) {
  return codepoint_flags(cp) & CP_LETTER;
}
inline bool is_number(uint32_t cp) {
  return codepoint_flags(cp) & CP_NUMBER;
}
inline bool is_whitespace(uint32_t cp) {
  return codepoint_flags(cp) & CP_WHITESPACE;
}
inline bool is_punct(uint32_t cp) {
  return codepoint_flags(cp) & CP_PUNCT;
}
inline bool is_mark(uint32_t cp) {
  return codepoint_flags(cp) & CP_MARK;
}

// GPT-2's byte-level alphabet (openai/gpt-2 encoder.py bytes_to_unicode): the printable bytes
// '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for themselves; the other 68 bytes map, in
// increasing order, to U+0100, U+0101, ...
uint32_t byte_to_codepoint(uint8_t byte);
// The byte a GPT-2 alphabet code point stands for, or -1 when cp is not in the alphabet.
int codepoint_to_byte(uint32_t cp);
// The UTF-8 text of byte_to_codepoint(byte) (1 or 2 bytes long).
const std::string& byte_to_utf8(uint8_t byte);

}  // namespace kvlink
