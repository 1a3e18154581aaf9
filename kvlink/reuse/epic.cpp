#include "kvlink/reuse/epic.h"

#include <algorithm>

#include "tensor/error.h"

namespace kvlink {

std::vector<int32_t> epic_select(const PromptLayout& layout, int32_t k) {
  if (k < 0) throw Error("epic's recomputed tokens per chunk must be 0 or more");
  std::vector<int32_t> selected;
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    const int32_t begin = layout.chunk_start(i);
    const int32_t n = std::min(k, static_cast<int32_t>(layout.chunks[i].size()));
    for (int32_t t = 0; t < n; ++t) selected.push_back(begin + t);
  }
  return selected;
}

}  // namespace kvlink
