#include "model/kv_cache.h"

#include "tensor/error.h"

namespace kvlink {

size_t KVCache::row_bytes() const { return kvlink::row_bytes(type, width); }

KVCache make_kv_cache(const HParams& hp, int32_t n_ctx, DType type) {
  if (type != DType::F16 && type != DType::F32) throw Error("KV cache type must be f16 or f32");
  if (n_ctx <= 0) throw Error("context size must be positive");
  KVCache c;
  c.type = type;
  c.n_ctx = n_ctx;
  c.width = hp.kv_width();
  const size_t bytes = c.row_bytes() * static_cast<size_t>(n_ctx);
  c.k.assign(static_cast<size_t>(hp.n_layer), std::vector<uint8_t>(bytes));
  c.v.assign(static_cast<size_t>(hp.n_layer), std::vector<uint8_t>(bytes));
  return c;
}

}  // namespace kvlink
