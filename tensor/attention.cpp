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

// In-place softmax over the first n entries; entries n.. are set to 0. A row with no visible key
// (all -inf) becomes all zeros rather than NaN.
void softmax_row(float* row, int64_t n, int64_t n_total) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) max = std::max(max, row[j]);
  if (max == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + n_total, 0.0f);
    return;
  }
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    row[j] = std::exp(row[j] - max);
    sum += row[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  std::fill(row + n, row + n_total, 0.0f);
}

const uint8_t* cache_row(const Tensor* c, int64_t row) { return static_cast<const uint8_t*>(c->data) + row * c->nb[1]; }

void attention_decode(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* k = node->src[1];
  const Tensor* v = node->src[2];
  const Tensor* mask = node->src[3];
  const int64_t group = s.n_head / s.n_head_kv;
  const size_t per_thread = static_cast<size_t>(s.n_kv + s.head_dim);
  float* work = arena.work(per_thread * static_cast<size_t>(std::max(1, n_threads)));
  const size_t kv_elem = type_traits(k->type).block_bytes;
#pragma omp parallel for num_threads(n_threads) schedule(static) collapse(2)
  for (int64_t t = 0; t < s.n_q; ++t) {
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int tid = omp_get_thread_num();
      float* scores = work + per_thread * static_cast<size_t>(tid);
      float* vrow = scores + s.n_kv;
      const int64_t kvh = h / group;
      const float* qh = reinterpret_cast<const float*>(static_cast<const uint8_t*>(q->data) + t * q->nb[1]) + h * s.head_dim;
      const int64_t n = visible_keys(s, t);
      const float* mrow = mask ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) : nullptr;
      for (int64_t j = 0; j < n; ++j) {
        const void* krow = cache_row(k, j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem;
        scores[j] = s.scale * dot_row(k->type, krow, qh, s.head_dim) + (mrow ? mrow[j] : 0.0f);
      }
      softmax_row(scores, n, n);
      float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(node->data) + t * node->nb[1]) + h * s.head_dim;
      std::fill(out, out + s.head_dim, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        if (scores[j] == 0.0f) continue;
        dequantize_row(v->type, cache_row(v, j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem, vrow, s.head_dim);
        for (int64_t d = 0; d < s.head_dim; ++d) out[d] += scores[j] * vrow[d];
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
  const size_t kv_floats = static_cast<size_t>(s.n_kv * s.head_dim);
  float* work = arena.work(2 * kv_floats + static_cast<size_t>(kQueryBlock * s.n_kv));
  float* kbuf = work;
  float* vbuf = work + kv_floats;
  float* scores = work + 2 * kv_floats;
  const int ldq = static_cast<int>(q->nb[1] / sizeof(float));
  const int ldo = static_cast<int>(node->nb[1] / sizeof(float));
  openblas_set_num_threads(n_threads);
  for (int64_t kvh = 0; kvh < s.n_head_kv; ++kvh) {
    int ldk = 0, ldv = 0;
    const float* kf = kv_head_f32(node->src[1], kvh, s, kbuf, &ldk, n_threads);
    const float* vf = kv_head_f32(node->src[2], kvh, s, vbuf, &ldv, n_threads);
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int64_t t0 = 0; t0 < s.n_q; t0 += kQueryBlock) {
        const int64_t tb = std::min(kQueryBlock, s.n_q - t0);
        const int64_t nk = visible_keys(s, t0 + tb - 1);
        const float* qb = static_cast<const float*>(q->data) + t0 * ldq + h * s.head_dim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(tb), static_cast<int>(nk),
                    static_cast<int>(s.head_dim), s.scale, qb, ldq, kf, ldk, 0.0f, scores, static_cast<int>(nk));
#pragma omp parallel for num_threads(n_threads) schedule(static)
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
                    static_cast<int>(nk), 1.0f, scores, static_cast<int>(nk), vf, ldv, 0.0f, ob, ldo);
      }
    }
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
