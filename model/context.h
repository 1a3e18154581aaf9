// An inference context: one model, one sequence's KV cache, the scratch arena and the thread count.
// eval() runs a batch through the graph and returns the logits of its output rows.
#pragma once
#include <utility>
#include <vector>

#include "model/kv_cache.h"
#include "model/llama_graph.h"
#include "model/llama_model.h"
#include "model/tensor_dump.h"
#include "tensor/arena.h"

namespace kvlink {

struct ContextParams {
  int32_t n_ctx = 0;             // rows of KV cache; 0: the model's training context
  DType kv_type = DType::F16;
  int n_threads = 1;
};

// The context rule every tool shares: rows for a prompt of n_prompt tokens and n_predict new ones
// (n_predict < 0: up to the training context), capped at the model's training context; `requested` > 0
// fixes it instead (it may not exceed the training context). Throws kvlink::Error when the prompt does
// not fit.
int32_t context_size(const HParams& hp, int64_t n_prompt, int32_t n_predict, int32_t requested = 0);

// How a sequence continues after a prefill that placed its rows in its own way. APE puts every chunk
// at the same positions, so after its prompt a row's RoPE position is row + position_offset, and the
// chunk rows context_begin..context_end-1 keep their attention group (temperature, log-sum-exp
// scale; tensor/ops.h). The default is the ordinary sequence: position = row, no group.
struct SequenceView {
  int32_t position_offset = 0;
  int32_t context_begin = 0, context_end = 0;
  float temperature = 1.0f, lse_scale = 1.0f;
  bool ordinary() const { return position_offset == 0 && context_begin == context_end; }
};

// Sets token i's position (row + view.position_offset) and, when the view has a context group, its
// span and temperature/scale, shifted by `first_row` (the sequence's first row in a shared cache).
void apply_sequence_view(Batch& batch, size_t i, const SequenceView& view, int32_t first_row = 0);

class Context {
 public:
  Context(const Model& model, const ContextParams& params);

  // Runs `batch` (its KV rows are stored in the cache) and returns logits, n_vocab per output row.
  // `mask` (optional): additive attention mask, batch.n_kv() values per batch token.
  std::vector<float> eval(const Batch& batch, const std::vector<float>* mask = nullptr);
  // Appends tokens after the rows in use, with consecutive positions; logits for the last one.
  std::vector<float> eval_next(const std::vector<TokenId>& tokens);

  const Model& model() const { return model_; }
  KVCache& cache() { return cache_; }
  const KVCache& cache() const { return cache_; }
  int n_threads() const { return params_.n_threads; }
  void clear() {
    cache_.n_used = 0;
    view_ = {};
  }
  // The sequence's view after a prefill that needs one (APE); eval_next() decodes under it.
  void set_view(const SequenceView& view) { view_ = view; }
  const SequenceView& view() const { return view_; }
  // Debug: the named intermediates to write after the next forward pass (once).
  void set_dump(TensorDump dump) {
    dump_ = std::move(dump);
    dumped_ = false;
  }

 private:
  const Model& model_;
  ContextParams params_;
  KVCache cache_;
  Arena arena_;
  SequenceView view_;
  TensorDump dump_;
  bool dumped_ = false;
};

}  // namespace kvlink
