// Builds the forward graph of a Llama-family model for one batch of tokens: embeddings, n_layer
// blocks (RMSNorm, RoPE'd grouped-query attention over the KV cache, SwiGLU FFN), final norm and the
// output projection for just the rows whose logits are wanted.
#pragma once
#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "tensor/graph.h"

namespace kvlink {

struct Batch {
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions;    // RoPE position of each token (usually first_row + i)
  int32_t first_row = 0;             // cache row of tokens[0]; the batch fills consecutive rows
  std::vector<int32_t> output_rows;  // batch indices whose logits are computed
};

// A batch of consecutive positions starting at cache row `first_row`, logits for the last token.
Batch make_causal_batch(const std::vector<TokenId>& tokens, int32_t first_row);

// Appends the forward pass to `g` and returns the logits tensor [n_vocab, output_rows.size()]
// (null when output_rows is empty).
// Attention is causal over cache rows 0..first_row+i for batch token i, plus `mask` when given
// (F32 [first_row + n_tokens, n_tokens], added to the scores).
Tensor* build_llama_graph(Graph& g, const Model& model, KVCache& cache, const Batch& batch, Tensor* mask = nullptr);

}  // namespace kvlink
