#include "kvlink/reuse/position_shift.h"

#include "tensor/ops.h"
#include "tensor/thread_pool.h"

namespace kvlink {

KeyShift make_key_shift(const Model& model, int32_t offset) {
  KeyShift s;
  s.rope = model.hp.rope;
  s.head_dim = model.hp.head_dim;
  const size_t half = static_cast<size_t>(s.rope.n_rot / 2);
  s.cos.resize(half);
  s.sin.resize(half);
  const GGUFTensorInfo* ff = model.weights.rope_freqs;
  const float* factors = ff ? reinterpret_cast<const float*>(ff->data) : nullptr;
  rope_cos_sin(s.rope, factors, static_cast<double>(offset), s.cos.data(), s.sin.data());
  return s;
}

void shift_key_row(const KeyShift& s, float* row, int64_t width) {
  for (int64_t h = 0; h < width; h += s.head_dim) rope_rotate_head(s.rope, s.head_dim, s.cos.data(), s.sin.data(), row + h, row + h);
}

void shift_key_rows(const Model& model, std::vector<float>& k_rows, int32_t offset, int n_threads) {
  const int64_t width = model.hp.kv_width();
  if (k_rows.empty() || offset == 0) return;
  const KeyShift s = make_key_shift(model, offset);
  const int64_t rows = static_cast<int64_t>(k_rows.size()) / width;
  parallel_for_each(n_threads, rows, 64, [&](int64_t r, int) { shift_key_row(s, k_rows.data() + r * width, width); });
}

}  // namespace kvlink
