// Prefill from reused chunk caches (KVLink steps 2 and 3): the opening is computed, each chunk's
// cached K/V rows are placed at its global rows with keys shifted from local to global positions,
// and link tokens and the suffix are computed at query time with causal attention over everything
// before them - which is exactly what the KVLink mask allows them to see, since chunk rows already
// hold what the chunk saw on its own.
#pragma once
#include <vector>

#include "kvlink/cache_file.h"
#include "kvlink/layout.h"
#include "model/context.h"

namespace kvlink {

struct ReuseStats {
  int32_t tokens_reused = 0;
  int32_t tokens_computed = 0;
  size_t bytes_loaded = 0;
};

// `caches[i]` holds layout.chunks[i]'s encoding (its tokens must match). `shift` false keeps keys at
// their local positions (the naive "noshift" mode). Fills ctx's cache rows 0..n_tokens-1 and returns
// the logits of the last suffix token.
std::vector<float> prefill_with_caches(Context& ctx, const PromptLayout& layout,
                                       const std::vector<const ChunkCacheFile*>& caches, bool shift = true,
                                       ReuseStats* stats = nullptr);

}  // namespace kvlink
