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

Tensor* mul_mat(Graph& g, Tensor* w, Tensor* x) {
  require(is_matrix(w) && x->type == DType::F32 && x->ne[0] == w->ne[0], "mul_mat",
          "shape mismatch: w has rows of " + std::to_string(w->ne[0]) + ", x of " + std::to_string(x->ne[0]));
  return g.node(Op::MUL_MAT, DType::F32, {w->ne[1], x->n_rows()}, {w, x});
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

Tensor* attention(Graph& g, Tensor* q, Tensor* k, Tensor* v, Tensor* mask, const AttentionParams& p, Tensor* q_rows,
                  Tensor* q_first, const AttentionGroupInputs* groups) {
  require(p.head_dim > 0 && p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0, "attention",
          "bad head counts");
  require(q->type == DType::F32 && q->ne[0] == static_cast<int64_t>(p.head_dim) * p.n_head, "attention",
          "q must be F32 [head_dim * n_head, T]");
  const int64_t kv_width = static_cast<int64_t>(p.head_dim) * p.n_head_kv;
  for (const Tensor* c : {k, v}) {
    require((c->type == DType::F32 || c->type == DType::F16) && c->ne[0] == kv_width && p.n_kv > 0 &&
                p.n_kv <= c->ne[1],
            "attention", "k/v must be F32/F16 [head_dim * n_head_kv, >= n_kv]");
  }
  require(!mask || (mask->type == DType::F32 && mask->ne[0] == p.n_kv && mask->n_rows() == q->n_rows()),
          "attention", "mask must be F32 [n_kv, T]");
  require(!p.causal || p.q_pos0 + q->n_rows() <= p.n_kv, "attention", "causal queries beyond the cache");
  require(!q_rows || (!p.causal && q_rows->type == DType::I32 && q_rows->n_elements() == q->n_rows()), "attention",
          "query rows must be I32 [T], without causal masking");
  require(!q_first || (q_rows && !mask && q_first->type == DType::I32 && q_first->n_elements() == q->n_rows()),
          "attention", "first query rows must be I32 [T], with query rows and without a mask");
  require(!groups || (q_rows && groups->span && groups->span->type == DType::I32 &&
                      groups->span->n_elements() == 2 * q->n_rows() && groups->temp_scale &&
                      groups->temp_scale->type == DType::F32 && groups->temp_scale->n_elements() == 2 * q->n_rows()),
          "attention", "context groups need query rows, an I32 span [2T] and an F32 temperature/scale [2T]");
  Tensor* t = g.node(Op::ATTENTION, DType::F32, {q->ne[0], q->n_rows()},
                     {q, k, v, mask, q_rows, q_first, groups ? groups->span : nullptr, groups ? groups->temp_scale : nullptr});
  t->iparams[0] = p.head_dim;
  t->iparams[1] = p.n_head;
  t->iparams[2] = p.n_head_kv;
  t->iparams[3] = p.n_kv;
  t->iparams[4] = p.q_pos0;
  t->iparams[5] = p.causal ? 1 : 0;
  t->fparams[0] = p.scale;
  return t;
}

}  // namespace kvlink
