#include "kvlink/reuse/ape.h"

#include <algorithm>

#include "tensor/error.h"

namespace kvlink {

namespace {
struct ApeSpans {
  int32_t opening = 0, chunks_end = 0, longest = 0;
};

ApeSpans spans_of(const PromptLayout& layout) {
  if (!layout.links.empty()) throw Error("mode ape places the chunks in parallel and takes no link tokens");
  ApeSpans s;
  s.opening = static_cast<int32_t>(layout.opening.size());
  s.chunks_end = s.opening;
  for (const auto& c : layout.chunks) {
    s.chunks_end += static_cast<int32_t>(c.size());
    s.longest = std::max(s.longest, static_cast<int32_t>(c.size()));
  }
  return s;
}
}  // namespace

int32_t ape_position(const PromptLayout& layout, int32_t row) {
  const ApeSpans s = spans_of(layout);
  if (row < s.opening) return row;
  if (row >= s.chunks_end) return row - s.chunks_end + s.opening + s.longest;
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    const int32_t begin = layout.chunk_start(i);
    if (row < begin + static_cast<int32_t>(layout.chunks[i].size())) return s.opening + row - begin;
  }
  return row;  // not reached: the chunk rows are covered above
}

SequenceView ape_view(const PromptLayout& layout, float temperature, float lse_scale) {
  if (!(temperature > 0) || !(lse_scale > 0)) throw Error("ape's temperature and scale must be positive numbers");
  const ApeSpans s = spans_of(layout);
  SequenceView v;
  v.position_offset = s.opening + s.longest - s.chunks_end;
  v.context_begin = s.opening;
  v.context_end = s.chunks_end;
  v.temperature = temperature;
  v.lse_scale = lse_scale;
  return v;
}

}  // namespace kvlink
