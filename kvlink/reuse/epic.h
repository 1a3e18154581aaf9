// EPIC's LegoLink (Hu et al., "EPIC: Efficient Position-Independent Context Caching for Serving Large
// Language Models", ICML 2025), the `epic` mode's selection: after the chunk caches are loaded and
// shifted as in `reencode`, the first k tokens of every chunk are recomputed at their layout positions
// against everything before them (reuse.cpp). A chunk encoded alone makes its first tokens attention
// sinks of their own; recomputing them lets the chunk's rows be seen as a continuation. A static
// selection, unlike CacheBlend's, so it needs no selection pass.
#pragma once
#include <cstdint>
#include <vector>

#include "kvlink/reuse/layout.h"

namespace kvlink {

// Layout positions of the first min(k, n_i) tokens of every chunk, sorted. k = 0: none; k >= the
// longest chunk: every chunk token (then the prefill equals `full`).
std::vector<int32_t> epic_select(const PromptLayout& layout, int32_t k);

}  // namespace kvlink
