#include "kvlink/chunk_encoder.h"

#include <cstring>

#include "model/context.h"
#include "tensor/error.h"

namespace kvlink {

CacheGeometry cache_geometry(const Model& model) {
  return CacheGeometry{model.hp.n_layer, model.hp.n_head_kv, model.hp.head_dim};
}

ChunkKV encode_chunk(const Model& model, const std::vector<TokenId>& tokens, int n_threads, int32_t first_position) {
  if (tokens.empty()) throw Error("cannot encode an empty chunk");
  const auto n = static_cast<int32_t>(tokens.size());
  // An F32 cache keeps the rows exact; the file's element type is chosen when writing.
  Context ctx(model, ContextParams{n, DType::F32, n_threads});
  Batch batch = make_causal_batch(tokens, 0);
  for (int32_t i = 0; i < n; ++i) batch.positions[static_cast<size_t>(i)] = first_position + i;
  batch.output_rows.clear();
  ctx.eval(batch);
  ChunkKV kv;
  kv.tokens = tokens;
  const size_t floats = static_cast<size_t>(n) * static_cast<size_t>(ctx.cache().width);
  for (int32_t l = 0; l < model.hp.n_layer; ++l) {
    kv.k.emplace_back(floats);
    kv.v.emplace_back(floats);
    std::memcpy(kv.k.back().data(), ctx.cache().k_row(l, 0), floats * sizeof(float));
    std::memcpy(kv.v.back().data(), ctx.cache().v_row(l, 0), floats * sizeof(float));
  }
  return kv;
}

}  // namespace kvlink
