// Document chunking: paragraphs packed greedily, oversized paragraphs split at sentences, oversized
// sentences at token boundaries. The rules are stated in chunker.h.
#include "kvlink/cache/chunker.h"

#include <algorithm>
#include <functional>

#include "tensor/error.h"

namespace kvlink {
namespace {

// A byte range [begin, end) of the normalised text.
struct Span {
  size_t begin = 0, end = 0;
  bool empty() const { return begin >= end; }
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

Span trim(std::string_view text, Span s) {
  while (s.begin < s.end && is_space(text[s.begin])) ++s.begin;
  while (s.end > s.begin && is_space(text[s.end - 1])) --s.end;
  return s;
}

bool is_utf8_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::vector<TokenId> encode(const Tokenizer& tok, std::string_view text) {
  return tok.encode(text, false, false);
}

// Paragraphs: runs of non-blank lines, each trimmed.
std::vector<Span> split_paragraphs(std::string_view text) {
  std::vector<Span> out;
  bool open = false;
  Span current;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const Span line = trim(text, {pos, nl});
    if (line.empty()) {
      if (open) out.push_back(current);
      open = false;
    } else {
      if (!open) current.begin = line.begin;
      current.end = line.end;
      open = true;
    }
    pos = nl + 1;
  }
  if (open) out.push_back(current);
  return out;
}

// Sentences of one paragraph: cut after ". ", "? ", "! " and at newlines, each trimmed.
std::vector<Span> split_sentences(std::string_view text, Span paragraph) {
  std::vector<Span> out;
  size_t start = paragraph.begin;
  auto cut = [&](size_t end, size_t next) {
    const Span s = trim(text, {start, end});
    if (!s.empty()) out.push_back(s);
    start = next;
  };
  for (size_t i = paragraph.begin; i < paragraph.end; ++i) {
    const char c = text[i];
    if (c == '\n') {
      cut(i, i + 1);
    } else if ((c == '.' || c == '?' || c == '!') && i + 1 < paragraph.end && text[i + 1] == ' ') {
      cut(i + 1, i + 1);
    }
  }
  cut(paragraph.end, paragraph.end);
  return out;
}

void emit(std::vector<Chunk>& out, std::string text, std::vector<TokenId> tokens, Span range) {
  out.push_back(Chunk{std::move(text), std::move(tokens), range.begin, range.end});
}

// Splits one trimmed sentence into pieces of at most max_tokens tokens at token boundaries. Only a
// window of the remaining text is encoded per piece, so a huge word costs linear, not quadratic, time.
void split_at_tokens(const Tokenizer& tok, std::string_view text, Span sentence, int32_t max_tokens,
                     std::vector<Chunk>& out) {
  const size_t max_n = static_cast<size_t>(max_tokens);
  size_t window_bytes = 8 * max_n + 64;
  Span rest = trim(text, sentence);
  while (!rest.empty()) {
    // A window of the rest, ending on a character boundary, that encodes to more than max_tokens.
    size_t end = std::min(rest.end, rest.begin + window_bytes);
    while (end < rest.end && end > rest.begin + 1 && is_utf8_continuation(text[end])) --end;
    const std::string_view window = text.substr(rest.begin, end - rest.begin);
    std::vector<TokenId> tokens = encode(tok, window);
    if (tokens.size() <= max_n) {
      if (end == rest.end) {
        emit(out, std::string(window), std::move(tokens), rest);
        return;
      }
      window_bytes *= 2;
      continue;
    }
    // The longest run whose decoded bytes, cut at a character boundary and re-encoded, still fit.
    size_t cut = 0;
    std::vector<TokenId> piece_tokens;
    for (size_t run = max_n; run >= 1 && cut == 0; --run) {
      const std::string piece = tok.decode(std::vector<TokenId>(tokens.begin(), tokens.begin() + run));
      size_t len = std::mismatch(piece.begin(), piece.end(), window.begin(), window.end()).first - piece.begin();
      while (len > 0 && len < window.size() && is_utf8_continuation(window[len])) --len;
      if (len == 0) continue;
      const Span s = trim(text, {rest.begin, rest.begin + len});
      piece_tokens = encode(tok, text.substr(s.begin, s.end - s.begin));
      if (piece_tokens.size() <= max_n) cut = len;
    }
    if (cut == 0) {  // one character per chunk, or failing that one byte
      size_t len = 1;
      while (len < window.size() && is_utf8_continuation(window[len])) ++len;
      for (size_t try_len : {len, size_t{1}}) {
        piece_tokens = encode(tok, window.substr(0, try_len));
        if (piece_tokens.size() <= max_n) {
          cut = try_len;
          break;
        }
      }
    }
    if (cut == 0) throw Error("chunk_document: one byte encodes to more than " + std::to_string(max_n) + " tokens");
    const Span s = trim(text, {rest.begin, rest.begin + cut});
    emit(out, std::string(text.substr(s.begin, s.end - s.begin)), std::move(piece_tokens), s);
    rest = trim(text, {rest.begin + cut, rest.end});
  }
}

// Greedy packing of consecutive units (paragraphs or sentences). `join(first, last)` is the text of
// units first..last as one chunk; `split` takes a unit that alone exceeds max_tokens. The last unit
// is first estimated from the units' own token counts (plus `sep_tokens` per join), then corrected
// against the exact count of the packed text, so a chunk usually costs two or three encodes: the
// result is the chunk that grows while its packed text fits, as long as counts grow with the text.
void pack_units(const Tokenizer& tok, const std::vector<Span>& units,
                const std::function<std::string(size_t, size_t)>& join, size_t sep_tokens, int32_t max_tokens,
                std::vector<Chunk>& out, const std::function<void(Span)>& split) {
  const size_t max_n = static_cast<size_t>(max_tokens);
  const size_t n = units.size();
  std::vector<size_t> counts(n);
  for (size_t k = 0; k < n; ++k) counts[k] = encode(tok, join(k, k)).size();

  for (size_t i = 0; i < n;) {
    if (counts[i] > max_n) {
      split(units[i]);
      ++i;
      continue;
    }
    size_t j = i;
    for (size_t sum = counts[i]; j + 1 < n && sum + sep_tokens + counts[j + 1] <= max_n; ++j) {
      sum += sep_tokens + counts[j + 1];
    }
    std::string text;
    std::vector<TokenId> tokens;
    auto fits = [&](size_t last) {
      text = join(i, last);
      tokens = encode(tok, text);
      return tokens.size() <= max_n;
    };
    if (fits(j)) {
      while (j + 1 < n && counts[j + 1] <= max_n) {
        std::string keep_text = std::move(text);
        std::vector<TokenId> keep_tokens = std::move(tokens);
        if (fits(j + 1)) {
          ++j;
          continue;
        }
        text = std::move(keep_text);
        tokens = std::move(keep_tokens);
        break;
      }
    } else {
      while (!fits(--j)) {
      }  // terminates: units[i] alone fits (counts[i] <= max_n)
    }
    emit(out, std::move(text), std::move(tokens), {units[i].begin, units[j].end});
    i = j + 1;
  }
}

}  // namespace

std::string normalize_line_endings(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

std::vector<Chunk> chunk_document(const Tokenizer& tok, std::string_view source, int32_t max_tokens) {
  if (max_tokens < 1) throw Error("chunk_document: max_tokens must be at least 1, got " + std::to_string(max_tokens));
  const std::string normalised = normalize_line_endings(source);
  const std::string_view text = normalised;
  std::vector<Chunk> out;

  const std::vector<Span> paragraphs = split_paragraphs(text);
  auto join_paragraphs = [&](size_t first, size_t last) {
    std::string joined;
    for (size_t k = first; k <= last; ++k) {
      if (k > first) joined += "\n\n";
      joined.append(text.substr(paragraphs[k].begin, paragraphs[k].end - paragraphs[k].begin));
    }
    return joined;
  };
  auto split_paragraph = [&](Span paragraph) {
    const std::vector<Span> sentences = split_sentences(text, paragraph);
    auto join_sentences = [&](size_t first, size_t last) {
      return std::string(text.substr(sentences[first].begin, sentences[last].end - sentences[first].begin));
    };
    auto split_sentence = [&](Span sentence) { split_at_tokens(tok, text, sentence, max_tokens, out); };
    pack_units(tok, sentences, join_sentences, 0, max_tokens, out, split_sentence);
  };
  pack_units(tok, paragraphs, join_paragraphs, encode(tok, "\n\n").size(), max_tokens, out, split_paragraph);
  return out;
}

}  // namespace kvlink
