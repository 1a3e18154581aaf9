#include "kvlink/cache/chunk_encoder.h"

#include <cstring>

#include "kvlink/reuse/position_shift.h"
#include "model/context.h"
#include "tensor/error.h"

namespace kvlink {

CacheGeometry cache_geometry(const Model& model) {
  return CacheGeometry{model.hp.n_layer, model.hp.n_head_kv, model.hp.head_dim};
}

namespace {
// Rows first_row.. of ctx's F32 cache, one per token, as a ChunkKV.
ChunkKV read_rows(Context& ctx, const std::vector<TokenId>& tokens, int32_t first_row) {
  ChunkKV kv;
  kv.tokens = tokens;
  const size_t floats = tokens.size() * static_cast<size_t>(ctx.cache().width);
  for (int32_t l = 0; l < ctx.model().hp.n_layer; ++l) {
    kv.k.emplace_back(floats);
    kv.v.emplace_back(floats);
    std::memcpy(kv.k.back().data(), ctx.cache().k_row(l, first_row), floats * sizeof(float));
    std::memcpy(kv.v.back().data(), ctx.cache().v_row(l, first_row), floats * sizeof(float));
  }
  return kv;
}
}  // namespace

ChunkKV encode_chunk(const Model& model, const std::vector<TokenId>& tokens, int n_threads, int32_t first_position) {
  if (tokens.empty()) throw Error("cannot encode an empty chunk");
  const auto n = static_cast<int32_t>(tokens.size());
  // An F32 cache keeps the rows exact; the file's element type is chosen when writing.
  Context ctx(model, ContextParams{n, DType::F32, n_threads});
  Batch batch = make_causal_batch(tokens, 0);
  for (int32_t i = 0; i < n; ++i) batch.positions[static_cast<size_t>(i)] = first_position + i;
  batch.output_rows.clear();
  ctx.eval(batch);
  return read_rows(ctx, tokens, 0);
}

ChunkKV encode_chunk_after(const Model& model, const std::vector<TokenId>& prefix, const std::vector<TokenId>& tokens,
                           int n_threads) {
  if (prefix.empty()) return encode_chunk(model, tokens, n_threads);
  if (tokens.empty()) throw Error("cannot encode an empty chunk");
  const auto m = static_cast<int32_t>(prefix.size());
  Context ctx(model, ContextParams{m + static_cast<int32_t>(tokens.size()), DType::F32, n_threads});
  for (const auto& [part, row] : {std::pair{&prefix, 0}, std::pair{&tokens, m}}) {
    Batch batch = make_causal_batch(*part, row);
    batch.output_rows.clear();
    ctx.eval(batch);
  }
  ChunkKV kv = read_rows(ctx, tokens, m);
  for (auto& k : kv.k) shift_key_rows(model, k, -m, n_threads);
  return kv;
}

}  // namespace kvlink
