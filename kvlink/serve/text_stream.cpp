#include "kvlink/serve/text_stream.h"

#include <algorithm>

namespace kvlink {

TextStream::TextStream(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

size_t incomplete_utf8_tail(const std::string& s) {
  // Walk back over at most 3 continuation bytes to the lead byte, then compare the length it announces.
  for (size_t back = 1; back <= std::min<size_t>(4, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

size_t TextStream::visible_end(const std::string& text, bool final) {
  size_t end = text.size();
  for (const std::string& stop : stops_) {
    // Text already shown holds no stop string and no start of one (it was held back), so the search
    // starts where the shown text ends instead of at the answer's start, every token.
    const size_t at = text.find(stop, shown_.size());
    if (at != std::string::npos && at < end) {
      end = at;
      stopped_ = true;
    }
  }
  if (stopped_ || final) return end;
  // Hold back the longest tail that is the start of a stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, text.size()); n > hold; --n) {
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  end -= hold;
  return end - incomplete_utf8_tail(text.substr(0, end));
}

std::string TextStream::take(const std::string& text, bool final) {
  const size_t end = std::max(visible_end(text, final), shown_.size());
  std::string piece = text.substr(shown_.size(), end - shown_.size());
  shown_ += piece;
  return piece;
}

}  // namespace kvlink
