// What of a growing answer may be shown yet: the text up to the first stop string (OpenAI's `stop`),
// holding back a tail that could still become one, and an incomplete UTF-8 character (a token may end
// inside one). A streaming response sends take()'s pieces; their concatenation is the final text.
#pragma once
#include <string>
#include <vector>

namespace kvlink {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops = {});

  // `text`: the whole answer so far (it only grows). Returns the part not shown before that may be
  // shown now; with `final` (the answer has ended) everything left up to a stop string.
  std::string take(const std::string& text, bool final);
  // A stop string was found: the answer must end (and shows nothing from the stop string on).
  bool stopped() const { return stopped_; }
  const std::string& shown() const { return shown_; }

 private:
  size_t visible_end(const std::string& text, bool final);

  std::vector<std::string> stops_;
  std::string shown_;
  bool stopped_ = false;
};

// Bytes at the end of `s` that begin a UTF-8 character not complete yet (0..3).
size_t incomplete_utf8_tail(const std::string& s);

}  // namespace kvlink
