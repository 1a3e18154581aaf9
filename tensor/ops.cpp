#include "tensor/ops.h"

#include <string>

#include "tensor/error.h"

namespace kvlink {

namespace {
void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw Error(std::string(op) + ": " + what);
}
bool is_matrix(const Tensor* t) { return t->ne[2] == 1 && t->ne[3] == 1; }
}  // namespace

Tensor* get_rows(Graph& g, Tensor* table, Tensor* ids, Tensor* ext) {
  require(ids->type == DType::I32 && is_matrix(table), "get_rows", "needs a matrix and I32 ids");
  require(!ext || (is_matrix(ext) && ext->ne[0] == table->ne[0]), "get_rows",
          "the extension table must be a matrix with the table's row length");
  return g.node(Op::GET_ROWS, DType::F32, {table->ne[0], ids->n_elements()}, {table, ids, ext});
}

Tensor* rms_norm(Graph& g, Tensor* x, Tensor* weight, float eps) {
  require(x->type == DType::F32 && weight->type == DType::F32 && weight->n_elements() == x->ne[0],
          "rms_norm", "needs F32 rows and an F32 weight of the row length");
  Tensor* t = g.node(Op::RMS_NORM, DType::F32, {x->ne[0], x->n_rows()}, {x, weight});
  t->fparams[0] = eps;
  return t;
}

Tensor* add(Graph& g, Tensor* a, Tensor* b) {
  require(a->type == DType::F32 && b->type == DType::F32 && b->ne[0] == a->ne[0] &&
              (b->n_rows() == 1 || b->n_rows() == a->n_rows()),
          "add", "needs F32 operands of the same row length, b with 1 or all rows");
  return g.node(Op::ADD, DType::F32, {a->ne[0], a->n_rows()}, {a, b});
}

Tensor* mul_mat(Graph& g, Tensor* w, Tensor* x, Products products, Columns columns) {
  require(is_matrix(w) && x->type == DType::F32 && x->ne[0] == w->ne[0], "mul_mat",
          "shape mismatch: w has rows of " + std::to_string(w->ne[0]) + ", x of " + std::to_string(x->ne[0]));
  Tensor* y = g.node(Op::MUL_MAT, DType::F32, {w->ne[1], x->n_rows()}, {w, x});
  y->iparams[0] = static_cast<int32_t>(products);
  y->iparams[1] = static_cast<int32_t>(columns);
  return y;
}

Tensor* rope(Graph& g, Tensor* x, Tensor* positions, int32_t head_dim, const RopeParams& p, Tensor* freq_factors) {
  require(x->type == DType::F32 && positions->type == DType::I32 && positions->n_elements() == x->n_rows(),
          "rope", "needs F32 x and one I32 position per row");
  require(head_dim > 0 && x->ne[0] % head_dim == 0 && p.n_rot > 0 && p.n_rot <= head_dim && p.n_rot % 2 == 0,
          "rope", "bad head_dim / n_rot");
  require(!freq_factors || (freq_factors->type == DType::F32 && freq_factors->n_elements() == p.n_rot / 2),
          "rope", "frequency factors must be F32 [n_rot/2]");
  Tensor* t = g.node(Op::ROPE, DType::F32, {x->ne[0], x->n_rows()}, {x, positions, freq_factors});
  t->iparams[0] = head_dim;
  t->iparams[1] = static_cast<int32_t>(p.mode);
  t->iparams[2] = p.n_rot;
  t->fparams[0] = p.freq_base;
  t->fparams[1] = p.freq_scale;
  return t;
}

Tensor* swiglu(Graph& g, Tensor* gate, Tensor* up) {
  require(gate->type == DType::F32 && up->type == DType::F32 && gate->ne[0] == up->ne[0] &&
              gate->n_rows() == up->n_rows(),
          "swiglu", "needs two F32 tensors of the same shape");
  return g.node(Op::SWIGLU, DType::F32, {gate->ne[0], gate->n_rows()}, {gate, up});
}

Tensor* store_kv(Graph& g, Tensor* cache, Tensor* x, int32_t first_row, Tensor* rows) {
  require((cache->type == DType::F32 || cache->type == DType::F16) && x->type == DType::F32 &&
              x->ne[0] == cache->ne[0] && is_matrix(cache),
          "store_kv", "needs an F32/F16 cache and F32 rows of the same width");
  if (rows) {
    require(rows->type == DType::I32 && rows->n_elements() == x->n_rows(), "store_kv", "needs one I32 row index per row");
  } else {
    require(first_row >= 0 && first_row + x->n_rows() <= cache->ne[1], "store_kv",
            "rows " + std::to_string(first_row) + ".." + std::to_string(first_row + x->n_rows()) +
                " exceed the cache of " + std::to_string(cache->ne[1]));
  }
  Tensor* t = g.node(Op::STORE_KV, cache->type, {cache->ne[0], cache->ne[1]}, {cache, x, rows});
  t->iparams[0] = first_row;
  return t;
}

namespace {
// ATTENTION's sources and integer parameters: the one place that knows their order.
enum AttentionSrc { kQ, kK, kV, kMask, kLastRow, kFirstRow, kSpan, kTempScale };
enum AttentionIParam { kHeadDim, kNHead, kNHeadKV, kNKv, kQPos0, kCausal };

void check_visibility(const Tensor* q, const KeyVisibility& vis) {
  const int64_t T = q->n_rows();
  auto i32_per_query = [T](const Tensor* t, int64_t n) { return t->type == DType::I32 && t->n_elements() == n * T; };
  require(!vis.mask || (vis.mask->type == DType::F32 && vis.mask->ne[0] == vis.n_kv && vis.mask->n_rows() == T),
          "attention", "mask must be F32 [n_kv, T]");
  require(vis.last_row || !vis.causal || vis.q_pos0 + T <= vis.n_kv, "attention", "causal queries beyond the cache");
  require(!vis.last_row || i32_per_query(vis.last_row, 1), "attention", "last rows must be I32 [T]");
  require(!vis.first_row || (vis.last_row && !vis.mask && i32_per_query(vis.first_row, 1)), "attention",
          "first rows must be I32 [T], with last rows and without a mask");
  const AttentionGroupInputs& gr = vis.groups;
  require(!gr.span || (vis.last_row && i32_per_query(gr.span, 2) && gr.temp_scale && gr.temp_scale->type == DType::F32 &&
                       gr.temp_scale->n_elements() == 2 * T),
          "attention", "context groups need last rows, an I32 span [2T] and an F32 temperature/scale [2T]");
}
}  // namespace

Tensor* attention(Graph& g, Tensor* q, Tensor* k, Tensor* v, const AttentionParams& p, const KeyVisibility& vis) {
  require(p.head_dim > 0 && p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0, "attention",
          "bad head counts");
  require(q->type == DType::F32 && q->ne[0] == static_cast<int64_t>(p.head_dim) * p.n_head, "attention",
          "q must be F32 [head_dim * n_head, T]");
  const int64_t kv_width = static_cast<int64_t>(p.head_dim) * p.n_head_kv;
  for (const Tensor* c : {k, v}) {
    require((c->type == DType::F32 || c->type == DType::F16) && c->ne[0] == kv_width && vis.n_kv > 0 &&
                vis.n_kv <= c->ne[1],
            "attention", "k/v must be F32/F16 [head_dim * n_head_kv, >= n_kv]");
  }
  check_visibility(q, vis);
  Tensor* t = g.node(Op::ATTENTION, DType::F32, {q->ne[0], q->n_rows()},
                     {q, k, v, vis.mask, vis.last_row, vis.first_row, vis.groups.span, vis.groups.temp_scale});
  t->iparams[kHeadDim] = p.head_dim;
  t->iparams[kNHead] = p.n_head;
  t->iparams[kNHeadKV] = p.n_head_kv;
  t->iparams[kNKv] = vis.n_kv;
  t->iparams[kQPos0] = vis.q_pos0;
  t->iparams[kCausal] = vis.causal ? 1 : 0;
  t->fparams[0] = p.scale;
  return t;
}

AttentionParams attention_params_of(const Tensor* node) {
  AttentionParams p;
  p.head_dim = node->iparams[kHeadDim];
  p.n_head = node->iparams[kNHead];
  p.n_head_kv = node->iparams[kNHeadKV];
  p.scale = node->fparams[0];
  return p;
}

KeyVisibility key_visibility_of(const Tensor* node) {
  KeyVisibility vis;
  vis.n_kv = node->iparams[kNKv];
  vis.q_pos0 = node->iparams[kQPos0];
  vis.causal = node->iparams[kCausal] != 0;
  vis.last_row = node->src[kLastRow];
  vis.first_row = node->src[kFirstRow];
  vis.mask = node->src[kMask];
  vis.groups.span = node->src[kSpan];
  vis.groups.temp_scale = node->src[kTempScale];
  return vis;
}

}  // namespace kvlink
