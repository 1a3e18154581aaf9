#include "kvlink/reuse/cache_load.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kvlink/reuse/position_shift.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace kvlink {

size_t load_chunk_rows(KVCache& kv, const Model& model, const ChunkCacheFile& chunk, int32_t row, int32_t shift,
                       int n_threads) {
  const int32_t n = chunk.n_tokens();
  if (row < 0 || row + n > kv.n_ctx) throw Error("a chunk's cached rows do not fit the context");
  const int64_t width = kv.width;
  const KeyShift key_shift = make_key_shift(model, shift);
  const bool same_type = chunk.kv_type() == kv.type;
  const int32_t n_layer = model.hp.n_layer;
  // Tasks: (layer, K or V). Values of the same element type are copied as they are; everything
  // else goes through F32 (keys to be rotated, other element types).
#pragma omp parallel num_threads(n_threads)
  {
    std::vector<float> buf(static_cast<size_t>(width));
#pragma omp for schedule(dynamic, 1)
    for (int32_t task = 0; task < 2 * n_layer; ++task) {
      const int32_t l = task / 2;
      const bool is_key = task % 2 == 0;
      const uint8_t* src = is_key ? chunk.k_rows(l) : chunk.v_rows(l);
      uint8_t* dst = is_key ? kv.k_row(l, row) : kv.v_row(l, row);
      if (same_type && (!is_key || shift == 0)) {
        std::memcpy(dst, src, static_cast<size_t>(n) * chunk.row_bytes());
        continue;
      }
      for (int32_t t = 0; t < n; ++t) {
        dequantize_row(chunk.kv_type(), src + static_cast<size_t>(t) * chunk.row_bytes(), buf.data(), width);
        if (is_key && shift != 0) shift_key_row(key_shift, buf.data(), width);
        quantize_row(kv.type, buf.data(), dst + static_cast<size_t>(t) * kv.row_bytes(), width);
      }
    }
  }
  kv.n_used = std::max(kv.n_used, row + n);
  return 2 * static_cast<size_t>(n_layer) * static_cast<size_t>(n) * chunk.row_bytes();
}

}  // namespace kvlink
