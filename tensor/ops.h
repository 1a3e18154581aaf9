// Op constructors: each appends one node to a Graph, checks its operands' shapes and types, and
// returns the result tensor. Nothing is computed until execute() (execute.h).
#pragma once
#include "tensor/graph.h"
#include "tensor/integer_dot.h"

namespace kvlink {

enum class RopeMode : int32_t {
  NORM = 0,  // rotate adjacent pairs (x[2i], x[2i+1]): llama GGUFs (their Q/K rows are permuted for it)
  NEOX = 2,  // rotate halves (x[i], x[i + n_rot/2]): qwen2 and GPT-NeoX
};

struct RopeParams {
  RopeMode mode = RopeMode::NORM;
  int32_t n_rot = 0;          // rotated dimensions per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;    // linear scaling: position * freq_scale
};

// Rows of `table` ([width, n_rows], any type) picked by `ids` (I32 [n]); result F32 [width, n].
// With `ext` ([width, n_ext], any type): ids n_rows .. n_rows + n_ext - 1 read row id - n_rows of ext
// (an adapter's link-token embeddings appended after the base vocabulary).
Tensor* get_rows(Graph& g, Tensor* table, Tensor* ids, Tensor* ext = nullptr);
// x / sqrt(mean(x^2) + eps) * weight, per row; weight F32 [width].
Tensor* rms_norm(Graph& g, Tensor* x, Tensor* weight, float eps);
// a + b; b has a's shape or a single row that is added to every row.
Tensor* add(Graph& g, Tensor* a, Tensor* b);
// w [K, N] (any type) times x F32 [K, T]: result F32 [N, T], column t = w . x[:, t]. `products`
// (tensor/integer_dot.h) picks the arithmetic of the row kernel's products, `columns` (graph.h)
// whether the row kernel takes up to 64 columns or 8; kept in iparams[0] and iparams[1].
Tensor* mul_mat(Graph& g, Tensor* w, Tensor* x, Products products = Products::F32,
                Columns columns = Columns::SEQUENCES);
// Rotary embedding of x F32 [n_head * head_dim, T] (heads contiguous within a row) at positions
// I32 [T]. `freq_factors` (F32 [n_rot/2], may be null) divides each frequency, as Llama-3's
// rope_freqs.weight does.
Tensor* rope(Graph& g, Tensor* x, Tensor* positions, int32_t head_dim, const RopeParams& p, Tensor* freq_factors);
// The RoPE angles of one position, as the ROPE op uses them: cos/sin of position * freq_scale *
// freq_base^(-2i/n_rot) / freq_factors[i] for i < n_rot/2 (freq_factors may be null).
void rope_cos_sin(const RopeParams& p, const float* freq_factors, double position, float* cos_out, float* sin_out);
// Rotates one head (head_dim values) by the angles of rope_cos_sin; dimensions past n_rot are copied.
// `in` and `out` may be the same.
void rope_rotate_head(const RopeParams& p, int32_t head_dim, const float* cos_t, const float* sin_t, const float* in,
                      float* out);
// silu(gate) * up, elementwise.
Tensor* swiglu(Graph& g, Tensor* gate, Tensor* up);
// Writes x F32 [width, T] into rows first_row..first_row+T-1 of cache [width, n_ctx] (F32 or F16),
// or, when `rows` (I32 [T]) is given, row t into cache row rows[t] (a scatter, for batches whose
// tokens sit between reused rows). The result aliases the cache and is what attention reads, so the
// write runs first.
Tensor* store_kv(Graph& g, Tensor* cache, Tensor* x, int32_t first_row, Tensor* rows = nullptr);

// Context groups of APE (Yang et al. 2025): per query t, the rows span[2t]..span[2t+1]-1 are context
// rows. Their scores are divided by a temperature temp_scale[2t] and the log-sum-exp of the group is
// multiplied by temp_scale[2t+1] before it is merged with the other visible rows' softmax:
//   out = (e^{S L_C} O_C + e^{L_N} O_N) / (e^{S L_C} + e^{L_N}),
// O_C, L_C the softmax output and log-sum-exp over the context rows (scores / T), O_N, L_N over the
// rest. An empty span (begin == end) leaves the query's ordinary attention untouched, bit for bit.
struct AttentionGroupInputs {
  Tensor* span = nullptr;        // I32 [2 * T]
  Tensor* temp_scale = nullptr;  // F32 [2 * T]
};

struct AttentionParams {
  int32_t head_dim = 0;
  int32_t n_head = 1;
  int32_t n_head_kv = 1;
  float scale = 1.0f;
};

// Which cache rows each query of an attention sees: the typed form of llama.cpp's KQ mask, decided
// once per graph from the batch (model/llama_graph.cpp, key_visibility) and read back by the kernels
// (key_visibility_of). Query t sees the rows
//   without last_row: 0..q_pos0 + t when causal, all n_kv rows when not;
//   with last_row (a batch scattered between reused rows): first_row[t] (0 without first_row)
//   .. last_row[t];
// minus those the mask sets to -INFINITY; APE's context groups then re-weight some of them.
struct KeyVisibility {
  int32_t n_kv = 0;              // keys are cache rows 0..n_kv-1
  int32_t q_pos0 = 0;            // cache row of the first query, for causal masking
  bool causal = true;
  Tensor* last_row = nullptr;    // I32 [T]
  Tensor* first_row = nullptr;   // I32 [T]; needs last_row and no mask (several sequences in one cache)
  Tensor* mask = nullptr;        // F32 [n_kv, T] added to the scores
  AttentionGroupInputs groups;   // span null: no groups; needs last_row
};

// q F32 [head_dim * n_head, T]; k, v [head_dim * n_head_kv, >= n_kv] (F32 or F16, usually STORE_KV
// results). Result F32 [head_dim * n_head, T]. Grouped-query attention: q head h uses kv head
// h / (n_head / n_head_kv). Keys as `vis` says.
Tensor* attention(Graph& g, Tensor* q, Tensor* k, Tensor* v, const AttentionParams& p, const KeyVisibility& vis);
// What an ATTENTION node was built with, for its kernels.
AttentionParams attention_params_of(const Tensor* node);
KeyVisibility key_visibility_of(const Tensor* node);

}  // namespace kvlink
