#include "kvlink/reuse/cache_load.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kvlink/reuse/position_shift.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "tensor/thread_pool.h"

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
  parallel_for(n_threads, 2 * n_layer, 1, [&](int64_t task0, int64_t task1, int) {
    std::vector<float> buf(static_cast<size_t>(width));
    for (int64_t task = task0; task < task1; ++task) {
      const auto l = static_cast<int32_t>(task / 2);
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
  });
  kv.n_used = std::max(kv.n_used, row + n);
  return 2 * static_cast<size_t>(n_layer) * static_cast<size_t>(n) * chunk.row_bytes();
}

}  // namespace kvlink
