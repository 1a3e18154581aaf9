// CacheBlend-style selective recompute (Yao et al., "CacheBlend: Fast Large Language Model Serving for
// RAG with Cached Knowledge Fusion", EuroSys 2025), the `cacheblend` mode's selection step. After the
// chunk caches are loaded and shifted, the tokens whose KV deviates most from a full prefill are
// recomputed in the query's forward pass (reuse.cpp), where they attend to everything before them.
#pragma once
#include <cstdint>
#include <vector>

#include "kvlink/reuse/layout.h"
#include "model/context.h"

namespace kvlink {

// Chunk positions to recompute: the ceil(ratio x chunk tokens) whose layer-1 value rows differ most
// (squared L2) between the loaded caches and a full causal pass over layer 0 and layer 1's keys and
// values (its query, attention and feed-forward are not needed, so not computed). Layer 1 is
// the first whose inputs depend on other tokens (layer 0's K/V are projections of the token alone),
// so it is the earliest layer where cross-chunk attention shows. ratio <= 0: none; >= 1: all (no
// selection pass). Precondition: ctx holds the loaded, shifted chunk rows. Sorted positions.
std::vector<int32_t> cacheblend_select(Context& ctx, const PromptLayout& layout, double ratio);

}  // namespace kvlink
