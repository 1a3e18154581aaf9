// ATTENTION: softmax(scale * q k^T + mask) v per query head, grouped-query (several q heads share a
// kv head). Few queries (decoding), or one query per sequence (batched decoding): per-head loops
// reading the cache rows directly. Many queries
// (prefill): key tiles with an online softmax and two OpenBLAS sgemms per tile; each query block only
// touches the keys it can see.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/attention_groups.h"
#include "tensor/blas.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "tensor/simd.h"
#include "tensor/thread_pool.h"

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
  const int32_t* q_rows;   // explicit query rows (KeyVisibility::last_row), or null
  const int32_t* q_first;  // first row each query sees (several sequences in one cache), or null
  const Tensor* mask;      // added to the scores, or null
  const int32_t* span;     // APE's context group of each query, keys [span[2t], span[2t+1]), or null
  const float* temp_scale; // its temperature and log-sum-exp scale (span set)
};

AttnShape shape_of(const Tensor* node) {
  const AttentionParams p = attention_params_of(node);
  const KeyVisibility vis = key_visibility_of(node);
  return AttnShape{p.head_dim, p.n_head, p.n_head_kv, vis.n_kv, vis.q_pos0, node->src[0]->n_rows(), vis.causal, p.scale,
                   vis.last_row ? static_cast<const int32_t*>(vis.last_row->data) : nullptr,
                   vis.first_row ? static_cast<const int32_t*>(vis.first_row->data) : nullptr, vis.mask,
                   vis.groups.span ? static_cast<const int32_t*>(vis.groups.span->data) : nullptr,
                   vis.groups.temp_scale ? static_cast<const float*>(vis.groups.temp_scale->data) : nullptr};
}

// Keys query t may see: all n_kv rows, under causal masking those up to its own row, with explicit
// query rows those up to its given row.
int64_t visible_keys(const AttnShape& s, int64_t t) {
  if (s.q_rows) return std::min<int64_t>(s.n_kv, s.q_rows[t] + 1);
  return s.causal ? std::min(s.n_kv, s.q_pos0 + t + 1) : s.n_kv;
}

// The first key query t may see: 0, or its sequence's first row.
int64_t first_key(const AttnShape& s, int64_t t) { return s.q_first ? s.q_first[t] : 0; }

// Query t's APE context group within its n visible keys from j0 on: scores [a, b); empty (a == b)
// when the query has none.
struct ContextGroup {
  int64_t a = 0, b = 0;
  float temperature = 1, lse_scale = 1;
};
ContextGroup context_group(const AttnShape& s, int64_t t, int64_t j0, int64_t n) {
  if (!s.span || s.span[2 * t] == s.span[2 * t + 1]) return {};
  const int64_t a = std::clamp<int64_t>(s.span[2 * t] - j0, 0, n), b = std::clamp<int64_t>(s.span[2 * t + 1] - j0, a, n);
  return ContextGroup{a, b, s.temp_scale[2 * t], s.temp_scale[2 * t + 1]};
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

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
constexpr bool kHaveSimdDecode = true;
constexpr int64_t kPrefetchRows = 16;    // cache rows ahead to prefetch
constexpr int64_t kDecodeTile = 64;      // keys per tile: 64 rows of K or V for every kv head stay in L1
constexpr int64_t kMaxHeadsPerTask = 3;  // q heads of one kv head through the kernels together (accumulators fit 16 registers)

template <bool F16>
inline __m256 load8(const uint8_t* row, int64_t i) {
  if constexpr (F16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row) + i / 8));
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
}

// scores[g][j] = scale * q[g] . k_j (+ mask[j]) for the G q heads of one kv head and keys j < n, four
// keys at a time: each K row chunk is converted once and used by all G heads. A short last block
// repeats its last key and drops the extra scores. Rows below n_ahead (>= n: the sequence's rows from
// k0 on) are prefetched too, so the next tile's first rows are on their way when this one ends.
template <int G, bool F16>
void decode_scores(const float* const* q, const uint8_t* k0, size_t stride, int64_t n, int64_t n_ahead, int64_t hd,
                   float scale, const float* mrow, float* const* scores) {
  for (int64_t j = 0; j < n; j += 4) {
    const uint8_t* rows[4];
    for (int64_t u = 0; u < 4; ++u) rows[u] = k0 + static_cast<size_t>(std::min(j + u, n - 1)) * stride;
    for (int64_t u = 0; u < 4; ++u) {  // rows a few blocks ahead: the batched cache is read from memory
      const char* ahead = reinterpret_cast<const char*>(k0 + static_cast<size_t>(std::min(j + kPrefetchRows + u, n_ahead - 1)) * stride);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
    }
    __m256 acc[G][4];
    for (int g = 0; g < G; ++g)
      for (int u = 0; u < 4; ++u) acc[g][u] = _mm256_setzero_ps();
    for (int64_t i = 0; i < hd; i += 8) {
      for (int u = 0; u < 4; ++u) {
        const __m256 k = load8<F16>(rows[u], i);
        for (int g = 0; g < G; ++g) acc[g][u] = _mm256_fmadd_ps(_mm256_loadu_ps(q[g] + i), k, acc[g][u]);
      }
    }
    const int64_t nj = std::min<int64_t>(4, n - j);
    for (int g = 0; g < G; ++g) {
      alignas(16) float d[4];
      _mm_store_ps(d, hsum4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]));
      for (int64_t u = 0; u < nj; ++u) scores[g][j + u] = scale * d[u] + (mrow ? mrow[j + u] : 0.0f);
    }
  }
}

// out[g][i0 .. i0 + 8C) (+)= sum_j p[g][j] v_j over keys j < n, keys in order, the G heads sharing each
// converted V chunk; rows up to n_ahead are prefetched.
template <int G, int C, bool F16>
void decode_weighted_sum(const float* const* p, const uint8_t* v0, size_t stride, int64_t n, int64_t n_ahead, int64_t i0,
                         bool add, float* const* out) {
  constexpr size_t elem = F16 ? 2 : 4;
  __m256 acc[G][C];
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) acc[g][c] = add ? _mm256_loadu_ps(out[g] + i0 + 8 * c) : _mm256_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    const uint8_t* row = v0 + static_cast<size_t>(j) * stride;
    const char* ahead = reinterpret_cast<const char*>(v0 + static_cast<size_t>(std::min(j + kPrefetchRows, n_ahead - 1)) * stride);
    _mm_prefetch(ahead + elem * static_cast<size_t>(i0), _MM_HINT_T0);
    _mm_prefetch(ahead + elem * static_cast<size_t>(i0 + 8 * C) - 1, _MM_HINT_T0);
    __m256 w[G];
    for (int g = 0; g < G; ++g) w[g] = _mm256_set1_ps(p[g][j]);
    for (int c = 0; c < C; ++c) {
      const __m256 v = load8<F16>(row, i0 + 8 * c);
      for (int g = 0; g < G; ++g) acc[g][c] = _mm256_fmadd_ps(w[g], v, acc[g][c]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(out[g] + i0 + 8 * c, acc[g][c]);
}

template <int G, bool F16>
void decode_values(const float* const* p, const uint8_t* v0, size_t stride, int64_t n, int64_t n_ahead, int64_t hd, bool add,
                   float* const* out) {
  int64_t i0 = 0;
  for (; i0 + 32 <= hd; i0 += 32) decode_weighted_sum<G, 4, F16>(p, v0, stride, n, n_ahead, i0, add, out);
  for (; i0 < hd; i0 += 8) decode_weighted_sum<G, 1, F16>(p, v0, stride, n, n_ahead, i0, add, out);
}

// fn(std::integral_constant<int, G>) for G = heads (1..kMaxHeadsPerTask): the kernels' head count as
// a compile-time constant.
template <typename Fn>
void with_head_count(int64_t heads, Fn&& fn) {
  switch (heads) {
    case 1: return fn(std::integral_constant<int, 1>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    default: return fn(std::integral_constant<int, kMaxHeadsPerTask>{});
  }
}

// Heads h_begin..h_end-1 of one query over its n keys (cache rows from k0/v0 on). Keys go in tiles of
// kDecodeTile rows, and within a tile every kv head in the range takes its turn, so a row is read from
// memory once for all of them; each kv head's q heads go through the kernels above together, up to
// kMaxHeadsPerTask at a time. A head's arithmetic does not depend on the range it is part of.
template <bool F16>
void decode_query(int64_t h_begin, int64_t h_end, int64_t group, const float* qrow, const uint8_t* k0, const uint8_t* v0,
                  size_t stride, int64_t n, int64_t hd, float scale, const float* mrow, const ContextGroup& cg, float* scores,
                  int64_t s_stride, float* orow) {
  constexpr size_t elem = F16 ? 2 : 4;
  // fn(h, heads, kv offset in bytes) for each run of heads that share a kv head
  auto for_each_chunk = [&](auto&& fn) {
    for (int64_t h = h_begin; h < h_end;) {
      const int64_t kvh = h / group;
      const int64_t heads = std::min({kMaxHeadsPerTask, h_end - h, (kvh + 1) * group - h});
      fn(h, heads, static_cast<size_t>(kvh * hd) * elem);
      h += heads;
    }
  };
  for (int64_t jt = 0; jt < n; jt += kDecodeTile) {
    const int64_t jn = std::min(kDecodeTile, n - jt);
    for_each_chunk([&](int64_t h, int64_t heads, size_t off) {
      const float* qh[kMaxHeadsPerTask];
      float* sh[kMaxHeadsPerTask];
      for (int64_t g = 0; g < heads; ++g) {
        qh[g] = qrow + (h + g) * hd;
        sh[g] = scores + (h - h_begin + g) * s_stride + jt;
      }
      const uint8_t* k = k0 + static_cast<size_t>(jt) * stride + off;
      const float* m = mrow ? mrow + jt : nullptr;
      with_head_count(heads, [&](auto G) { decode_scores<G, F16>(qh, k, stride, jn, n - jt, hd, scale, m, sh); });
    });
  }
  for (int64_t h = h_begin; h < h_end; ++h) {
    float* row = scores + (h - h_begin) * s_stride;
    if (cg.a < cg.b) group_probabilities(row, n, cg.a, cg.b, cg.temperature, cg.lse_scale);
    else softmax_row(row, n, n);
  }
  for (int64_t jt = 0; jt < n; jt += kDecodeTile) {
    const int64_t jn = std::min(kDecodeTile, n - jt);
    for_each_chunk([&](int64_t h, int64_t heads, size_t off) {
      const float* ph[kMaxHeadsPerTask];
      float* oh[kMaxHeadsPerTask];
      for (int64_t g = 0; g < heads; ++g) {
        ph[g] = scores + (h - h_begin + g) * s_stride + jt;
        oh[g] = orow + (h + g) * hd;
      }
      const uint8_t* v = v0 + static_cast<size_t>(jt) * stride + off;
      with_head_count(heads, [&](auto G) { decode_values<G, F16>(ph, v, stride, jn, n - jt, hd, jt > 0, oh); });
    });
  }
}
#else
constexpr bool kHaveSimdDecode = false;
#endif

// The q heads of one decode task (the SIMD kernels): a query's all when the queries go round the
// threads twice (batched decoding), else one kv head's (each K and V row converted once for all of
// them), or one if there are fewer kv heads than threads.
int64_t decode_heads_per_task(const AttnShape& s, int n_threads) {
  if (s.n_q >= 2 * n_threads) return s.n_head;
  if (s.n_q * s.n_head_kv >= n_threads) return s.n_head / s.n_head_kv;
  return 1;
}

// Few queries: per-query loops over the cache rows, a task's heads as decode_heads_per_task says (the
// portable path: one). Either way a head's arithmetic is the same, so a sequence decoded alone and in
// a batch gets the same numbers. The SIMD path gives APE's queries their context groups in the same
// pass (returns true); the portable path leaves them to attention_context_groups.
bool attention_decode(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* k = node->src[1];
  const Tensor* v = node->src[2];
  const Tensor* mask = s.mask;
  const int64_t group = s.n_head / s.n_head_kv;
  const bool f16 = k->type == DType::F16;
  const bool simd = kHaveSimdDecode && s.head_dim % 8 == 0 && (f16 || k->type == DType::F32) && v->type == k->type;
  const int64_t heads_per_task = simd ? decode_heads_per_task(s, n_threads) : 1;
  const int64_t tasks_per_query = s.n_head / heads_per_task;
  // A head's scores lie score_stride(n) floats after the previous head's: rows of a power-of-two
  // length (a slot of the batched cache) would put every head's scores in the same cache sets.
  auto score_stride = [](int64_t n) { return (n + 15) / 16 * 16 + 16; };
  const size_t per_thread = static_cast<size_t>(score_stride(s.n_kv) * heads_per_task);
  float* work = arena.work(per_thread * static_cast<size_t>(std::max(1, n_threads)));
  const size_t kv_elem = type_traits(k->type).block_bytes;
  parallel_for_each(n_threads, s.n_q * tasks_per_query, 1, [&](int64_t task, int worker) {
    const int64_t t = task / tasks_per_query;
    const int64_t h0 = task % tasks_per_query * heads_per_task;
    float* scores = work + per_thread * static_cast<size_t>(worker);
    const int64_t j0 = first_key(s, t);
    const int64_t n = visible_keys(s, t) - j0;  // keys j0 .. j0 + n - 1, scores[0..n)
    const float* mrow = mask ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(mask->data) + t * mask->nb[1]) + j0 : nullptr;
    const float* qrow = reinterpret_cast<const float*>(static_cast<const uint8_t*>(q->data) + t * q->nb[1]);
    const int64_t s_stride = score_stride(n);
    float* orow = reinterpret_cast<float*>(static_cast<uint8_t*>(node->data) + t * node->nb[1]);
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
    if (simd) {
      const ContextGroup cg = context_group(s, t, j0, n);
      if (f16) {
        decode_query<true>(h0, h0 + heads_per_task, group, qrow, cache_row(k, j0), cache_row(v, j0), k->nb[1], n, s.head_dim,
                           s.scale, mrow, cg, scores, s_stride, orow);
      } else {
        decode_query<false>(h0, h0 + heads_per_task, group, qrow, cache_row(k, j0), cache_row(v, j0), k->nb[1], n, s.head_dim,
                            s.scale, mrow, cg, scores, s_stride, orow);
      }
      return;
    }
#endif
    for (int64_t h = h0; h < h0 + heads_per_task; ++h) {  // the portable path: any head size and cache type
      const size_t head_off = static_cast<size_t>(h / group * s.head_dim) * kv_elem;
      const float* qh = qrow + h * s.head_dim;
      for (int64_t j = 0; j < n; ++j) {
        scores[j] = s.scale * dot_f32_row(qh, cache_row(k, j0 + j) + head_off, f16, s.head_dim) + (mrow ? mrow[j] : 0.0f);
      }
      softmax_row(scores, n, n);
      float* out = orow + h * s.head_dim;
      std::fill(out, out + s.head_dim, 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        if (scores[j] != 0.0f) axpy_f32_row(out, scores[j], cache_row(v, j0 + j) + head_off, f16, s.head_dim);
      }
    }
  });
  return simd;
}

// The kv head's rows 0..n_kv-1 as F32 [n_kv, head_dim]: a strided view of an F32 cache, or a converted
// copy of an F16 one in `buf`. Returns the pointer and sets the leading dimension.
const float* kv_head_f32(const Tensor* c, int64_t kvh, const AttnShape& s, float* buf, int* ld, int n_threads) {
  if (c->type == DType::F32) {
    *ld = static_cast<int>(c->nb[1] / sizeof(float));
    return reinterpret_cast<const float*>(c->data) + kvh * s.head_dim;
  }
  const size_t elem = type_traits(c->type).block_bytes;
  parallel_for_each(n_threads, s.n_kv, 64, [&](int64_t j, int) {
    dequantize_row(c->type, cache_row(c, j) + static_cast<size_t>(kvh * s.head_dim) * elem, buf + j * s.head_dim, s.head_dim);
  });
  *ld = static_cast<int>(s.head_dim);
  return buf;
}

// Prefill: one task per (kv head, block of queries). The task packs the queries of every q head that
// shares the kv head into one matrix, then walks the visible keys in tiles: scores by sgemm, an online
// softmax (running max and sum per row, as in FlashAttention: Dao et al. 2022, alg. 1), and the
// output accumulated by a second sgemm. A tile's K, V, scores and output stay in L2.
void attention_prefill(Tensor* node, const AttnShape& s, Arena& arena, int n_threads) {
  const Tensor* q = node->src[0];
  const Tensor* mask = s.mask;
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
  // Single-threaded sgemms inside the thread pool's tasks (tensor/blas.h).
  parallel_for_each(n_threads, s.n_head_kv * n_blocks, 1, [&](int64_t task, int worker) {
    const int64_t kvh = task / n_blocks;
    const int64_t t0 = (task % n_blocks) * qb;
    const int64_t tb = std::min(qb, s.n_q - t0);
    const int64_t m = group * tb;  // packed row r = g * tb + i: q head kvh * group + g, query t0 + i
    float* qp = thread_base + per_thread * static_cast<size_t>(worker);
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
      sgemm(true, static_cast<int>(m), static_cast<int>(jn), static_cast<int>(hd), s.scale, qp, static_cast<int>(hd),
            kf[kvi] + j0 * ldk[kvi], ldk[kvi], 0.0f, scores, static_cast<int>(jn));
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
      sgemm(false, static_cast<int>(m), static_cast<int>(hd), static_cast<int>(jn), 1.0f, scores, static_cast<int>(jn),
            vf[kvi] + j0 * ldv[kvi], ldv[kvi], 1.0f, acc, static_cast<int>(hd));
    }
    for (int64_t r = 0; r < m; ++r) {
      const int64_t g = r / tb, i = r % tb;
      float* out = static_cast<float*>(node->data) + (t0 + i) * ldo + (kvh * group + g) * hd;
      const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;  // no visible key: zeros
      for (int64_t e = 0; e < hd; ++e) out[e] = acc[r * hd + e] * inv;
    }
  });
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
  if (s.span) check_context_groups(node);
  bool groups_done = false;
  if (s.n_q < kMinGemmQueries || s.q_first) {
    groups_done = attention_decode(node, s, arena, n_threads);
  } else {
    attention_prefill(node, s, arena, n_threads);
  }
  if (s.span && !groups_done) attention_context_groups(node, n_threads);  // APE's queries, over the ordinary output
}

}  // namespace kvlink
