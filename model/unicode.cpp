// UTF-8 coding, code point classes and the GPT-2 byte alphabet (see unicode.h).
#include "model/unicode.h"

#include <array>

namespace kvlink {

uint32_t utf8_decode(std::string_view s, size_t pos, size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const size_t avail = s.size() - pos;
  *len = 1;
  const uint32_t b0 = p[0];
  if (b0 < 0x80) return b0;
  size_t n;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return kReplacementChar;  // continuation byte or 0xF8..0xFF as a lead
  }
  if (avail < n) return kReplacementChar;
  for (size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return kReplacementChar;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 (RFC 3629, section 3).
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kReplacementChar;
  *len = n;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacementChar;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(uint32_t cp) {
  std::string out;
  utf8_append(out, cp);
  return out;
}

std::vector<uint32_t> utf8_to_codepoints(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t len = 0;
  for (size_t pos = 0; pos < s.size(); pos += len) out.push_back(utf8_decode(s, pos, &len));
  return out;
}

uint8_t codepoint_flags_slow(uint32_t cp) {
  const CodepointRange* lo = unicode_data::kRanges;
  const CodepointRange* hi = unicode_data::kRanges + unicode_data::kRangeCount;
  while (lo < hi) {  // first range with last >= cp
    const CodepointRange* mid = lo + (hi - lo) / 2;
    if (mid->last < cp) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo != unicode_data::kRanges + unicode_data::kRangeCount && lo->first <= cp) return lo->flags;
  return 0;
}

namespace {

constexpr bool byte_stands_for_itself(uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteAlphabet {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every alphabet code point is below U+0200
  std::array<std::string, 256> utf8;
  ByteAlphabet() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      to_cp[b] = byte_stands_for_itself(b) ? b : next++;
      to_byte[to_cp[b]] = static_cast<int16_t>(b);
      utf8[b] = utf8_encode(to_cp[b]);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;  // constant data, built once
  return alphabet;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t byte) {
  return byte_alphabet().to_cp[byte];
}

int codepoint_to_byte(uint32_t cp) {
  return cp < 512 ? byte_alphabet().to_byte[cp] : -1;
}

const std::string& byte_to_utf8(uint8_t byte) {
  return byte_alphabet().utf8[byte];
}

}  // namespace kvlink
