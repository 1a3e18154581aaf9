// The cache-load pass of a reuse query: a chunk's stored K/V rows become rows of the query's KV cache
// (the graph's cache inputs), converted to the cache's element type, with keys rotated from local to
// global positions on the way (position_shift.h). One pass over the bytes, parallel over layers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kvlink/cache/cache_file.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace kvlink {

// Writes `chunk`'s rows into cache rows row..row+n-1, keys shifted by `shift` positions (0: kept at
// their local positions). Returns the bytes read from the chunk's file. Throws kvlink::Error when the
// rows do not fit.
size_t load_chunk_rows(KVCache& kv, const Model& model, const ChunkCacheFile& chunk, int32_t row, int32_t shift,
                       int n_threads);

}  // namespace kvlink
