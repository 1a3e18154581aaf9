// The per-layer key/value cache of a sequence: rows of width n_head_kv * head_dim, one per cached
// token, in F16 (default, as llama.cpp) or F32.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "model/hparams.h"
#include "tensor/dtype.h"

namespace kvlink {

// n bytes that read as zero until written. calloc takes large blocks straight from the kernel's
// zero pages, so a cache of many rows costs only the pages its sequences touch: no memset, no copy.
class ZeroedBytes {
 public:
  explicit ZeroedBytes(size_t n);
  ZeroedBytes(const ZeroedBytes& other);  // a copy of the bytes
  ZeroedBytes& operator=(const ZeroedBytes& other);
  ZeroedBytes(ZeroedBytes&&) noexcept = default;
  ZeroedBytes& operator=(ZeroedBytes&&) noexcept = default;
  uint8_t* data() { return p_.get(); }
  const uint8_t* data() const { return p_.get(); }
  size_t size() const { return n_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> p_;
  size_t n_ = 0;
};

struct KVCache {
  DType type = DType::F16;
  int32_t n_ctx = 0;    // rows allocated
  int32_t width = 0;    // n_head_kv * head_dim
  int32_t n_used = 0;   // rows holding tokens
  std::vector<ZeroedBytes> k, v;  // per layer, n_ctx rows

  size_t row_bytes() const;
  uint8_t* k_row(int32_t layer, int32_t row) { return k[static_cast<size_t>(layer)].data() + static_cast<size_t>(row) * row_bytes(); }
  uint8_t* v_row(int32_t layer, int32_t row) { return v[static_cast<size_t>(layer)].data() + static_cast<size_t>(row) * row_bytes(); }
};

// A cache of n_ctx rows for the model; type F16 or F32.
KVCache make_kv_cache(const HParams& hp, int32_t n_ctx, DType type);

}  // namespace kvlink
