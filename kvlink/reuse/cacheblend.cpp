#include "kvlink/reuse/cacheblend.h"

#include <algorithm>
#include <cmath>

#include "tensor/execute.h"
#include "tensor/quant.h"
#include "tensor/thread_pool.h"

namespace kvlink {

std::vector<int32_t> cacheblend_select(Context& ctx, const PromptLayout& layout, double ratio) {
  std::vector<int32_t> chunk_positions;
  for (size_t i = 0; i < layout.chunks.size(); ++i) {
    const int32_t begin = layout.chunk_start(i);
    for (size_t t = 0; t < layout.chunks[i].size(); ++t) chunk_positions.push_back(begin + static_cast<int32_t>(t));
  }
  if (ratio <= 0 || chunk_positions.empty()) return {};
  const auto n_select = static_cast<size_t>(
      std::min<double>(static_cast<double>(chunk_positions.size()), std::ceil(ratio * static_cast<double>(chunk_positions.size()))));
  if (n_select == chunk_positions.size()) return chunk_positions;

  // The selection pass: a full causal prefill of layer 0, then layer 1 up to its stored keys and
  // values, into a scratch cache.
  const Model& model = ctx.model();
  const int32_t layer = std::min(1, model.hp.n_layer - 1);
  HParams scratch_hp = model.hp;
  scratch_hp.n_layer = layer + 1;
  KVCache scratch = make_kv_cache(scratch_hp, layout.n_tokens(), DType::F32);
  Batch batch = make_causal_batch(layout.flatten(), 0);
  batch.output_rows.clear();
  batch.n_layer_run = layer + 1;
  batch.last_layer_kv_only = true;
  Graph g;
  build_llama_graph(g, model, scratch, batch);
  Arena arena;
  execute(g, arena, ExecOptions{ctx.n_threads()});

  KVCache& kv = ctx.cache();
  const int64_t width = kv.width;
  std::vector<double> deviation(chunk_positions.size());
  const auto n_positions = static_cast<int64_t>(chunk_positions.size());
  parallel_for(ctx.n_threads(), n_positions, 32, [&](int64_t i0, int64_t i1, int) {
    std::vector<float> loaded(static_cast<size_t>(width));
    for (auto i = static_cast<size_t>(i0); i < static_cast<size_t>(i1); ++i) {
      const int32_t p = chunk_positions[i];
      dequantize_row(kv.type, kv.v_row(layer, p), loaded.data(), width);
      const auto* fresh = reinterpret_cast<const float*>(scratch.v_row(layer, p));
      double d = 0;
      for (int64_t j = 0; j < width; ++j) d += (double(loaded[j]) - fresh[j]) * (double(loaded[j]) - fresh[j]);
      deviation[i] = d;
    }
  });
  std::vector<size_t> order(chunk_positions.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_select), order.end(),
                    [&](size_t a, size_t b) { return deviation[a] > deviation[b] || (deviation[a] == deviation[b] && a < b); });
  std::vector<int32_t> selected;
  for (size_t i = 0; i < n_select; ++i) selected.push_back(chunk_positions[order[i]]);
  std::sort(selected.begin(), selected.end());
  return selected;
}

}  // namespace kvlink
