#include "model/kv_cache.h"

#include <cstring>
#include <string>

#include "tensor/error.h"

namespace kvlink {

ZeroedBytes::ZeroedBytes(size_t n) : p_(static_cast<uint8_t*>(std::calloc(n > 0 ? n : 1, 1))), n_(n) {
  if (!p_) throw Error("out of memory: a KV cache of " + std::to_string(n) + " bytes");
}

ZeroedBytes::ZeroedBytes(const ZeroedBytes& other) : ZeroedBytes(other.n_) {
  if (n_ > 0) std::memcpy(p_.get(), other.p_.get(), n_);
}

ZeroedBytes& ZeroedBytes::operator=(const ZeroedBytes& other) {
  if (this != &other) *this = ZeroedBytes(other);
  return *this;
}

size_t KVCache::row_bytes() const { return kvlink::row_bytes(type, width); }

KVCache make_kv_cache(const HParams& hp, int32_t n_ctx, DType type) {
  if (type != DType::F16 && type != DType::F32) throw Error("KV cache type must be f16 or f32");
  if (n_ctx <= 0) throw Error("context size must be positive");
  KVCache c;
  c.type = type;
  c.n_ctx = n_ctx;
  c.width = hp.kv_width();
  const size_t bytes = c.row_bytes() * static_cast<size_t>(n_ctx);
  c.k.reserve(static_cast<size_t>(hp.n_layer));
  c.v.reserve(static_cast<size_t>(hp.n_layer));
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    c.k.emplace_back(bytes);
    c.v.emplace_back(bytes);
  }
  return c;
}

}  // namespace kvlink
