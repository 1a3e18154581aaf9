// Small vector helpers for attention: max, exp-and-sum, scale (softmax), and dot/axpy over KV-cache rows. AVX2/FMA when compiled
// in, scalar otherwise. vec_exp_sum's AVX2 path uses a Cody-Waite range reduction
// (x = n ln2 + r, |r| <= ln2/2) and a degree-6 Taylor polynomial for e^r, relative error < 2e-7.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/f16.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace kvlink {

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 exp256(__m256 x) {
  // Below -87.3 the result underflows to 0 (as expf does); -inf inputs (masked keys) land here too.
  const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.37626f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, with ln2 split in two parts so the product is exact enough.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^n by building the exponent bits; n is in [-126, 127] after the clamp above.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, y);
}

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The lane sums of four accumulators, in one vector. Each sum pairs the lanes the same way whatever
// the other three hold, so one result does not depend on its neighbours.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
#endif

inline float vec_max(const float* x, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 vm = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  alignas(32) float t[8];
  _mm256_store_ps(t, vm);
  for (float v : t) m = v > m ? v : m;
#endif
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// x[i] = exp(x[i] - shift) for i < n; returns the sum (accumulated in double on the tail).
inline double vec_exp_sum(float* x, int64_t n, float shift) {
  double sum = 0.0;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  sum = hsum256(acc);
#endif
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return sum;
}

inline void vec_scale(float* x, int64_t n, float s) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 v = _mm256_set1_ps(s);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), v));
#endif
  for (; i < n; ++i) x[i] *= s;
}

// Dot product of an F32 vector with a KV-cache row of F32 or F16 elements.
inline float dot_f32_row(const float* x, const void* row, bool f16, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  __m256 acc = _mm256_setzero_ps();
  if (f16) {
    const auto* h = static_cast<const uint16_t*>(row);
    for (; i + 8 <= n; i += 8) {
      const __m256 k = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), k, acc);
    }
  } else {
    const auto* f = static_cast<const float*>(row);
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(f + i), acc);
  }
  sum = hsum256(acc);
#endif
  for (; i < n; ++i) {
    sum += x[i] * (f16 ? fp16_to_fp32(static_cast<const uint16_t*>(row)[i]) : static_cast<const float*>(row)[i]);
  }
  return sum;
}

// y += a * row, for a KV-cache row of F32 or F16 elements.
inline void axpy_f32_row(float* y, float a, const void* row, bool f16, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  const __m256 va = _mm256_set1_ps(a);
  if (f16) {
    const auto* h = static_cast<const uint16_t*>(row);
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
      _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, v, _mm256_loadu_ps(y + i)));
    }
  } else {
    const auto* f = static_cast<const float*>(row);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(f + i), _mm256_loadu_ps(y + i)));
  }
#endif
  for (; i < n; ++i) {
    y[i] += a * (f16 ? fp16_to_fp32(static_cast<const uint16_t*>(row)[i]) : static_cast<const float*>(row)[i]);
  }
}

}  // namespace kvlink
