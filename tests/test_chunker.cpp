// Chunking tests: each rule of chunk_document (kvlink/cache/chunker.h) on hand-made documents, and the
// invariants every chunking must keep (token bound, tokens == encode(text), ordered byte ranges, no
// non-white-space byte lost or added) over random documents, with the real SmolLM2 tokenizer and with
// the tiny byte-level tokenizer that needs no download.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kvlink/cache/chunker.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "support/support.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

namespace kvlink {
namespace {

const Tokenizer& smollm2(const std::string& path) {
  static const Tokenizer tok = Tokenizer::from_gguf(GGUFFile::open(path));
  return tok;
}

const Tokenizer& tiny_tokenizer() {
  static const Tokenizer tok = [] {
    const std::string path = testing::write_tiny_model({}, testing::temp_path("chunker-tiny.gguf"));
    Tokenizer t = Tokenizer::from_gguf(GGUFFile::open(path));
    std::remove(path.c_str());
    return t;
  }();
  return tok;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string without_space(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!is_space(c)) out.push_back(c);
  }
  return out;
}

std::string crlf_to_lf(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out.push_back(s[i]);
  }
  return out;
}

// Every property chunk_document promises, checked on one result.
void expect_invariants(const Tokenizer& tok, const std::string& document, const std::vector<Chunk>& chunks,
                       int32_t max_tokens) {
  const std::string text = crlf_to_lf(document);
  size_t previous_end = 0;
  std::string joined;
  for (size_t k = 0; k < chunks.size(); ++k) {
    const Chunk& c = chunks[k];
    SCOPED_TRACE("chunk " + std::to_string(k) + ": \"" + c.text + "\"");
    ASSERT_FALSE(c.text.empty());
    EXPECT_FALSE(is_space(c.text.front()));
    EXPECT_FALSE(is_space(c.text.back()));
    EXPECT_EQ(c.tokens, tok.encode(c.text, false, false));
    EXPECT_GE(c.tokens.size(), 1u);
    EXPECT_LE(c.tokens.size(), static_cast<size_t>(max_tokens));
    EXPECT_LE(previous_end, c.byte_begin);
    EXPECT_LT(c.byte_begin, c.byte_end);
    ASSERT_LE(c.byte_end, text.size());
    // The text differs from its source range in white space only (the "\n\n" paragraph separators).
    EXPECT_EQ(without_space(c.text),
              without_space(std::string_view(text).substr(c.byte_begin, c.byte_end - c.byte_begin)));
    previous_end = c.byte_end;
    joined += c.text;
  }
  EXPECT_EQ(without_space(joined), without_space(text));
}

std::vector<std::string> split_on(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t at; (at = s.find(sep, pos)) != std::string::npos; pos = at + sep.size())
    out.push_back(s.substr(pos, at - pos));
  out.push_back(s.substr(pos));
  return out;
}

TEST(Chunker, ShortDocumentIsOneChunk) {
  KVLINK_MODEL_OR_SKIP(path);
  const Tokenizer& tok = smollm2(path);
  const std::string doc = "  The Eiffel Tower is in Paris.\nIt was finished in 1889.  \n";
  const std::vector<Chunk> chunks = chunk_document(tok, doc, 512);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "The Eiffel Tower is in Paris.\nIt was finished in 1889.");
  EXPECT_EQ(chunks[0].byte_begin, 2u);
  EXPECT_EQ(chunks[0].byte_end, doc.size() - 3);
  EXPECT_EQ(chunks[0].tokens, tok.encode(chunks[0].text, false, false));
  expect_invariants(tok, doc, chunks, 512);
}

TEST(Chunker, ParagraphsArePackedUpToTheLimitAndNeverSplitWhenTheyFit) {
  KVLINK_MODEL_OR_SKIP(path);
  const Tokenizer& tok = smollm2(path);
  std::vector<std::string> paragraphs;
  std::string doc;
  for (int p = 0; p < 12; ++p) {
    std::string para = "Paragraph " + std::to_string(p) + " talks about";
    for (int w = 0; w < 3 + (p * 7) % 11; ++w) para += " topic" + std::to_string(w);
    para += ".";
    paragraphs.push_back(para);
    doc += para + (p % 3 == 0 ? "\n\n\n" : "\n  \n");
  }
  const int32_t max_tokens = 40;
  const std::vector<Chunk> chunks = chunk_document(tok, doc, max_tokens);
  expect_invariants(tok, doc, chunks, max_tokens);
  ASSERT_GT(chunks.size(), 1u);
  ASSERT_LT(chunks.size(), paragraphs.size());  // some chunks hold several paragraphs
  size_t next = 0;
  for (size_t k = 0; k < chunks.size(); ++k) {
    // Whole paragraphs, in order, joined by "\n\n".
    const std::vector<std::string> parts = split_on(chunks[k].text, "\n\n");
    for (const std::string& part : parts) {
      ASSERT_LT(next, paragraphs.size());
      EXPECT_EQ(part, paragraphs[next++]);
    }
    // Greedy: the next paragraph would not have fitted.
    if (k + 1 < chunks.size()) {
      EXPECT_GT(tok.encode(chunks[k].text + "\n\n" + paragraphs[next], false, false).size(),
                static_cast<size_t>(max_tokens));
    }
  }
  EXPECT_EQ(next, paragraphs.size());
}

TEST(Chunker, OversizedParagraphIsSplitAtSentenceEnds) {
  KVLINK_MODEL_OR_SKIP(path);
  const Tokenizer& tok = smollm2(path);
  std::string doc = "A short opening paragraph.\n\n";
  const size_t big_begin = doc.size();
  std::vector<std::string> sentences;
  const char* ends[] = {". ", "? ", "! ", "\n"};
  for (int s = 0; s < 20; ++s) {
    const std::string sentence = "Sentence number " + std::to_string(s) + " has a few words in it" +
                                 std::string(1, ends[s % 4][0] == '\n' ? '.' : ends[s % 4][0]);
    sentences.push_back(sentence);
    doc += sentence + (ends[s % 4][0] == '\n' ? "\n" : " ");
  }
  doc += "\n\nA closing paragraph.";
  const int32_t max_tokens = 32;
  ASSERT_GT(tok.encode(doc.substr(big_begin), false, false).size(), 100u);
  const std::vector<Chunk> chunks = chunk_document(tok, doc, max_tokens);
  expect_invariants(tok, doc, chunks, max_tokens);
  ASSERT_GE(chunks.size(), 5u);
  EXPECT_EQ(chunks.front().text, "A short opening paragraph.");
  EXPECT_EQ(chunks.back().text, "A closing paragraph.");
  for (size_t k = 1; k + 1 < chunks.size(); ++k) {
    const Chunk& c = chunks[k];
    // Inside the big paragraph a chunk is its exact source range: whole sentences.
    EXPECT_EQ(c.text, doc.substr(c.byte_begin, c.byte_end - c.byte_begin));
    EXPECT_EQ(c.text.rfind("Sentence number ", 0), 0u) << c.text;
    const char last = c.text.back();
    EXPECT_TRUE(last == '.' || last == '?' || last == '!') << c.text;
  }
}

TEST(Chunker, GiantWordIsSplitAtTokenBoundaries) {
  KVLINK_MODEL_OR_SKIP(path);
  const Tokenizer& tok = smollm2(path);
  std::string word;
  for (int k = 0; k < 60; ++k) word += "supercalifragilistic" + std::to_string(k) + "Ünïcødé日本";
  for (int32_t max_tokens : {1, 3, 8, 50}) {
    SCOPED_TRACE("max_tokens " + std::to_string(max_tokens));
    const std::vector<Chunk> chunks = chunk_document(tok, word, max_tokens);
    expect_invariants(tok, word, chunks, max_tokens);
    std::string joined;
    for (size_t k = 0; k < chunks.size(); ++k) {
      joined += chunks[k].text;
      if (k > 0) {
        EXPECT_EQ(chunks[k - 1].byte_end, chunks[k].byte_begin);  // pieces are contiguous
      }
    }
    EXPECT_EQ(joined, word);
    // Cut at token boundaries, not merely anywhere: the pieces use no more tokens than the word does
    // by much (one extra per cut at most, where a re-encoded piece differs at its edges).
    const size_t word_tokens = tok.encode(word, false, false).size();
    EXPECT_GE(chunks.size(), (word_tokens + max_tokens - 1) / max_tokens);
    size_t piece_tokens = 0;
    for (const Chunk& c : chunks) piece_tokens += c.tokens.size();
    EXPECT_LE(piece_tokens, word_tokens + 2 * chunks.size());
    if (max_tokens >= 8) {  // large enough that no cut needs to fall inside a character
      for (const Chunk& c : chunks) EXPECT_EQ(tok.decode(c.tokens), c.text);
      for (const Chunk& c : chunks) EXPECT_FALSE((static_cast<unsigned char>(c.text.front()) & 0xC0) == 0x80);
    }
  }
}

TEST(Chunker, CrlfLineEndingsAreNormalised) {
  KVLINK_MODEL_OR_SKIP(path);
  const Tokenizer& tok = smollm2(path);
  const std::string crlf = "First line\r\nsecond line\r\n\r\n\r\nNext paragraph\r\nends here\r\n";
  const std::string lf = "First line\nsecond line\n\n\nNext paragraph\nends here\n";
  EXPECT_EQ(normalize_line_endings(crlf), lf);
  for (int32_t max_tokens : {4, 8, 512}) {
    const std::vector<Chunk> a = chunk_document(tok, crlf, max_tokens);
    const std::vector<Chunk> b = chunk_document(tok, lf, max_tokens);
    expect_invariants(tok, crlf, a, max_tokens);
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].text.find('\r'), std::string::npos);
      EXPECT_EQ(a[k].text, b[k].text);
      EXPECT_EQ(a[k].tokens, b[k].tokens);
      EXPECT_EQ(a[k].byte_begin, b[k].byte_begin);
      EXPECT_EQ(a[k].byte_end, b[k].byte_end);
    }
  }
  const std::vector<Chunk> one = chunk_document(tok, crlf, 512);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].text, "First line\nsecond line\n\nNext paragraph\nends here");
  EXPECT_EQ(one[0].byte_begin, 0u);
  EXPECT_EQ(one[0].byte_end, lf.size() - 1);
}

TEST(Chunker, WhitespaceOnlyDocumentsGiveNoChunks) {
  const Tokenizer& tok = tiny_tokenizer();
  for (const std::string doc : {"", " ", "\n\n", " \t\r\n \r\n\n  \f\v"}) {
    EXPECT_TRUE(chunk_document(tok, doc, 8).empty()) << '"' << doc << '"';
  }
}

TEST(Chunker, MaxTokensBelowOneThrows) {
  const Tokenizer& tok = tiny_tokenizer();
  EXPECT_THROW(chunk_document(tok, "text", 0), Error);
  EXPECT_THROW(chunk_document(tok, "text", -5), Error);
  EXPECT_THROW(chunk_document(tok, "", 0), Error);
}

// Random documents from varied pieces: ASCII words, accents, CJK, Cyrillic, emoji, digits,
// punctuation, runs of spaces, single and blank lines (sometimes CRLF), and the odd giant word.
std::string random_document(std::mt19937& rng) {
  static const std::vector<std::string> words = {
      "the",      "retrieval", "cache",  "KVLink", "naïve",   "café",
      "日本語",   "の",        "Привет", "мир",    "🙂",    "👨‍👩‍👧",
      "ß",        "1889",      "3.14",   "x=y+1",  "(note)",  "don't",
      "a",        "tokens",    "ünï",    "東京",   "العربية", "\t",
      "ελληνικά", "—",         "…",      "e.g.",   "URL:",    "https://x.org/a"};
  std::uniform_int_distribution<int> pick(0, static_cast<int>(words.size()) - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  const bool crlf = percent(rng) < 30;
  const std::string nl = crlf ? "\r\n" : "\n";
  std::string doc;
  if (percent(rng) < 20) doc += "  " + nl;
  const int n_words = std::uniform_int_distribution<int>(0, 700)(rng);
  for (int w = 0; w < n_words; ++w) {
    const int r = percent(rng);
    if (r < 2) {
      std::string giant;
      for (int k = std::uniform_int_distribution<int>(5, 60)(rng); k > 0; --k) giant += words[pick(rng)];
      doc += giant;
    } else {
      doc += words[pick(rng)];
    }
    const int s = percent(rng);
    if (s < 8)
      doc += ". ";
    else if (s < 10)
      doc += "? ";
    else if (s < 11)
      doc += "! ";
    else if (s < 14)
      doc += nl;
    else if (s < 18)
      doc += nl + (percent(rng) < 50 ? "" : " \t") + nl + (percent(rng) < 30 ? nl : "");
    else if (s < 20)
      doc += "   ";
    else
      doc += " ";
  }
  if (percent(rng) < 30) doc += nl + nl;
  return doc;
}

void check_random_documents(const Tokenizer& tok) {
  std::mt19937 rng(1234);
  for (int32_t max_tokens : {8, 32, 512}) {
    for (int d = 0; d < 25; ++d) {
      const std::string doc = random_document(rng);
      SCOPED_TRACE("max_tokens " + std::to_string(max_tokens) + ", document " + std::to_string(d) + ":\n" + doc);
      const std::vector<Chunk> chunks = chunk_document(tok, doc, max_tokens);
      expect_invariants(tok, doc, chunks, max_tokens);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(Chunker, InvariantsHoldOnRandomDocumentsWithSmolLM2) {
  KVLINK_MODEL_OR_SKIP(path);
  check_random_documents(smollm2(path));
}

TEST(Chunker, InvariantsHoldOnRandomDocumentsWithTinyByteTokenizer) {
  check_random_documents(tiny_tokenizer());
}

}  // namespace
}  // namespace kvlink
