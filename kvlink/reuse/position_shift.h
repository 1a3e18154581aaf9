// Position shift (KVLink step 2): keys cached at local positions t are moved to global positions
// offset + t by one more RoPE rotation of `offset` (RoPE composes: R(offset) R(t) = R(offset + t)),
// with the model's pairing, base, linear scaling and Llama-3 frequency factors. Values do not move.
// Exact in real arithmetic for every RoPE the loader supports, since each one's angle is
// position x a fixed per-dimension frequency.
#pragma once
#include <cstdint>
#include <vector>

#include "model/llama_model.h"

namespace kvlink {

// The rotation by one offset, shared by every key row of a chunk: cos/sin per rotated pair.
struct KeyShift {
  RopeParams rope;
  int32_t head_dim = 0;
  std::vector<float> cos, sin;  // n_rot / 2 each
};
KeyShift make_key_shift(const Model& model, int32_t offset);
// Rotates one key row (n_head_kv heads of head_dim values, F32) in place.
void shift_key_row(const KeyShift& shift, float* row, int64_t width);

// In place on F32 rows (n rows of n_head_kv * head_dim).
void shift_key_rows(const Model& model, std::vector<float>& k_rows, int32_t offset, int n_threads);

}  // namespace kvlink
