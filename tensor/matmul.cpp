// MUL_MAT: y = W x for a weight W [K, N] of any type and F32 activations x [K, T].
// Up to 64 columns (decoding, alone or batched): each weight row dequantised once, into L1, and dotted
// with every column, with the same arithmetic per column whatever their number. Without AVX2, or for
// rows that are no whole number of 8 floats, few columns use the quantised matvec straight from W's
// blocks. Many columns (prefill): the product is cut into tiles of (weight rows x tokens); each OpenMP task dequantises its weight rows
// into a per-thread slab and multiplies with a single-threaded OpenBLAS sgemm. All parallelism is
// ours: Debian's OpenMP OpenBLAS does not detect nesting, and letting it start its own team next to
// ours oversubscribes the cores (measured: 2 threads ran at half the speed of 1).
#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "tensor/simd.h"

namespace kvlink {

namespace {
constexpr int64_t kMinGemmColumns = 8;  // below this (without the row kernel), matvec per column
#if defined(__AVX2__) && defined(__FMA__)
constexpr int64_t kMaxRowColumns = 64;  // up to this, the row kernel: as fast as dequantise + sgemm at 16-32 columns

// y[t, r] = W[r] . x[t] for columns t0..t0+C-1 and weight rows w0, w1 (already F32). Each column's
// sum is the same whatever the other columns are: a column gets the same number in a batch of any
// size as alone, which keeps batched decoding's answers those of decoding alone.
template <int C>
void dot_rows_columns(const float* w0, const float* w1, const float* x, int64_t K, int64_t t0, float* s0, float* s1) {
  __m256 a0[4], a1[4];
  for (int u = 0; u < 4; ++u) a0[u] = a1[u] = _mm256_setzero_ps();
  for (int64_t i = 0; i < K; i += 8) {
    const __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i);
    for (int u = 0; u < C; ++u) {
      const __m256 xv = _mm256_loadu_ps(x + (t0 + u) * K + i);
      a0[u] = _mm256_fmadd_ps(v0, xv, a0[u]);
      a1[u] = _mm256_fmadd_ps(v1, xv, a1[u]);
    }
  }
  _mm_store_ps(s0, hsum4(a0[0], a0[1], a0[2], a0[3]));
  _mm_store_ps(s1, hsum4(a1[0], a1[1], a1[2], a1[3]));
}

// y = W x for up to kMaxRowColumns columns: two weight rows at a time, dequantised into `bufs` (2K
// floats per thread, in L1), against four columns at a time. An odd last row is paired with itself.
void mul_mat_rows(const Tensor* w, const float* x, int64_t K, int64_t N, int64_t T, float* y, float* bufs, int n_threads) {
  const bool f32 = w->type == DType::F32;
#pragma omp parallel for num_threads(n_threads) schedule(static) if (N >= 64)
  for (int64_t r = 0; r < N; r += 2) {
    const int64_t r1 = std::min(r + 1, N - 1);
    const auto* base = static_cast<const uint8_t*>(w->data);
    const float* w0 = reinterpret_cast<const float*>(base + static_cast<size_t>(r) * w->nb[1]);
    const float* w1 = reinterpret_cast<const float*>(base + static_cast<size_t>(r1) * w->nb[1]);
    if (!f32) {
      float* buf = bufs + static_cast<size_t>(2 * K) * static_cast<size_t>(omp_get_thread_num());
      dequantize_row(w->type, base + static_cast<size_t>(r) * w->nb[1], buf, K);
      dequantize_row(w->type, base + static_cast<size_t>(r1) * w->nb[1], buf + K, K);
      w0 = buf;
      w1 = buf + K;
    }
    for (int64_t t = 0; t < T; t += 4) {
      alignas(16) float s0[4], s1[4];
      switch (std::min<int64_t>(4, T - t)) {
        case 1: dot_rows_columns<1>(w0, w1, x, K, t, s0, s1); break;
        case 2: dot_rows_columns<2>(w0, w1, x, K, t, s0, s1); break;
        case 3: dot_rows_columns<3>(w0, w1, x, K, t, s0, s1); break;
        default: dot_rows_columns<4>(w0, w1, x, K, t, s0, s1); break;
      }
      for (int64_t u = 0; u < std::min<int64_t>(4, T - t); ++u) {
        y[(t + u) * N + r] = s0[u];
        y[(t + u) * N + r1] = s1[u];
      }
    }
  }
}
#endif
constexpr int64_t kTileRows = 128;      // weight rows per task
constexpr int64_t kTileTokens = 512;    // tokens per task
}  // namespace

void kernel_mul_mat(Tensor* node, Arena& arena, int n_threads) {
  const Tensor* w = node->src[0];
  const Tensor* x = node->src[1];
  const int64_t K = w->ne[0];
  const int64_t N = w->ne[1];
  const int64_t T = x->n_rows();
  const auto* xd = static_cast<const float*>(x->data);
  auto* yd = static_cast<float*>(node->data);

#if defined(__AVX2__) && defined(__FMA__)
  if (T <= kMaxRowColumns && K % 8 == 0) {
    mul_mat_rows(w, xd, K, N, T, yd, arena.work(static_cast<size_t>(2 * K * n_threads)), n_threads);
    return;
  }
#endif
  if (T < kMinGemmColumns) {
    for (int64_t t = 0; t < T; ++t) {
      matvec(w->type, w->data, w->nb[1], N, K, xd + t * K, yd + t * N, n_threads);
    }
    return;
  }
  openblas_set_num_threads(1);
  const int64_t row_tiles = (N + kTileRows - 1) / kTileRows;
  const int64_t token_tiles = (T + kTileTokens - 1) / kTileTokens;
  const bool f32 = w->type == DType::F32;
  float* slabs = f32 ? nullptr : arena.work(static_cast<size_t>(kTileRows * K * n_threads));
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
  for (int64_t task = 0; task < row_tiles * token_tiles; ++task) {
    const int64_t r0 = (task / token_tiles) * kTileRows;
    const int64_t t0 = (task % token_tiles) * kTileTokens;
    const int64_t rows = std::min(kTileRows, N - r0);
    const int64_t tokens = std::min(kTileTokens, T - t0);
    const auto* wrows = static_cast<const uint8_t*>(w->data) + static_cast<size_t>(r0) * w->nb[1];
    const float* wf = reinterpret_cast<const float*>(wrows);
    if (!f32) {
      float* slab = slabs + static_cast<size_t>(kTileRows * K) * static_cast<size_t>(omp_get_thread_num());
      for (int64_t r = 0; r < rows; ++r) dequantize_row(w->type, wrows + static_cast<size_t>(r) * w->nb[1], slab + r * K, K);
      wf = slab;
    }
    // Y[T, N] (row-major view of the [N, T] result), tile (t0.., r0..) = X[t0.., :] * W[r0.., :]^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(tokens), static_cast<int>(rows),
                static_cast<int>(K), 1.0f, xd + t0 * K, static_cast<int>(K), wf, static_cast<int>(K), 0.0f,
                yd + t0 * N + r0, static_cast<int>(N));
  }
}

}  // namespace kvlink
