#include "kvlink/reuse/link_tokens.h"

#include <algorithm>
#include <string>

#include "tensor/error.h"

namespace kvlink {

LinkConfig read_link_config(const Model& model) {
  // An adapter that carries kvlink.* keys speaks for the adapted model; otherwise the base file's.
  const bool from_adapter = model.adapter && model.adapter->file.has(kKeyLinkPerDoc);
  const GGUFFile& f = from_adapter ? model.adapter->file : model.file;
  LinkConfig c;
  if (!f.has(kKeyLinkPerDoc)) return c;
  auto fail = [&](const std::string& what) { throw Error(f.path() + ": kvlink metadata: " + what); };
  const int64_t version = f.get_int_or(kKeyLinkVersion, -1);
  if (version != kLinkMetadataVersion) fail(std::string(kKeyLinkVersion) + " is " + std::to_string(version) + ", expected 1");
  const int64_t per_doc = f.get_int(kKeyLinkPerDoc);
  const int64_t max_docs = f.get_int(kKeyLinkMaxDocs);
  if (per_doc < 0 || per_doc > 64) fail("link tokens per document must be 0..64");
  if (max_docs < 1 || max_docs > 4096) fail("maximum documents must be 1..4096");
  const std::vector<int64_t>& ids = f.get_int_array(kKeyLinkIds);
  if (static_cast<int64_t>(ids.size()) != per_doc * max_docs) {
    fail(std::to_string(ids.size()) + " link token ids for " + std::to_string(max_docs) + " documents x " +
         std::to_string(per_doc));
  }
  for (int64_t id : ids) {
    if (id < 0 || id >= model.n_vocab_total()) {
      fail("link token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(model.n_vocab_total()));
    }
  }
  c.per_doc = static_cast<int32_t>(per_doc);
  c.max_docs = static_cast<int32_t>(max_docs);
  c.ids.assign(ids.begin(), ids.end());
  c.trained = per_doc > 0;
  return c;
}

LinkConfig resolve_link_config(const Model& model, int32_t requested, int32_t max_docs) {
  LinkConfig own = read_link_config(model);
  if (requested < 0) return own;
  if (requested == 0) return LinkConfig{};
  if (own.trained) {
    if (requested != own.per_doc) {
      throw Error("--link-tokens " + std::to_string(requested) + ": the model was trained with " +
                  std::to_string(own.per_doc) + " link tokens per document");
    }
    own.requested = true;
    return own;
  }
  const int64_t needed = static_cast<int64_t>(requested) * max_docs;
  if (requested > 64 || needed >= model.hp.n_vocab) throw Error("--link-tokens " + std::to_string(requested) + " is too many");
  LinkConfig c;
  c.per_doc = requested;
  c.max_docs = max_docs;
  c.requested = true;
  for (int64_t i = 0; i < needed; ++i) c.ids.push_back(static_cast<TokenId>(model.hp.n_vocab - 1 - i));
  return c;
}

std::vector<std::vector<TokenId>> link_ids_for(const LinkConfig& c, size_t n_chunks) {
  if (c.per_doc == 0) return {};
  if (n_chunks > static_cast<size_t>(c.max_docs)) {
    throw Error(std::to_string(n_chunks) + " chunks, but link tokens exist for at most " + std::to_string(c.max_docs) +
                " documents");
  }
  std::vector<std::vector<TokenId>> out(n_chunks);
  for (size_t i = 0; i < n_chunks; ++i) {
    const auto first = c.ids.begin() + static_cast<std::ptrdiff_t>(i * static_cast<size_t>(c.per_doc));
    out[i].assign(first, first + c.per_doc);
  }
  return out;
}

bool is_link_token(const LinkConfig& c, TokenId id) { return std::find(c.ids.begin(), c.ids.end(), id) != c.ids.end(); }

}  // namespace kvlink
