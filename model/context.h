// An inference context: one model, one sequence's KV cache, the scratch arena and the thread count.
// eval() runs a batch through the graph and returns the logits of its output rows.
#pragma once
#include <vector>

#include "model/kv_cache.h"
#include "model/llama_graph.h"
#include "model/llama_model.h"
#include "tensor/arena.h"

namespace kvlink {

struct ContextParams {
  int32_t n_ctx = 0;             // rows of KV cache; 0: the model's training context
  DType kv_type = DType::F16;
  int n_threads = 1;
};

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
  void clear() { cache_.n_used = 0; }

 private:
  const Model& model_;
  ContextParams params_;
  KVCache cache_;
  Arena arena_;
};

}  // namespace kvlink
