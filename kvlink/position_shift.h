// Position shift (KVLink step 2): keys cached at local positions t are moved to global positions
// offset + t by one more RoPE rotation of `offset` (RoPE composes: R(offset) R(t) = R(offset + t)),
// with the model's pairing, base, linear scaling and Llama-3 frequency factors. Values do not move.
#pragma once
#include <cstdint>
#include <vector>

#include "model/llama_model.h"
#include "tensor/graph.h"

namespace kvlink {

// Graph form: rotates F32 key rows k [n_head_kv * head_dim, n] by `offset` positions.
Tensor* shift_keys(Graph& g, const Model& model, Tensor* k, int32_t offset);

// In place on F32 rows (n rows of n_head_kv * head_dim), through a one-op graph.
void shift_key_rows(const Model& model, std::vector<float>& k_rows, int32_t offset, int n_threads);

}  // namespace kvlink
