#include "tensor/small_gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "tensor/simd.h"
#define KVLINK_SMALL_GEMM_AVX2 1
#endif

namespace kvlink {

namespace {

#if KVLINK_SMALL_GEMM_AVX2
// R weight rows by T tokens from w and x on: 8 lanes of K per accumulator, then one horizontal sum
// and the K % 8 tail per output.
template <int R, int T>
void block(const float* w, const float* x, int64_t K, float* y, int64_t ldy) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * K + k);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + r * K + k);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float s = hsum256(acc[r][t]);
      for (int64_t j = k; j < K; ++j) s += w[r * K + j] * x[t * K + j];
      y[t * ldy + r] = s;
    }
  }
}
#else
template <int R, int T>
void block(const float* w, const float* x, int64_t K, float* y, int64_t ldy) {
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float s = 0.0f;
      for (int64_t k = 0; k < K; ++k) s += w[r * K + k] * x[t * K + k];
      y[t * ldy + r] = s;
    }
  }
}
#endif

using Block = void (*)(const float*, const float*, int64_t, float*, int64_t);

#if KVLINK_SMALL_GEMM_AVX2 && defined(__GNUC__)
// The same with 16 lanes where the CPU has AVX-512 (chosen at run time; the build targets AVX2):
// 32 registers hold 4 rows x 6 tokens of accumulators.
#define KVLINK_SMALL_GEMM_AVX512 1
template <int R, int T>
__attribute__((target("avx512f"))) void block16(const float* w, const float* x, int64_t K, float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * K + k);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_loadu_ps(w + r * K + k);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      alignas(64) float lanes[16];  // (GCC 12's _mm512_reduce_add_ps warns under -Werror)
      _mm512_store_ps(lanes, acc[r][t]);
      float s = hsum256(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
      for (int64_t j = k; j < K; ++j) s += w[r * K + j] * x[t * K + j];
      y[t * ldy + r] = s;
    }
  }
}

constexpr Block kBlocks16[4][6] = {
    {block16<1, 1>, block16<1, 2>, block16<1, 3>, block16<1, 4>, block16<1, 5>, block16<1, 6>},
    {block16<2, 1>, block16<2, 2>, block16<2, 3>, block16<2, 4>, block16<2, 5>, block16<2, 6>},
    {block16<3, 1>, block16<3, 2>, block16<3, 3>, block16<3, 4>, block16<3, 5>, block16<3, 6>},
    {block16<4, 1>, block16<4, 2>, block16<4, 3>, block16<4, 4>, block16<4, 5>, block16<4, 6>},
};
#endif

constexpr int kRows = 4;    // weight rows per block
constexpr int kTokens = 3;  // tokens per block

// kBlocks[R - 1][T - 1]: the full 4 x 3 block and the smaller ones at the edges.
constexpr Block kBlocks[kRows][kTokens] = {
    {block<1, 1>, block<1, 2>, block<1, 3>},
    {block<2, 1>, block<2, 2>, block<2, 3>},
    {block<3, 1>, block<3, 2>, block<3, 3>},
    {block<4, 1>, block<4, 2>, block<4, 3>},
};

}  // namespace

bool small_gemm_wide() {
#if KVLINK_SMALL_GEMM_AVX512
  static const bool wide = __builtin_cpu_supports("avx512f");
  return wide;
#else
  return false;
#endif
}

void small_gemm(const float* w, int64_t rows, const float* x, int64_t tokens, int64_t K, float* y, int64_t ldy,
                bool allow_wide) {
  const bool wide = allow_wide && small_gemm_wide();
  const int64_t tb = wide ? 6 : kTokens;
  // Rows outermost: a block's 4 weight rows stay in L1 while every token passes them.
  for (int64_t r = 0; r < rows; r += kRows) {
    const int64_t nr = rows - r < kRows ? rows - r : kRows;
    for (int64_t t = 0; t < tokens; t += tb) {
      const int64_t nt = tokens - t < tb ? tokens - t : tb;
#if KVLINK_SMALL_GEMM_AVX512
      if (wide) {
        kBlocks16[nr - 1][nt - 1](w + r * K, x + t * K, K, y + t * ldy + r, ldy);
        continue;
      }
#endif
      kBlocks[nr - 1][nt - 1](w + r * K, x + t * K, K, y + t * ldy + r, ldy);
    }
  }
}

}  // namespace kvlink
