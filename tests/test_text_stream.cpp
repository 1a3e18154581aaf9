// What a streamed answer may show (kvlink/serve/text_stream.h): nothing from a stop string on, a tail
// that may still become a stop string held back until it cannot, incomplete UTF-8 held back, and the
// pieces always adding up to the final text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kvlink/serve/text_stream.h"

namespace kvlink {
namespace {

// Feeds `text` a byte at a time, as the tokens of an answer might arrive; returns the pieces.
std::vector<std::string> feed(TextStream& ts, const std::string& text) {
  std::vector<std::string> pieces;
  for (size_t n = 1; n <= text.size() && !ts.stopped(); ++n) {
    const std::string p = ts.take(text.substr(0, n), false);
    if (!p.empty()) pieces.push_back(p);
  }
  if (!ts.stopped()) pieces.push_back(ts.take(text, true));
  return pieces;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += p;
  return s;
}

TEST(TextStream, WithoutStopsShowsEverything) {
  TextStream ts;
  EXPECT_EQ(join(feed(ts, "Hello, world.")), "Hello, world.");
  EXPECT_FALSE(ts.stopped());
}

TEST(TextStream, EndsBeforeTheStopString) {
  TextStream ts({"\n\n", "END"});
  EXPECT_EQ(join(feed(ts, "one two\n\nthree")), "one two");
  EXPECT_TRUE(ts.stopped());
  TextStream ts2({"END"});
  EXPECT_EQ(join(feed(ts2, "aENDb")), "a");
}

TEST(TextStream, HoldsBackAPossibleStopUntilItCannotBeOne) {
  TextStream ts({"STOP"});
  EXPECT_EQ(ts.take("abc ST", false), "abc ");
  EXPECT_EQ(ts.take("abc STO", false), "");
  EXPECT_EQ(ts.take("abc STOX", false), "STOX");  // not a stop after all
  EXPECT_EQ(ts.take("abc STOX ST", true), " ST");  // the answer ended: nothing left to wait for
  EXPECT_FALSE(ts.stopped());
}

TEST(TextStream, HoldsBackIncompleteUtf8) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80!";  // café € 😀!
  TextStream ts;
  for (const std::string& piece : feed(ts, text)) {
    EXPECT_EQ(incomplete_utf8_tail(piece), 0u) << "a piece ends inside a character";
  }
  EXPECT_EQ(ts.shown(), text);
  EXPECT_EQ(incomplete_utf8_tail("a\xE2\x82"), 2u);
  EXPECT_EQ(incomplete_utf8_tail("a\xE2\x82\xAC"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xF0"), 1u);
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
}

TEST(TextStream, EmptyStopStringsAreIgnored) {
  TextStream ts({""});
  EXPECT_EQ(join(feed(ts, "abc")), "abc");
  EXPECT_FALSE(ts.stopped());
}

}  // namespace
}  // namespace kvlink
