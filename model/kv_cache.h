// The per-layer key/value cache of a sequence: rows of width n_head_kv * head_dim, one per cached
// token, in F16 (default, as llama.cpp) or F32.
#pragma once
#include <cstdint>
#include <vector>

#include "model/hparams.h"
#include "tensor/dtype.h"

namespace kvlink {

struct KVCache {
  DType type = DType::F16;
  int32_t n_ctx = 0;    // rows allocated
  int32_t width = 0;    // n_head_kv * head_dim
  int32_t n_used = 0;   // rows holding tokens
  std::vector<std::vector<uint8_t>> k, v;  // per layer, n_ctx rows

  size_t row_bytes() const;
  uint8_t* k_row(int32_t layer, int32_t row) { return k[static_cast<size_t>(layer)].data() + static_cast<size_t>(row) * row_bytes(); }
  uint8_t* v_row(int32_t layer, int32_t row) { return v[static_cast<size_t>(layer)].data() + static_cast<size_t>(row) * row_bytes(); }
};

// A cache of n_ctx rows for the model; type F16 or F32.
KVCache make_kv_cache(const HParams& hp, int32_t n_ctx, DType type);

}  // namespace kvlink
