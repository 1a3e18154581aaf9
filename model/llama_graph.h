// Builds the forward graph of a Llama-family model for one batch of tokens: embeddings, n_layer
// blocks (RMSNorm, RoPE'd grouped-query attention over the KV cache, SwiGLU FFN), final norm and the
// output projection for just the rows whose logits are wanted.
#pragma once
#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "tensor/graph.h"
#include "tensor/ops.h"

namespace kvlink {

struct Batch {
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions;    // RoPE position of each token (usually first_row + i)
  int32_t first_row = 0;             // cache row of tokens[0]; the batch fills consecutive rows
  std::vector<int32_t> output_rows;  // batch indices whose logits are computed
  // Explicit cache row of each token, for batches whose tokens sit between reused rows (KVLink link
  // tokens, CacheBlend's recomputed tokens). Empty: rows first_row + i. Given: the rows are scattered
  // and token i sees cache rows 0..rows[i] (so rows = layout positions gives the KVLink mask for
  // computed tokens). Either way attention is causal by row, plus `mask` when given.
  std::vector<int32_t> rows;
  // With `rows`: the first cache row each token may see (several sequences in disjoint row ranges of
  // one cache, for batched decoding: token i sees rows seq_first_rows[i]..rows[i]). Empty: row 0.
  std::vector<int32_t> seq_first_rows;
  int32_t n_layer_run = 0;  // 0: every layer; n > 0: only layers 0..n-1 (their cache rows; no logits)
  // With n_layer_run: the last layer run stops once its keys and values are stored (no query,
  // attention or feed-forward), for a caller that reads only those rows (CacheBlend's selection).
  bool last_layer_kv_only = false;
  // APE's context groups (tensor/ops.h, AttentionGroupInputs), with `rows`: token i's context rows are
  // context_span[2i]..context_span[2i+1]-1, their temperature and log-sum-exp scale
  // context_temp_scale[2i] and [2i+1]. Tokens past the end of the vectors (all of them when empty)
  // have no group: ordinary attention.
  std::vector<int32_t> context_span;
  std::vector<float> context_temp_scale;

  int32_t n_kv() const;  // cache rows attention spans: the last row written + 1
};

// A batch of consecutive positions starting at cache row `first_row`, logits for the last token.
Batch make_causal_batch(const std::vector<TokenId>& tokens, int32_t first_row);

// The keys each token of `batch` sees, as the attention op's inputs (appended to `g`): causal over
// rows 0..first_row+i, or with `rows` over rows seq_first_rows[i]..rows[i], plus `mask` (F32
// [n_kv(), n_tokens], may be null) and the context groups. Checks the batch's fields against each
// other and the context of n_ctx rows.
KeyVisibility key_visibility(Graph& g, const Batch& batch, int32_t n_ctx, Tensor* mask);

// Appends the forward pass to `g` and returns the logits tensor [n_vocab, output_rows.size()]
// (null when output_rows is empty or only the first n_layer_run layers run).
// Attention is causal over cache rows 0..first_row+i for batch token i, plus `mask` when given
// (F32 [n_kv(), n_tokens], added to the scores).
Tensor* build_llama_graph(Graph& g, const Model& model, KVCache& cache, const Batch& batch, Tensor* mask = nullptr);

}  // namespace kvlink
