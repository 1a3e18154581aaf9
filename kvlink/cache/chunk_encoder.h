// Encodes one document chunk on its own (KVLink step 1): causal attention over its tokens only, at
// RoPE positions first_position..first_position+n-1, no BOS or neighbour, no logits. Returns the
// K (rotated to those positions) and V rows of every layer as F32.
#pragma once
#include <vector>

#include "kvlink/cache/cache_file.h"
#include "model/llama_model.h"

namespace kvlink {

CacheGeometry cache_geometry(const Model& model);

ChunkKV encode_chunk(const Model& model, const std::vector<TokenId>& tokens, int n_threads, int32_t first_position = 0);

// The chunk encoded after `prefix` (modes prefix and ape): the prefix at positions 0..m-1, then the
// chunk at m..m+n-1, attending causally to the prefix and itself. Returns only the chunk's rows, with
// keys rotated back to local positions 0..n-1 (position_shift.h), so that every cache file holds its
// keys at local positions and loads the same way.
ChunkKV encode_chunk_after(const Model& model, const std::vector<TokenId>& prefix, const std::vector<TokenId>& tokens,
                           int n_threads);

}  // namespace kvlink
