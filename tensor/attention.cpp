// ATTENTION: softmax(scale * q k^T + mask) v per query head, grouped-query (several q heads share a
// kv head). Few queries (decoding), or one query per sequence (batched decoding): per-head loops
// reading the cache rows directly. Many queries
// (prefill): key tiles with an online softmax and two OpenBLAS sgemms per tile; each query block only
// touches the keys it can see.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "tensor/simd.h"

namespace kvlink {

namespace {
constexpr int64_t kMinGemmQueries = 8;
constexpr int64_t kQueriesPerTask = 64;  // prefill: queries per task (times the q heads per kv head)
constexpr int64_t kKeyTile = 256;         // prefill: keys per tile of the online softmax

constexpr int64_t kRowsQueryBlock = 16;  // smaller blocks for scattered queries: each needs fewer keys

struct AttnShape {
  int64_t head_dim, n_head, n_head_kv, n_kv, q_pos0, n_q;
  bool causal;
  float scale;
  const int32_t* q_rows;   // explicit query rows, or null
  const int32_t* q_first;  // first row each query sees (several sequences in one cache), or null
};

AttnShape shape_of(const Tensor* node) {
  const Tensor* rows = node->src[4];
  const Tensor* first = node->src[5];
  return AttnShape{node->iparams[0], node->iparams[1], node->iparams[2], node->iparams[3],
                   node->iparams[4], node->src[0]->n_rows(), node->iparams[5] != 0, node->fparams[0],
                   rows ? static_cast<const int32_t*>(rows->data) : nullptr,
                   first ? static_cast<const int32_t*>(first->data) : nullptr};
}

// Keys query t may see: all n_kv rows, under causal masking those up to its own row, with explicit
// query rows those up to its given row.
int64_t visible_keys(const AttnShape& s, int64_t t) {
  if (s.q_rows) return std::min<int64_t>(s.n_kv, s.q_rows[t] + 1);
  return s.causal ? std::min(s.n_kv, s.q_pos0 + t + 1) : s.n_kv;
}

// The first key query t may see: 0, or its sequence's first row.
int64_t first_key(const AttnShape& s, int64_t t) { return s.q_first ? s.q_first[t] : 0; }

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
      const int64_t j0 = first_key(s, t);
      const int64_t n = visible_keys(s, t) - j0;  // keys j0 .. j0 + n - 1, scores[0..n)
      const float* mrow = mask ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) : nullptr;
      const bool f16 = k->type == DType::F16;
      for (int64_t j = 0; j < n; ++j) {
        const void* krow = cache_row(k, j0 + j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem;
        scores[j] = s.scale * dot_f32_row(qh, krow, f16, s.head_dim) + (mrow ? mrow[j0 + j] : 0.0f);
      }
      softmax_row(scores, n, n);
      float* out = reinterpret_cast<float*>(static_cast<uint8_t*>(node->data) + t * node->nb[1]) + h * s.head_dim;
      std::fill(out, out + s.head_dim, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        if (scores[j] == 0.0f) continue;
        axpy_f32_row(out, scores[j], cache_row(v, j0 + j) + static_cast<size_t>(kvh * s.head_dim) * kv_elem, f16,
                     s.head_dim);
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

// Prefill: one task per (kv head, block of queries). The task packs the queries of every q head that
// shares the kv head into one matrix, then walks the visible keys in tiles: scores by sgemm, an online
// softmax (running max and sum per row, as in FlashAttention: Dao et al. 2022, alg. 1), and the
// output accumulated by a second sgemm. A tile's K, V, scores and output stay in L2.
void attention_prefill(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* mask = node->src[3];
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t hd = s.head_dim;
  const int64_t qb = s.q_rows ? kRowsQueryBlock : kQueriesPerTask;
  const int64_t n_blocks = (s.n_q + qb - 1) / qb;
  const int64_t m_max = group * qb;  // packed rows per task
  const size_t kv_floats = static_cast<size_t>(s.n_kv * hd);
  const size_t per_thread = static_cast<size_t>(m_max * (2 * hd + kKeyTile + 3));
  float* work = arena.work(2 * kv_floats * static_cast<size_t>(s.n_head_kv) + per_thread * static_cast<size_t>(n_threads));
  std::vector<const float*> kf(static_cast<size_t>(s.n_head_kv)), vf(static_cast<size_t>(s.n_head_kv));
  std::vector<int> ldk(static_cast<size_t>(s.n_head_kv)), ldv(static_cast<size_t>(s.n_head_kv));
  for (int64_t h = 0; h < s.n_head_kv; ++h) {
    const size_t i = static_cast<size_t>(h);
    kf[i] = kv_head_f32(node->src[1], h, s, work + (2 * i) * kv_floats, &ldk[i], n_threads);
    vf[i] = kv_head_f32(node->src[2], h, s, work + (2 * i + 1) * kv_floats, &ldv[i], n_threads);
  }
  float* thread_base = work + 2 * kv_floats * static_cast<size_t>(s.n_head_kv);
  const int64_t ldq = static_cast<int64_t>(q->nb[1] / sizeof(float));
  const int64_t ldo = static_cast<int64_t>(node->nb[1] / sizeof(float));
  openblas_set_num_threads(1);
  // Single-threaded sgemms inside our own OpenMP team (see matmul.cpp on why OpenBLAS never runs its
  // own threads here).
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
  for (int64_t task = 0; task < s.n_head_kv * n_blocks; ++task) {
    const int64_t kvh = task / n_blocks;
    const int64_t t0 = (task % n_blocks) * qb;
    const int64_t tb = std::min(qb, s.n_q - t0);
    const int64_t m = group * tb;  // packed row r = g * tb + i: q head kvh * group + g, query t0 + i
    float* qp = thread_base + per_thread * static_cast<size_t>(omp_get_thread_num());
    float* acc = qp + m_max * hd;
    float* scores = acc + m_max * hd;
    float* row_max = scores + m_max * kKeyTile;
    float* row_sum = row_max + m_max;
    float* row_keys = row_sum + m_max;  // visible keys per row, as float to share the buffer
    int64_t nk = 0;
    for (int64_t g = 0; g < group; ++g) {
      for (int64_t i = 0; i < tb; ++i) {
        const int64_t r = g * tb + i;
        const float* src = static_cast<const float*>(q->data) + (t0 + i) * ldq + (kvh * group + g) * hd;
        std::copy(src, src + hd, qp + r * hd);
        const int64_t n = visible_keys(s, t0 + i);
        row_keys[r] = static_cast<float>(n);
        nk = std::max(nk, n);
      }
    }
    std::fill(acc, acc + m * hd, 0.0f);
    std::fill(row_max, row_max + m, -std::numeric_limits<float>::infinity());
    std::fill(row_sum, row_sum + m, 0.0f);
    const size_t kvi = static_cast<size_t>(kvh);
    for (int64_t j0 = 0; j0 < nk; j0 += kKeyTile) {
      const int64_t jn = std::min(kKeyTile, nk - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(jn), static_cast<int>(hd),
                  s.scale, qp, static_cast<int>(hd), kf[kvi] + j0 * ldk[kvi], ldk[kvi], 0.0f, scores, static_cast<int>(jn));
      for (int64_t r = 0; r < m; ++r) {
        float* row = scores + r * jn;
        const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(row_keys[r]) - j0, 0, jn);
        if (mask && n > 0) {
          const int64_t t = t0 + r % tb;
          const float* mrow = reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) + j0;
          for (int64_t j = 0; j < n; ++j) row[j] += mrow[j];
        }
        const float mx = n > 0 ? vec_max(row, n) : -std::numeric_limits<float>::infinity();
        if (mx == -std::numeric_limits<float>::infinity()) {  // nothing visible in this tile
          std::fill(row, row + jn, 0.0f);
          continue;
        }
        const float new_max = std::max(row_max[r], mx);
        if (new_max > row_max[r] && row_sum[r] > 0.0f) {
          const float c = std::exp(row_max[r] - new_max);
          row_sum[r] *= c;
          vec_scale(acc + r * hd, hd, c);
        }
        row_max[r] = new_max;
        row_sum[r] += static_cast<float>(vec_exp_sum(row, n, new_max));
        std::fill(row + n, row + jn, 0.0f);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(hd), static_cast<int>(jn),
                  1.0f, scores, static_cast<int>(jn), vf[kvi] + j0 * ldv[kvi], ldv[kvi], 1.0f, acc, static_cast<int>(hd));
    }
    for (int64_t r = 0; r < m; ++r) {
      const int64_t g = r / tb, i = r % tb;
      float* out = static_cast<float*>(node->data) + (t0 + i) * ldo + (kvh * group + g) * hd;
      const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;  // no visible key: zeros
      for (int64_t e = 0; e < hd; ++e) out[e] = acc[r * hd + e] * inv;
    }
  }
}
}  // namespace

void kernel_attention(Tensor* node, Arena& arena, int n_threads) {
  const AttnShape s = shape_of(node);
  for (int64_t t = 0; s.q_rows && t < s.n_q; ++t) {  // validated before the parallel loops: no throwing inside them
    if (s.q_rows[t] < 0 || s.q_rows[t] >= s.n_kv) {
      throw Error("attention: query row " + std::to_string(s.q_rows[t]) + " outside the " + std::to_string(s.n_kv) + " keys");
    }
  }
  for (int64_t t = 0; s.q_first && t < s.n_q; ++t) {
    if (s.q_first[t] < 0 || s.q_first[t] > s.q_rows[t]) {
      throw Error("attention: first row " + std::to_string(s.q_first[t]) + " of query " + std::to_string(t) +
                  " is not in 0.." + std::to_string(s.q_rows[t]));
    }
  }
  // Queries of several sequences (q_first) each see only their own rows: the per-query loops, which
  // read just those rows (the tiled path converts every row up to n_kv for each kv head).
  if (s.n_q < kMinGemmQueries || s.q_first) {
    attention_decode(node, s, arena, n_threads);
  } else {
    attention_prefill(node, s, arena, n_threads);
  }
}

}  // namespace kvlink
