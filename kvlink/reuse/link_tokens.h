// Link tokens (KVLink step 3): K tokens placed after each document chunk and computed at query time,
// so the chunks that were encoded apart can attend to each other through them. Their ids come from
// the model's kvlink.* GGUF metadata when it was fine-tuned for KVLink (docs/LINK_TOKENS.md); an
// untrained model gets none, or untrained placeholders when asked for (--link-tokens K).
#pragma once
#include <cstdint>
#include <vector>

#include "model/llama_model.h"

namespace kvlink {

// GGUF metadata keys written by the fine-tuning export (docs/LINK_TOKENS.md).
inline constexpr const char* kKeyLinkVersion = "kvlink.version";
inline constexpr const char* kKeyLinkPerDoc = "kvlink.link_tokens_per_doc";
inline constexpr const char* kKeyLinkMaxDocs = "kvlink.max_docs";
inline constexpr const char* kKeyLinkIds = "kvlink.link_token_ids";
inline constexpr uint32_t kLinkMetadataVersion = 1;

struct LinkConfig {
  int32_t per_doc = 0;        // K: link tokens after each chunk
  int32_t max_docs = 0;       // S: chunk slots with ids of their own
  std::vector<TokenId> ids;   // S * K ids, slot-major: slot i, link o -> ids[i * K + o]
  bool trained = false;       // ids from the model's metadata (false: none or placeholders)
  bool requested = false;     // asked for with --link-tokens K > 0 (prefix and epic splice them then)
};

// The model's link tokens from its kvlink.* metadata (the attached adapter's when it has them, else
// the base file's); per_doc 0 when it has none. Throws kvlink::Error when the metadata is present but
// inconsistent (wrong version, count, or an id outside the vocabulary, n_vocab_total()).
LinkConfig read_link_config(const Model& model);

// The rule for `--link-tokens K` (K < 0: not given):
//  - not given: the model's own link tokens (none for an untrained model);
//  - K = 0: no link tokens, trained or not;
//  - K > 0 on a trained model: must equal the trained K (other counts have no embeddings);
//  - K > 0 on an untrained model: K placeholders per slot for max_docs slots, ids taken from the top
//    of the vocabulary (slot i, link o -> n_vocab - 1 - (i * K + o)): distinct per slot as the method
//    requires, but untrained, so they show the cost of link tokens, not their benefit.
LinkConfig resolve_link_config(const Model& model, int32_t requested, int32_t max_docs);

// The rule for how many chunk slots link tokens are made for (placeholders on an untrained model):
// kDefaultLinkSlots (the slots the training here uses), or more when a query has more chunks.
inline constexpr int32_t kDefaultLinkSlots = 20;
inline int32_t link_slots_for(size_t n_chunks) {
  return n_chunks > static_cast<size_t>(kDefaultLinkSlots) ? static_cast<int32_t>(n_chunks) : kDefaultLinkSlots;
}

// Link ids for n_chunks chunks: entry i follows chunk i. Empty when per_doc is 0. Throws when
// n_chunks exceeds max_docs.
std::vector<std::vector<TokenId>> link_ids_for(const LinkConfig& config, size_t n_chunks);

// True when `id` is one of the config's link tokens (sampling must never emit one).
bool is_link_token(const LinkConfig& config, TokenId id);

}  // namespace kvlink
