#include "kvlink/reuse.h"


#include "kvlink/position_shift.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace kvlink {

namespace {

// Runs `tokens` at consecutive rows/positions starting at `row`; returns logits of the last one
// when `want_logits`.
std::vector<float> run_segment(Context& ctx, const std::vector<TokenId>& tokens, int32_t row, bool want_logits) {
  if (tokens.empty()) return {};
  Batch batch = make_causal_batch(tokens, row);
  if (!want_logits) batch.output_rows.clear();
  return ctx.eval(batch);
}

// Copies a chunk's cached rows into the context's KV cache at `row`, shifting keys by `shift_by`.
void place_chunk(Context& ctx, const ChunkCacheFile& cache, int32_t row, int32_t shift_by) {
  KVCache& kv = ctx.cache();
  const Model& model = ctx.model();
  const int32_t n = cache.n_tokens();
  const int64_t width = kv.width;
  std::vector<float> rows(static_cast<size_t>(n * width));
  for (int32_t l = 0; l < model.hp.n_layer; ++l) {
    for (int which = 0; which < 2; ++which) {
      const uint8_t* src = which ? cache.v_rows(l) : cache.k_rows(l);
      for (int32_t t = 0; t < n; ++t) {
        dequantize_row(cache.kv_type(), src + static_cast<size_t>(t) * cache.row_bytes(), rows.data() + t * width, width);
      }
      if (which == 0 && shift_by != 0) shift_key_rows(model, rows, shift_by, ctx.n_threads());
      for (int32_t t = 0; t < n; ++t) {
        uint8_t* dst = which ? kv.v_row(l, row + t) : kv.k_row(l, row + t);
        quantize_row(kv.type, rows.data() + t * width, dst, width);
      }
    }
  }
  kv.n_used = std::max(kv.n_used, row + n);
}

}  // namespace

std::vector<float> prefill_with_caches(Context& ctx, const PromptLayout& layout,
                                       const std::vector<const ChunkCacheFile*>& caches, bool shift, ReuseStats* stats) {
  if (caches.size() != layout.chunks.size()) throw Error("one cache per chunk is needed");
  if (layout.suffix.empty()) throw Error("the layout needs a suffix (the question)");
  if (layout.n_tokens() > ctx.cache().n_ctx) {
    throw Error("the prompt has " + std::to_string(layout.n_tokens()) + " tokens but the context holds " +
                std::to_string(ctx.cache().n_ctx));
  }
  ReuseStats s;
  run_segment(ctx, layout.opening, 0, false);
  s.tokens_computed += static_cast<int32_t>(layout.opening.size());
  int32_t row = static_cast<int32_t>(layout.opening.size());
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    if (caches[i]->tokens() != layout.chunks[i]) throw Error("a chunk cache does not hold its chunk's tokens");
    place_chunk(ctx, *caches[i], row, shift ? row : 0);
    s.tokens_reused += caches[i]->n_tokens();
    s.bytes_loaded += 2 * caches[i]->row_bytes() * static_cast<size_t>(caches[i]->n_tokens()) *
                      static_cast<size_t>(ctx.model().hp.n_layer);
    row += caches[i]->n_tokens();
    if (!layout.links.empty() && !layout.links[i].empty()) {
      run_segment(ctx, layout.links[i], row, false);
      s.tokens_computed += static_cast<int32_t>(layout.links[i].size());
      row += static_cast<int32_t>(layout.links[i].size());
    }
  }
  std::vector<float> logits = run_segment(ctx, layout.suffix, row, true);
  s.tokens_computed += static_cast<int32_t>(layout.suffix.size());
  if (stats) *stats = s;
  return logits;
}

}  // namespace kvlink
