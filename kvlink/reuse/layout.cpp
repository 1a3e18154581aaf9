#include "kvlink/reuse/layout.h"

#include <limits>

#include "tensor/error.h"

namespace kvlink {

int32_t PromptLayout::n_tokens() const {
  size_t n = opening.size() + suffix.size();
  for (const auto& c : chunks) n += c.size();
  for (const auto& l : links) n += l.size();
  return static_cast<int32_t>(n);
}

std::vector<TokenId> PromptLayout::flatten() const {
  if (!links.empty() && links.size() != chunks.size()) throw Error("layout needs one link-token list per chunk");
  std::vector<TokenId> out(opening);
  for (size_t i = 0; i < chunks.size(); ++i) {
    out.insert(out.end(), chunks[i].begin(), chunks[i].end());
    if (!links.empty()) out.insert(out.end(), links[i].begin(), links[i].end());
  }
  out.insert(out.end(), suffix.begin(), suffix.end());
  return out;
}

int32_t PromptLayout::chunk_start(size_t i) const {
  size_t p = opening.size();
  for (size_t j = 0; j < i; ++j) p += chunks[j].size() + (links.empty() ? 0 : links[j].size());
  return static_cast<int32_t>(p);
}

std::vector<float> kvlink_segment_mask(const PromptLayout& layout) {
  const int32_t n = layout.n_tokens();
  const float hidden = -std::numeric_limits<float>::infinity();
  std::vector<float> mask(static_cast<size_t>(n) * static_cast<size_t>(n), hidden);
  // Causal everywhere first, then restrict chunk rows to their own chunk.
  for (int32_t q = 0; q < n; ++q) {
    for (int32_t k = 0; k <= q; ++k) mask[static_cast<size_t>(q) * n + k] = 0.0f;
  }
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    const int32_t begin = layout.chunk_start(i);
    const int32_t end = begin + static_cast<int32_t>(layout.chunks[i].size());
    for (int32_t q = begin; q < end; ++q) {
      for (int32_t k = 0; k < begin; ++k) mask[static_cast<size_t>(q) * n + k] = hidden;
    }
  }
  return mask;
}

}  // namespace kvlink
