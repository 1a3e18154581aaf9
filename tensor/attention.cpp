// ATTENTION: softmax(scale * q k^T + mask) v per query head, grouped-query (several q heads share a
// kv head). Few queries (decoding): per-head loops reading the cache rows directly. Many queries
// (prefill): per head, blocks of queries go through two OpenBLAS sgemms; causal blocks only touch the
// keys they can see.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "tensor/simd.h"

namespace kvlink {

namespace {
constexpr int64_t kMinGemmQueries = 8;
constexpr int64_t kQueryBlock = 256;

struct AttnShape {
  int64_t head_dim, n_head, n_head_kv, n_kv, q_pos0, n_q;
  bool causal;
  float scale;
};

AttnShape shape_of(const Tensor* node) {
  return AttnShape{node->iparams[0], node->iparams[1], node->iparams[2], node->iparams[3],
                   node->iparams[4], node->src[0]->n_rows(), node->iparams[5] != 0, node->fparams[0]};
}

// Keys query t may see: all n_kv rows, or under causal masking those up to its own row.
int64_t visible_keys(const AttnShape& s, int64_t t) {
  return s.causal ? std::min(s.n_kv, s.q_pos0 + t + 1) : s.n_kv;
}

// In-place softmax over the first n entries; entries n..n_total are set to 0. A row with no
// visible key (all -inf) becomes all zeros rather than NaN.
void softmax_row(float* row, int64_t n, int64_t n_total) {
  const float max = vec_max(row, n);
  if (max == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + n_total, 0.0f);
    return;
  }
  const double sum = vec_exp_sum(row, n, max);
  vec_scale(row, n, static_cast<float>(1.0 / sum));
  std::fill(row + n, row + n_total, 0.0f);
}

const uint8_t* cache_row(const Tensor* c, int64_t row) { return static_cast<const uint8_t*>(c->data) + row * c->nb[1]; }

void attention_decode(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* k = node->src[1];
  const Tensor* v = node->src[2];
  const Tensor* mask = node->src[3];
  const int64_t group = s.n_head / s.n_head_kv;
  const size_t per_thread = static_cast<size_t>(s.n_kv);
  float* work = arena.work(per_thread * static_cast<size_t>(std::max(1, n_threads)));
  const size_t kv_elem = type_traits(k->type).block_bytes;
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
  for (int64_t t = 0; t < s.n_q; ++t) {
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int tid = omp_get_thread_num();
      float* scores = work + per_thread * static_cast<size_t>(tid);
      const int64_t kvh = h / group;
      const float* qh = reinterpret_cast<const float*>(static_cast<const uint8_t*>(q->data) + t * q->nb[1]) + h * s.head_dim;
      const int64_t n = visible_keys(s, t);
      const float* mrow = mask ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) : nullptr;
      const bool f16 = k->type == DType::F16;
      for (int64_t j = 0; j < n; ++j) {
        const void* krow = cache_row(k, j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem;
        scores[j] = s.scale * dot_f32_row(qh, krow, f16, s.head_dim) + (mrow ? mrow[j] : 0.0f);
      }
      softmax_row(scores, n, n);
      float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(node->data) + t * node->nb[1]) + h * s.head_dim;
      std::fill(out, out + s.head_dim, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        if (scores[j] == 0.0f) continue;
        axpy_f32_row(out, scores[j], cache_row(v, j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem, f16, s.head_dim);
      }
    }
  }
}

// The kv head's rows 0..n_kv-1 as F32 [n_kv, head_dim]: a strided view of an F32 cache, or a converted
// copy of an F16 one in `buf`. Returns the pointer and sets the leading dimension.
const float* kv_head_f32(const Tensor* c, int64_t kvh, const AttnShape& s, float* buf, int* ld, int n_threads) {
  if (c->type == DType::F32) {
    *ld = static_cast<int>(c->nb[1] / sizeof(float));
    return reinterpret_cast<const float*>(c->data) + kvh * s.head_dim;
  }
  const size_t elem = type_traits(c->type).block_bytes;
#pragma omp parallel for num_threads(n_threads) schedule(static)
  for (int64_t j = 0; j < s.n_kv; ++j) {
    dequantize_row(c->type, cache_row(c, j) + static_cast<size_t>(kvh * s.head_dim) * elem, buf + j * s.head_dim, s.head_dim);
  }
  *ld = static_cast<int>(s.head_dim);
  return buf;
}

void attention_prefill(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* mask = node->src[3];
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t n_blocks = (s.n_q + kQueryBlock - 1) / kQueryBlock;
  const size_t kv_floats = static_cast<size_t>(s.n_kv * s.head_dim);
  const size_t scores_floats = static_cast<size_t>(kQueryBlock * s.n_kv);
  // Work: F32 copies of every kv head's K and V, then one score block per thread.
  float* work = arena.work(2 * kv_floats * static_cast<size_t>(s.n_head_kv) + scores_floats * static_cast<size_t>(n_threads));
  std::vector<const float*> kf(static_cast<size_t>(s.n_head_kv)), vf(static_cast<size_t>(s.n_head_kv));
  std::vector<int> ldk(static_cast<size_t>(s.n_head_kv)), ldv(static_cast<size_t>(s.n_head_kv));
  for (int64_t h = 0; h < s.n_head_kv; ++h) {
    const size_t i = static_cast<size_t>(h);
    kf[i] = kv_head_f32(node->src[1], h, s, work + (2 * i) * kv_floats, &ldk[i], n_threads);
    vf[i] = kv_head_f32(node->src[2], h, s, work + (2 * i + 1) * kv_floats, &ldv[i], n_threads);
  }
  float* scores_base = work + 2 * kv_floats * static_cast<size_t>(s.n_head_kv);
  const int ldq = static_cast<int>(q->nb[1] / sizeof(float));
  const int ldo = static_cast<int>(node->nb[1] / sizeof(float));
  openblas_set_num_threads(1);
  // One task per (head, query block), each with single-threaded sgemms (see matmul.cpp on why
  // OpenBLAS never runs its own threads here).
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
  for (int64_t task = 0; task < s.n_head * n_blocks; ++task) {
    const int64_t h = task / n_blocks;
    const int64_t t0 = (task % n_blocks) * kQueryBlock;
    const size_t kvh = static_cast<size_t>(h / group);
    float* scores = scores_base + scores_floats * static_cast<size_t>(omp_get_thread_num());
    const int64_t tb = std::min(kQueryBlock, s.n_q - t0);
    const int64_t nk = visible_keys(s, t0 + tb - 1);
    const float* qb = static_cast<const float*>(q->data) + t0 * ldq + h * s.head_dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(tb), static_cast<int>(nk),
                static_cast<int>(s.head_dim), s.scale, qb, ldq, kf[kvh], ldk[kvh], 0.0f, scores, static_cast<int>(nk));
    for (int64_t r = 0; r < tb; ++r) {
      float* row = scores + r * nk;
      const int64_t n = visible_keys(s, t0 + r);
      if (mask) {
        const float* mrow = reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + (t0 + r) * mask->nb[1]);
        for (int64_t j = 0; j < n; ++j) row[j] += mrow[j];
      }
      softmax_row(row, n, nk);
    }
    float* ob = static_cast<float*>(node->data) + t0 * ldo + h * s.head_dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(tb), static_cast<int>(s.head_dim),
                static_cast<int>(nk), 1.0f, scores, static_cast<int>(nk), vf[kvh], ldv[kvh], 0.0f, ob, ldo);
  }
}
}  // namespace

void kernel_attention(Tensor* node, Arena& arena, int n_threads) {
  const AttnShape s = shape_of(node);
  if (s.n_q < kMinGemmQueries) {
    attention_decode(node, s, arena, n_threads);
  } else {
    attention_prefill(node, s, arena, n_threads);
  }
}

}  // namespace kvlink
