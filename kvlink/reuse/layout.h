// The KVLink prompt layout: opening (system prompt + start of the user turn), then each document
// chunk followed by its link tokens, then the suffix (question + assistant opening). Positions run
// contiguously over the whole layout. Also the paper's segment mask over that layout, used by the
// single-pass reference (docs/METHOD.md): chunk tokens see only their own chunk; opening, link and
// suffix tokens see everything before them.
#pragma once
#include <cstdint>
#include <vector>

#include "model/tokenizer.h"

namespace kvlink {

struct PromptLayout {
  std::vector<TokenId> opening;
  std::vector<std::vector<TokenId>> chunks;
  std::vector<std::vector<TokenId>> links;  // links[i] follow chunks[i]; empty for no link tokens
  std::vector<TokenId> suffix;

  int32_t n_tokens() const;
  std::vector<TokenId> flatten() const;
  int32_t chunk_start(size_t i) const;  // position of chunks[i]'s first token
};

// Additive mask [n_tokens x n_tokens] (row = query, 0 visible, -inf hidden), row-major.
std::vector<float> kvlink_segment_mask(const PromptLayout& layout);

}  // namespace kvlink
