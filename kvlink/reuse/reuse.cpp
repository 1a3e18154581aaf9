#include "kvlink/reuse/reuse.h"

#include <chrono>
#include <cmath>

#include "kvlink/reuse/ape.h"
#include "kvlink/reuse/cache_load.h"
#include "kvlink/reuse/cacheblend.h"
#include "kvlink/reuse/epic.h"
#include "kvlink/reuse/link_tokens.h"
#include "model/generate.h"
#include "tensor/clock.h"
#include "tensor/error.h"

namespace kvlink {

namespace {
// Every mode's name and the passes it differs by; the predicates below read this table.
struct ModeTraits {
  ReuseMode mode;
  const char* name;
  bool prefix_conditioned;  // chunk caches encoded after the opening
  bool links_on_request;    // shifts chunks to their layout positions, so --link-tokens K > 0 applies
  bool chunk_starts;        // recomputes the first --epic-tokens of every chunk (epic_select)
};
constexpr ModeTraits kModes[] = {
    {ReuseMode::FULL, "full", false, false, false},         {ReuseMode::KVLINK, "kvlink", false, false, false},
    {ReuseMode::REENCODE, "reencode", false, false, false}, {ReuseMode::NOSHIFT, "noshift", false, false, false},
    {ReuseMode::CACHEBLEND, "cacheblend", false, false, false}, {ReuseMode::PREFIX, "prefix", true, true, false},
    {ReuseMode::APE, "ape", true, false, false},            {ReuseMode::EPIC, "epic", false, true, true},
    {ReuseMode::PREFIX_EPIC, "prefix-epic", true, true, true}};

const ModeTraits& traits(ReuseMode mode) {
  for (const ModeTraits& m : kModes) {
    if (mode == m.mode) return m;
  }
  throw Error("unknown reuse mode");
}
}  // namespace

const char* reuse_mode_names() {
  static const std::string names = [] {
    std::string s;
    const size_t n = sizeof(kModes) / sizeof(kModes[0]);
    for (size_t i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kModes[i].name;
    return s;
  }();
  return names.c_str();
}

ReuseMode parse_reuse_mode(const std::string& name) {
  for (const ModeTraits& m : kModes) {
    if (name == m.name) return m.mode;
  }
  throw Error("--mode must be " + std::string(reuse_mode_names()) + ", not '" + name + "'");
}

const char* reuse_mode_name(ReuseMode mode) {
  for (const ModeTraits& m : kModes) {
    if (mode == m.mode) return m.name;
  }
  return "?";
}

bool uses_caches(ReuseMode mode) { return mode != ReuseMode::FULL; }

bool prefix_conditioned(ReuseMode mode) { return traits(mode).prefix_conditioned; }

ReuseMode default_reuse_mode(const Model& model) {
  const LinkConfig links = read_link_config(model);
  return links.trained && links.per_doc > 0 ? ReuseMode::KVLINK : ReuseMode::EPIC;
}

bool takes_link_tokens(ReuseMode mode, bool links_requested) {
  return mode == ReuseMode::KVLINK || (links_requested && traits(mode).links_on_request);
}

void check_prefill_options(const PrefillOptions& o) {
  if (!(o.recompute_ratio >= 0 && o.recompute_ratio <= 1)) throw Error("--recompute-ratio must be in [0, 1]");
  if (!(o.ape_temperature > 0) || !std::isfinite(o.ape_temperature)) throw Error("--ape-temperature must be a number > 0");
  if (!(o.ape_scale > 0) || !std::isfinite(o.ape_scale)) throw Error("--ape-scale must be a number > 0");
  if (o.epic_tokens < 0) throw Error("--epic-tokens must be 0 or more");
}

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

namespace {
// The cache load pass: the opening's and every chunk's rows at their layout rows, keys shifted to
// their positions (none in noshift; in ape every chunk starts right after the opening).
void load_pass(Context& ctx, const PromptLayout& layout, const std::vector<const ChunkCacheFile*>& caches,
               const ChunkCacheFile* opening, ReuseMode mode, ReuseStats& s) {
  if (opening) {
    if (opening->tokens() != layout.opening) throw Error("the opening's cache does not hold the opening's tokens");
    s.bytes_loaded += load_chunk_rows(ctx.cache(), ctx.model(), *opening, 0, 0, ctx.n_threads());
    s.tokens_reused += opening->n_tokens();
  }
  const auto opening_size = static_cast<int32_t>(layout.opening.size());
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    if (caches[i]->tokens() != layout.chunks[i]) throw Error("a chunk cache does not hold its chunk's tokens");
    const int32_t row = layout.chunk_start(i);
    const int32_t shift = mode == ReuseMode::NOSHIFT ? 0 : mode == ReuseMode::APE ? opening_size : row;
    s.bytes_loaded += load_chunk_rows(ctx.cache(), ctx.model(), *caches[i], row, shift, ctx.n_threads());
    s.tokens_reused += caches[i]->n_tokens();
  }
}

// The chunk positions a mode recomputes: CacheBlend's selection, EPIC's chunk starts (also over
// prefix-conditioned caches), else none.
std::vector<int32_t> recompute_pass(Context& ctx, const PromptLayout& layout, const PrefillOptions& o, ReuseStats& s) {
  const auto t0 = Clock::now();
  std::vector<int32_t> recompute;
  if (o.mode == ReuseMode::CACHEBLEND) recompute = cacheblend_select(ctx, layout, o.recompute_ratio);
  if (traits(o.mode).chunk_starts) recompute = epic_select(layout, o.epic_tokens);
  s.select_ms = ms_since(t0);
  return recompute;
}

// The computed tokens as one batch at their own rows (the KVLink mask: the token at row p sees rows
// 0..p). Under ape the rows keep the layout order, the positions follow APE's placement, and the
// tokens after the chunks attend under APE's view.
Batch computed_batch(const ComputedTokens& c, const PromptLayout& layout, const PrefillOptions& o, SequenceView* view) {
  Batch batch;
  batch.tokens = c.tokens;
  batch.positions = c.positions;
  batch.rows = c.positions;
  batch.output_rows = {static_cast<int32_t>(c.tokens.size()) - 1};
  if (o.mode != ReuseMode::APE) return batch;
  *view = ape_view(layout, o.ape_temperature, o.ape_scale);
  for (size_t i = 0; i < batch.tokens.size(); ++i) {
    if (batch.rows[i] >= view->context_end) {
      apply_sequence_view(batch, i, *view);
    } else {
      batch.positions[i] = ape_position(layout, batch.rows[i]);
    }
  }
  return batch;
}
}  // namespace

std::vector<float> prefill_layout(Context& ctx, const PromptLayout& layout, const std::vector<const ChunkCacheFile*>& caches,
                                  const PrefillOptions& options, ReuseStats* stats, const ChunkCacheFile* opening) {
  if (layout.suffix.empty()) throw Error("the layout needs a suffix (the question)");
  check_prefill_options(options);
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
  auto t0 = Clock::now();
  load_pass(ctx, layout, caches, opening, options.mode, s);
  s.load_ms = ms_since(t0);
  const std::vector<int32_t> recompute = recompute_pass(ctx, layout, options, s);

  // Splice pass, then one forward over the computed tokens at their own rows.
  t0 = Clock::now();
  const ComputedTokens c = splice_computed_tokens(layout, recompute, opening != nullptr);
  SequenceView view;
  std::vector<float> logits = ctx.eval(computed_batch(c, layout, options, &view));
  ctx.set_view(view);
  s.compute_ms = ms_since(t0);
  s.tokens_computed = static_cast<int32_t>(c.tokens.size());
  s.tokens_recomputed = static_cast<int32_t>(recompute.size());
  s.tokens_reused -= s.tokens_recomputed;
  if (stats) *stats = s;
  return logits;
}

}  // namespace kvlink
