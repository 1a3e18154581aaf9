#include "kvlink/position_shift.h"

#include <algorithm>
#include <cstring>

#include "tensor/execute.h"
#include "tensor/ops.h"

namespace kvlink {

Tensor* shift_keys(Graph& g, const Model& model, Tensor* k, int32_t offset) {
  const HParams& hp = model.hp;
  Tensor* positions = g.input(DType::I32, {k->n_rows()}, "shift");
  std::fill_n(static_cast<int32_t*>(positions->data), k->n_rows(), offset);
  const GGUFTensorInfo* ff = model.weights.rope_freqs;
  Tensor* factors = ff ? g.leaf(ff->type, ff->ne, ff->data, ff->name) : nullptr;
  return rope(g, k, positions, hp.head_dim, hp.rope, factors);
}

void shift_key_rows(const Model& model, std::vector<float>& k_rows, int32_t offset, int n_threads) {
  const int64_t width = model.hp.kv_width();
  if (k_rows.empty() || offset == 0) return;
  Graph g;
  Tensor* k = g.leaf(DType::F32, {width, static_cast<int64_t>(k_rows.size()) / width}, k_rows.data(), "k");
  Tensor* out = shift_keys(g, model, k, offset);
  g.mark_output(out);
  Arena arena;
  execute(g, arena, ExecOptions{n_threads});
  std::memcpy(k_rows.data(), out->data, k_rows.size() * sizeof(float));
}

}  // namespace kvlink
