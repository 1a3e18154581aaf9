#include "kvlink/reuse.h"

#include <chrono>

#include "kvlink/cache_load.h"
#include "kvlink/cacheblend.h"
#include "model/generate.h"
#include "tensor/error.h"

namespace kvlink {

ReuseMode parse_reuse_mode(const std::string& name) {
  if (name == "full") return ReuseMode::FULL;
  if (name == "kvlink") return ReuseMode::KVLINK;
  if (name == "reencode") return ReuseMode::REENCODE;
  if (name == "noshift") return ReuseMode::NOSHIFT;
  if (name == "cacheblend") return ReuseMode::CACHEBLEND;
  throw Error("--mode must be full, kvlink, reencode, noshift or cacheblend, not '" + name + "'");
}

const char* reuse_mode_name(ReuseMode mode) {
  switch (mode) {
    case ReuseMode::FULL: return "full";
    case ReuseMode::KVLINK: return "kvlink";
    case ReuseMode::REENCODE: return "reencode";
    case ReuseMode::NOSHIFT: return "noshift";
    case ReuseMode::CACHEBLEND: return "cacheblend";
  }
  return "?";
}

bool uses_caches(ReuseMode mode) { return mode != ReuseMode::FULL; }

ComputedTokens splice_computed_tokens(const PromptLayout& layout, const std::vector<int32_t>& recompute,
                                      bool opening_cached) {
  if (!layout.links.empty() && layout.links.size() != layout.chunks.size()) {
    throw Error("layout needs one link-token list per chunk");
  }
  const std::vector<TokenId> all = layout.flatten();
  std::vector<uint8_t> computed(all.size(), 1);
  if (opening_cached) std::fill_n(computed.begin(), layout.opening.size(), 0);
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    const auto begin = static_cast<size_t>(layout.chunk_start(i));
    std::fill_n(computed.begin() + static_cast<std::ptrdiff_t>(begin), layout.chunks[i].size(), 0);
  }
  for (int32_t p : recompute) {
    if (p < 0 || static_cast<size_t>(p) >= all.size()) throw Error("recomputed position outside the layout");
    computed[static_cast<size_t>(p)] = 1;
  }
  ComputedTokens c;
  for (size_t p = 0; p < all.size(); ++p) {
    if (!computed[p]) continue;
    c.tokens.push_back(all[p]);
    c.positions.push_back(static_cast<int32_t>(p));
  }
  return c;
}

std::vector<float> prefill_layout(Context& ctx, const PromptLayout& layout, const std::vector<const ChunkCacheFile*>& caches,
                                  const PrefillOptions& options, ReuseStats* stats, const ChunkCacheFile* opening) {
  if (layout.suffix.empty()) throw Error("the layout needs a suffix (the question)");
  const int32_t n = layout.n_tokens();
  if (n > ctx.cache().n_ctx) {
    throw Error("the prompt has " + std::to_string(n) + " tokens but the context holds " + std::to_string(ctx.cache().n_ctx));
  }
  ReuseStats s;
  ctx.clear();
  if (options.mode == ReuseMode::FULL) {
    const auto t0 = Clock::now();
    std::vector<float> logits = ctx.eval(make_causal_batch(layout.flatten(), 0));
    s.tokens_computed = n;
    s.compute_ms = ms_since(t0);
    if (stats) *stats = s;
    return logits;
  }
  if (caches.size() != layout.chunks.size()) throw Error("one cache per chunk is needed");

  // Cache load pass: chunk rows at their layout rows, keys shifted to their global positions.
  auto t0 = Clock::now();
  if (opening) {
    if (opening->tokens() != layout.opening) throw Error("the opening's cache does not hold the opening's tokens");
    s.bytes_loaded += load_chunk_rows(ctx.cache(), ctx.model(), *opening, 0, 0, ctx.n_threads());
    s.tokens_reused += opening->n_tokens();
  }
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    if (caches[i]->tokens() != layout.chunks[i]) throw Error("a chunk cache does not hold its chunk's tokens");
    const int32_t row = layout.chunk_start(i);
    const int32_t shift = options.mode == ReuseMode::NOSHIFT ? 0 : row;
    s.bytes_loaded += load_chunk_rows(ctx.cache(), ctx.model(), *caches[i], row, shift, ctx.n_threads());
    s.tokens_reused += caches[i]->n_tokens();
  }
  s.load_ms = ms_since(t0);

  // CacheBlend picks chunk tokens to recompute; the other modes recompute none.
  std::vector<int32_t> recompute;
  if (options.mode == ReuseMode::CACHEBLEND) {
    t0 = Clock::now();
    recompute = cacheblend_select(ctx, layout, options.recompute_ratio);
    s.select_ms = ms_since(t0);
  }

  // Splice pass, then one forward over the computed tokens at their own rows.
  t0 = Clock::now();
  const ComputedTokens c = splice_computed_tokens(layout, recompute, opening != nullptr);
  Batch batch;
  batch.tokens = c.tokens;
  batch.positions = c.positions;
  batch.rows = c.positions;  // the KVLink mask: the token at position p sees rows 0..p
  batch.output_rows = {static_cast<int32_t>(c.tokens.size()) - 1};
  std::vector<float> logits = ctx.eval(batch);
  s.compute_ms = ms_since(t0);
  s.tokens_computed = static_cast<int32_t>(c.tokens.size());
  s.tokens_recomputed = static_cast<int32_t>(recompute.size());
  s.tokens_reused -= s.tokens_recomputed;
  if (stats) *stats = s;
  return logits;
}

}  // namespace kvlink
