// Prefill of a KVLink prompt layout in each mode (docs/METHOD.md, "What each mode computes"), all through one code path:
//   full        ordinary causal prefill of every token (the reference);
//   kvlink      chunk rows from their caches, keys shifted to global positions, link tokens computed;
//   reencode    the same without link tokens (PromptCache with re-encoded positions);
//   noshift     chunk rows at their local positions (naive concatenation);
//   cacheblend  reencode, then the chunk tokens whose values deviate most are recomputed (cacheblend.h);
//   prefix      reencode with chunk caches encoded after the opening instead of alone (cache_store.h);
//   ape         prefix-conditioned caches placed in parallel, the question's attention over them with a
//               temperature and a log-sum-exp scale (ape.h);
//   epic        reencode, then the first k tokens of every chunk are recomputed (epic.h);
//   prefix-epic prefix's caches, then epic's recomputation (this project's combination of the two).
// The KV cache rows follow the layout order, so row = position. A reuse prefill is three passes and
// one forward: cache load (chunk caches become cache rows, keys shifted; cache_load.h), splice (the
// tokens to compute, link tokens included, form one batch at their own rows), KVLink mask (a
// computed token at position p sees rows 0..p, given to attention as its row: that is what the
// paper's mask lets it see, since each chunk's rows hold what the chunk saw alone). Then one
// forward over the batch.
#pragma once
#include <string>
#include <vector>

#include "kvlink/cache/cache_file.h"
#include "kvlink/reuse/layout.h"
#include "model/context.h"

namespace kvlink {

enum class ReuseMode { FULL, KVLINK, REENCODE, NOSHIFT, CACHEBLEND, PREFIX, APE, EPIC, PREFIX_EPIC };
ReuseMode parse_reuse_mode(const std::string& name);  // throws kvlink::Error for an unknown name
const char* reuse_mode_name(ReuseMode mode);
const char* reuse_mode_names();  // "full, kvlink, ...", for usage and error lines
bool uses_caches(ReuseMode mode);  // every mode but full
// prefix, ape and prefix-epic: chunk caches encoded after the layout's opening (CacheStore::get's prefix).
bool prefix_conditioned(ReuseMode mode);
// Modes that take link tokens: kvlink always (the model's own, or --link-tokens), prefix, epic and
// prefix-epic when they are asked for (--link-tokens K > 0): the modes that shift chunks to their
// layout positions.
bool takes_link_tokens(ReuseMode mode, bool links_requested);
// The tools' mode when none is given: kvlink when the model has trained link tokens (an adapter's,
// or the file's own kvlink.* keys: the trained reuse, 19.7 % on the protocol with the s115 adapter
// against epic's 16.7 without one, docs/RESULTS.md), else epic (the best measured without training
// within 10 % of full's TTFT). Throws what read_link_config throws.
ReuseMode default_reuse_mode(const Model& model);

// Defaults of the alignment parameters, from the sweep on the training sets (docs/REUSE.md).
inline constexpr float kDefaultApeTemperature = 0.6f;
inline constexpr float kDefaultApeScale = 1.0f;
inline constexpr int32_t kDefaultEpicTokens = 8;

struct PrefillOptions {
  ReuseMode mode = ReuseMode::KVLINK;
  double recompute_ratio = 0.15;                 // cacheblend: share of chunk tokens recomputed
  float ape_temperature = kDefaultApeTemperature;  // ape: T of the chunk rows' scores (> 0)
  float ape_scale = kDefaultApeScale;              // ape: S of the chunk rows' log-sum-exp (> 0)
  int32_t epic_tokens = kDefaultEpicTokens;        // epic, prefix-epic: k, tokens recomputed at each chunk's start
};
// Throws kvlink::Error naming the flag when a parameter is out of range (NaN included).
void check_prefill_options(const PrefillOptions& options);

struct ReuseStats {
  int32_t tokens_reused = 0;      // rows taken from chunk caches (recomputed ones excluded)
  int32_t tokens_computed = 0;    // rows computed by the forward pass
  int32_t tokens_recomputed = 0;  // cacheblend, epic: chunk tokens among tokens_computed
  size_t bytes_loaded = 0;        // bytes read from chunk cache files
  double load_ms = 0;             // cache load pass (incl. key shift)
  double select_ms = 0;           // cacheblend: the selection forward
  double compute_ms = 0;          // the forward over the computed tokens
};

// Fills ctx's cache rows 0..layout.n_tokens()-1 and returns the logits of the last suffix token; in
// mode ape, sets ctx's view (ape.h) so that decoding goes on under APE's positions and attention.
// `caches[i]` holds layout.chunks[i]'s encoding (not read in full mode, where it may be empty).
// `opening` (may be null) holds the opening's encoding: the opening is the layout's prefix and sees
// only itself, so its cache, encoded alone at positions 0.., is exact in every mode and is loaded
// instead of computed (the system prompt is the same for every query).
// Throws kvlink::Error when the layout does not fit the context or a cache holds other tokens.
std::vector<float> prefill_layout(Context& ctx, const PromptLayout& layout, const std::vector<const ChunkCacheFile*>& caches,
                                  const PrefillOptions& options, ReuseStats* stats = nullptr,
                                  const ChunkCacheFile* opening = nullptr);

// The splice pass's product: the tokens a reuse prefill computes, at their layout positions.
struct ComputedTokens {
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions;  // increasing
};
// Opening (unless `opening_cached`), link tokens and suffix of `layout`, plus the chunk positions
// listed in `recompute`.
ComputedTokens splice_computed_tokens(const PromptLayout& layout, const std::vector<int32_t>& recompute = {},
                                      bool opening_cached = false);

}  // namespace kvlink
