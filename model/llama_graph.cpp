#include "model/llama_graph.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "tensor/error.h"
#include "tensor/ops.h"

namespace kvlink {

namespace {
Tensor* weight(Graph& g, const GGUFTensorInfo* t) {
  return t ? g.leaf(t->type, t->ne, t->data, t->name) : nullptr;
}

// W x [+ bias] [+ B (A x)]: the LoRA update when an adapter pairs one with W (its scale is in B).
// `products` is the model's choice for W's products (Model::products); the LoRA terms stay F32.
// `columns`: the batch's tokens are one sequence's or several sequences' (graph.h, Columns).
Tensor* linear(Graph& g, Products products, Columns columns, const GGUFTensorInfo* w, const GGUFTensorInfo* bias,
               const LoraPair& lora, Tensor* x) {
  Tensor* y = mul_mat(g, weight(g, w), x, products, columns);
  if (bias) y = add(g, y, weight(g, bias));
  if (lora.a) {
    Tensor* ax = mul_mat(g, weight(g, lora.a), x, Products::F32, columns);
    y = add(g, y, mul_mat(g, weight(g, lora.b), ax, Products::F32, columns));
  }
  return y;
}

// Names a node as llama.cpp's graph callback does: "attn_norm-3" for layer 3, "result_norm" outside the
// layers (layer < 0), so that a layer's intermediates can be dumped and compared by name.
Tensor* cb(Tensor* t, const char* name, int32_t layer = -1) {
  t->name = layer < 0 ? std::string(name) : std::string(name) + "-" + std::to_string(layer);
  return t;
}

// The pieces inside a named step (a linear layer's product, bias and LoRA terms) are named after
// their op and place: "mul_mat#12".
void name_the_rest(Graph& g) {
  for (Tensor* t : g.nodes()) {
    if (t->name.empty()) t->name = std::string(op_name(t->op)) + "#" + std::to_string(t->index);
  }
}

// An input of n values (I32 or F32 as T): `values`, then `fill` up to n.
template <class T>
Tensor* padded_input(Graph& g, DType type, const std::vector<T>& values, size_t n, T fill, const char* name) {
  Tensor* t = g.input(type, {static_cast<int64_t>(n)}, name);
  T* d = static_cast<T*>(t->data);
  std::copy(values.begin(), values.end(), d);
  std::fill(d + values.size(), d + n, fill);
  return t;
}

Tensor* i32_input(Graph& g, const std::vector<int32_t>& values, const char* name) {
  return padded_input(g, DType::I32, values, values.size(), 0, name);
}
}  // namespace

// The keys each token of `batch` sees, as the attention op's inputs: the one place where the batch's
// row description (consecutive or scattered rows, several sequences, APE's context groups) and the
// optional mask become attention visibility (llama.cpp's set_input_kq_mask does this for its mask).
KeyVisibility key_visibility(Graph& g, const Batch& batch, int32_t n_ctx, Tensor* mask) {
  const size_t n = batch.tokens.size();
  KeyVisibility vis;
  vis.n_kv = batch.n_kv();
  vis.mask = mask;
  if (batch.rows.empty()) {  // consecutive rows from first_row: causal
    if (!batch.seq_first_rows.empty() || !batch.context_span.empty()) {
      throw Error("several sequences and context groups need a cache row per token");
    }
    vis.q_pos0 = batch.first_row;
    return vis;
  }
  if (batch.rows.size() != n) throw Error("batch needs one cache row per token");
  for (int32_t r : batch.rows) {
    if (r < 0 || r >= n_ctx) throw Error("batch row " + std::to_string(r) + " is outside the context");
  }
  vis.causal = false;
  vis.last_row = i32_input(g, batch.rows, "cache_rows");
  if (!batch.seq_first_rows.empty()) {
    if (batch.seq_first_rows.size() != n) throw Error("a batch of several sequences needs a first row per token");
    if (mask) throw Error("a batch of several sequences takes no attention mask");
    for (size_t i = 0; i < n; ++i) {
      if (batch.seq_first_rows[i] < 0 || batch.seq_first_rows[i] > batch.rows[i]) {
        throw Error("batch token " + std::to_string(i) + " starts its sequence after its own row");
      }
    }
    vis.first_row = i32_input(g, batch.seq_first_rows, "seq_first_rows");
  }
  if (!batch.context_span.empty()) {
    if (batch.context_span.size() > 2 * n || batch.context_temp_scale.size() != batch.context_span.size()) {
      throw Error("context groups need at most one span and temperature/scale pair per token");
    }
    // the op takes a pair per token: tokens past the given ones get an empty span
    vis.groups.span = padded_input(g, DType::I32, batch.context_span, 2 * n, 0, "context_span");
    vis.groups.temp_scale = padded_input(g, DType::F32, batch.context_temp_scale, 2 * n, 1.0f, "context_temp_scale");
  }
  return vis;
}

Batch make_causal_batch(const std::vector<TokenId>& tokens, int32_t first_row) {
  Batch b;
  b.tokens = tokens;
  b.first_row = first_row;
  b.positions.resize(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) b.positions[i] = first_row + static_cast<int32_t>(i);
  if (!tokens.empty()) b.output_rows = {static_cast<int32_t>(tokens.size()) - 1};
  return b;
}

int32_t Batch::n_kv() const {
  if (rows.empty()) return first_row + static_cast<int32_t>(tokens.size());
  return *std::max_element(rows.begin(), rows.end()) + 1;
}

Tensor* build_llama_graph(Graph& g, const Model& model, KVCache& cache, const Batch& batch, Tensor* mask) {
  const HParams& hp = model.hp;
  const ModelWeights& w = model.weights;
  const Products P = model.products;
  // Batched decoding (several sequences) keeps every column's numbers those of its sequence alone.
  const Columns C = batch.seq_first_rows.empty() ? Columns::TOKENS : Columns::SEQUENCES;
  const auto n_tokens = static_cast<int32_t>(batch.tokens.size());
  if (n_tokens == 0) throw Error("empty batch");
  if (batch.positions.size() != batch.tokens.size()) throw Error("batch needs one position per token");
  if (batch.first_row < 0 || batch.first_row + n_tokens > cache.n_ctx) {
    throw Error("batch of " + std::to_string(n_tokens) + " tokens at row " + std::to_string(batch.first_row) +
                " does not fit the context of " + std::to_string(cache.n_ctx));
  }
  for (int32_t r : batch.output_rows) {
    if (r < 0 || r >= n_tokens) throw Error("output row outside the batch");
  }
  const KeyVisibility vis = key_visibility(g, batch, cache.n_ctx, mask);
  Tensor* rows = vis.last_row;  // scattered batches store their keys and values at these rows
  const int32_t n_layer_run = batch.n_layer_run > 0 ? std::min(batch.n_layer_run, hp.n_layer) : hp.n_layer;

  // Link tokens of an adapter (ids from hp.n_vocab on) read their rows from its link embedding table.
  const Adapter* adapter = model.adapter.get();
  Tensor* x = cb(get_rows(g, weight(g, w.token_embd), i32_input(g, batch.tokens, "tokens"),
                          adapter ? weight(g, adapter->link_embd) : nullptr),
                 "inp_embd");
  Tensor* pos = i32_input(g, batch.positions, "positions");
  Tensor* freq_factors = weight(g, w.rope_freqs);
  AttentionParams ap;
  ap.head_dim = hp.head_dim;
  ap.n_head = hp.n_head;
  ap.n_head_kv = hp.n_head_kv;
  ap.scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));

  const LayerLora no_lora{};
  for (int32_t l = 0; l < n_layer_run; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const LayerLora& R = adapter ? adapter->layers[static_cast<size_t>(l)] : no_lora;
    const bool kv_only = batch.last_layer_kv_only && l == n_layer_run - 1 && n_layer_run < hp.n_layer;
    Tensor* h = cb(rms_norm(g, x, weight(g, L.attn_norm), hp.rms_eps), "attn_norm", l);
    Tensor* q = nullptr;
    if (!kv_only) {
      q = cb(linear(g, P, C, L.wq, L.bq, R.wq, h), "Qcur", l);
      q = cb(rope(g, q, pos, hp.head_dim, hp.rope, freq_factors), "Qcur_rope", l);
    }
    Tensor* k = cb(linear(g, P, C, L.wk, L.bk, R.wk, h), "Kcur", l);
    k = cb(rope(g, k, pos, hp.head_dim, hp.rope, freq_factors), "Kcur_rope", l);
    Tensor* v = cb(linear(g, P, C, L.wv, L.bv, R.wv, h), "Vcur", l);
    const std::string ln = std::to_string(l);
    Tensor* kc = g.leaf(cache.type, {cache.width, cache.n_ctx}, cache.k[static_cast<size_t>(l)].data(), "cache_k." + ln);
    Tensor* vc = g.leaf(cache.type, {cache.width, cache.n_ctx}, cache.v[static_cast<size_t>(l)].data(), "cache_v." + ln);
    Tensor* k_stored = cb(store_kv(g, kc, k, batch.first_row, rows), "k_cache", l);
    Tensor* v_stored = cb(store_kv(g, vc, v, batch.first_row, rows), "v_cache", l);
    if (kv_only) break;
    Tensor* attn = cb(attention(g, q, k_stored, v_stored, ap, vis), "kqv_out", l);
    x = cb(add(g, x, cb(linear(g, P, C, L.wo, nullptr, R.wo, attn), "attn_out", l)), "ffn_inp", l);
    h = cb(rms_norm(g, x, weight(g, L.ffn_norm), hp.rms_eps), "ffn_norm", l);
    Tensor* ff = cb(swiglu(g, cb(linear(g, P, C, L.ffn_gate, nullptr, R.ffn_gate, h), "ffn_gate", l),
                           cb(linear(g, P, C, L.ffn_up, nullptr, R.ffn_up, h), "ffn_up", l)),
                    "ffn_swiglu", l);
    x = cb(add(g, x, cb(linear(g, P, C, L.ffn_down, nullptr, R.ffn_down, ff), "ffn_out", l)), "l_out", l);
  }
  // A cache-filling batch (no logits wanted) or a partial pass over the first layers ends here.
  if (batch.output_rows.empty() || n_layer_run < hp.n_layer) {
    name_the_rest(g);
    return nullptr;
  }
  // Logits only for the rows that need them: select those rows before the norm and the (large)
  // output projection.
  Tensor* out = cb(get_rows(g, x, i32_input(g, batch.output_rows, "output_rows")), "result_rows");
  Tensor* normed = cb(rms_norm(g, out, weight(g, w.output_norm), hp.rms_eps), "result_norm");
  Tensor* logits = cb(mul_mat(g, weight(g, w.output), normed, P, C), "result_output");
  g.mark_output(logits);
  name_the_rest(g);
  return logits;
}

}  // namespace kvlink
