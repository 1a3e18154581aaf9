// Dispatching row kernels: AVX2/FMA/F16C fast paths for the types models use most (F32, F16, Q4_0,
// Q4_1, Q8_0; Q4_K and Q6_K dequantise a super-block to the stack and dot it), the scalar
// reference (quant_ref.cpp) otherwise. dot_row multiplies quantised blocks directly with F32
// activations (no activation quantisation), so it agrees with ref::dot_row up to float summation order.
#include "tensor/quant.h"

#include <algorithm>
#include <string>

#include "tensor/error.h"
#include "tensor/f16.h"
#include "tensor/thread_pool.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define KVLINK_QUANT_AVX2 1
#endif

namespace kvlink {

namespace {

#if KVLINK_QUANT_AVX2
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 32 4-bit values of a Q4 block as four vectors of 8 floats, in element order
// (low nibbles are elements 0..15, high nibbles 16..31).
inline void unpack_q4(const uint8_t* qs, __m256 q[4]) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(raw, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
  q[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
  q[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
  q[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
  q[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

inline void unpack_q8(const int8_t* qs, __m256 q[4]) {
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8 * i))));
  }
}

float dot_f32(const float* a, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * x[i];
  return s;
}

float dot_f16(const uint16_t* a, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 8)));
    acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(x + i + 8), acc1);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += fp16_to_fp32(a[i]) * x[i];
  return s;
}

// Dot products of one Q4_0/Q4_1 row with C columns: each block is unpacked once for all of them. Per
// block: sum_i (d q_i + m) x_i = d * sum q_i x_i + m * sum x_i (Q4_0: m = -8 d). A column's arithmetic
// does not depend on C, and the one-column dot (dot_q4) is C = 1, so a column gets the same number in
// a batched product as alone.
template <bool kHasMin, int C>
void dot_q4_columns(const uint8_t* row, size_t block_bytes, const float* const* x, int64_t n_blocks, float* out) {
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n_blocks; ++k) {
    const uint8_t* b = row + k * block_bytes;
    const BlockScales sc = block_scales(kHasMin ? DType::Q4_1 : DType::Q4_0, b);
    __m256 q[4];
    unpack_q4(b + (kHasMin ? 4 : 2), q);
    const __m256 vd = _mm256_set1_ps(sc.d), vm = _mm256_set1_ps(sc.m);
    for (int c = 0; c < C; ++c) {
      const float* xc = x[c] + k * kQK;
      const __m256 x0 = _mm256_loadu_ps(xc), x1 = _mm256_loadu_ps(xc + 8), x2 = _mm256_loadu_ps(xc + 16),
                   x3 = _mm256_loadu_ps(xc + 24);
      __m256 qx = _mm256_mul_ps(q[0], x0);
      qx = _mm256_fmadd_ps(q[1], x1, qx);
      qx = _mm256_fmadd_ps(q[2], x2, qx);
      qx = _mm256_fmadd_ps(q[3], x3, qx);
      const __m256 xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
      acc[c] = _mm256_fmadd_ps(vd, qx, acc[c]);
      acc[c] = _mm256_fmadd_ps(vm, xs, acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) out[c] = hsum(acc[c]);
}

// The same for Q8_0 (x = d q).
template <int C>
void dot_q8_0_columns(const BlockQ8_0* b, const float* const* x, int64_t n_blocks, float* out) {
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n_blocks; ++k) {
    __m256 q[4];
    unpack_q8(b[k].qs, q);
    const __m256 vd = _mm256_set1_ps(fp16_to_fp32(b[k].d));
    for (int c = 0; c < C; ++c) {
      const float* xc = x[c] + k * kQK;
      __m256 qx = _mm256_mul_ps(q[0], _mm256_loadu_ps(xc));
      qx = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xc + 8), qx);
      qx = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(xc + 16), qx);
      qx = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(xc + 24), qx);
      acc[c] = _mm256_fmadd_ps(vd, qx, acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) out[c] = hsum(acc[c]);
}

template <bool kHasMin>
float dot_q4(const uint8_t* row, size_t block_bytes, const float* x, int64_t n_blocks) {
  float out;
  dot_q4_columns<kHasMin, 1>(row, block_bytes, &x, n_blocks, &out);
  return out;
}

float dot_q8_0(const BlockQ8_0* b, const float* x, int64_t n_blocks) {
  float out;
  dot_q8_0_columns<1>(b, &x, n_blocks, &out);
  return out;
}

bool has_columns_kernel(DType type) { return type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q8_0; }

// C columns of one row of a type with a columns kernel (has_columns_kernel).
template <int C>
void dot_columns_of(DType type, const void* row, const float* const* x, int64_t n, float* out) {
  switch (type) {
    case DType::Q4_0: return dot_q4_columns<false, C>(static_cast<const uint8_t*>(row), sizeof(BlockQ4_0), x, n / kQK, out);
    case DType::Q4_1: return dot_q4_columns<true, C>(static_cast<const uint8_t*>(row), sizeof(BlockQ4_1), x, n / kQK, out);
    default: return dot_q8_0_columns<C>(static_cast<const BlockQ8_0*>(row), x, n / kQK, out);
  }
}

void dequant_q4(const uint8_t* row, size_t block_bytes, bool has_min, float* y, int64_t n_blocks) {
  for (int64_t k = 0; k < n_blocks; ++k, y += kQK) {
    const uint8_t* b = row + k * block_bytes;
    const BlockScales sc = block_scales(has_min ? DType::Q4_1 : DType::Q4_0, b);
    __m256 q[4];
    unpack_q4(b + (has_min ? 4 : 2), q);
    const __m256 vd = _mm256_set1_ps(sc.d), vm = _mm256_set1_ps(sc.m);
    // Q4_0: d * (q - 8) is computed as d * q + (-8 d), exact in float for 4-bit q and an fp16 d.
    for (int i = 0; i < 4; ++i) _mm256_storeu_ps(y + 8 * i, _mm256_fmadd_ps(vd, q[i], vm));
  }
}
#endif

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  row_bytes(type, n);  // throws unless n is a whole number of blocks
#if KVLINK_QUANT_AVX2
  switch (type) {
    case DType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
      }
      for (; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
      return;
    }
    case DType::Q4_0:
      return dequant_q4(static_cast<const uint8_t*>(src), sizeof(BlockQ4_0), false, dst, n / kQK);
    case DType::Q4_1:
      return dequant_q4(static_cast<const uint8_t*>(src), sizeof(BlockQ4_1), true, dst, n / kQK);
    case DType::Q8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t k = 0; k < n / kQK; ++k) {
        __m256 q[4];
        unpack_q8(b[k].qs, q);
        const __m256 d = _mm256_set1_ps(fp16_to_fp32(b[k].d));
        for (int i = 0; i < 4; ++i) _mm256_storeu_ps(dst + k * kQK + 8 * i, _mm256_mul_ps(d, q[i]));
      }
      return;
    }
    default:
      break;
  }
#endif
  ref::dequantize_row(type, src, dst, n);
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
#if KVLINK_QUANT_AVX2
  if (type == DType::F16) {  // the KV cache's store path
    row_bytes(type, n);  // throws unless n is a whole number of blocks
    auto* h = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
    return;
  }
#endif
  ref::quantize_row(type, src, dst, n);
}

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  row_bytes(type, n);  // throws unless n is a whole number of blocks
#if KVLINK_QUANT_AVX2
  switch (type) {
    case DType::F32: return dot_f32(static_cast<const float*>(row), x, n);
    case DType::F16: return dot_f16(static_cast<const uint16_t*>(row), x, n);
    case DType::Q4_0: return dot_q4<false>(static_cast<const uint8_t*>(row), sizeof(BlockQ4_0), x, n / kQK);
    case DType::Q4_1: return dot_q4<true>(static_cast<const uint8_t*>(row), sizeof(BlockQ4_1), x, n / kQK);
    case DType::Q8_0: return dot_q8_0(static_cast<const BlockQ8_0*>(row), x, n / kQK);
    case DType::Q4_K:
    case DType::Q6_K: {
      const size_t bb = type_traits(type).block_bytes;
      float buf[kQK_K];
      float sum = 0.0f;
      for (int64_t k = 0; k < n / kQK_K; ++k) {
        ref::dequantize_row(type, static_cast<const uint8_t*>(row) + k * bb, buf, kQK_K);
        sum += dot_f32(buf, x + k * kQK_K, kQK_K);
      }
      return sum;
    }
    default:
      break;
  }
#endif
  return ref::dot_row(type, row, x, n);
}

void dot_row_columns(DType type, const void* row, const float* const* x, int64_t n_x, int64_t n, float* out) {
  row_bytes(type, n);  // throws unless n is a whole number of blocks
#if KVLINK_QUANT_AVX2
  if (has_columns_kernel(type)) {
    int64_t c = 0;
    for (; c + 4 <= n_x; c += 4) dot_columns_of<4>(type, row, x + c, n, out + c);
    if (n_x - c >= 2) {  // 2 or 3 left: one group of 4 whose spare lanes repeat the last column
      const float* last[4];
      float spare[4];
      for (int64_t i = 0; i < 4; ++i) last[i] = x[std::min(c + i, n_x - 1)];
      dot_columns_of<4>(type, row, last, n, spare);
      for (int64_t i = 0; c < n_x; ++i, ++c) out[c] = spare[i];
    }
    for (; c < n_x; ++c) dot_columns_of<1>(type, row, x + c, n, out + c);
    return;
  }
#endif
  for (int64_t c = 0; c < n_x; ++c) out[c] = dot_row(type, row, x[c], n);
}

void matvec(DType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n_cols, const float* x, float* y,
            int n_threads) {
  row_bytes(type, n_cols);  // throws unless n_cols is a whole number of blocks
  const auto* base = static_cast<const uint8_t*>(w);
  if (n_threads <= 0) n_threads = 1;
  parallel_for(n_threads, n_rows, matvec_grain(n_rows, n_threads), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) y[r] = dot_row(type, base + static_cast<size_t>(r) * row_stride, x, n_cols);
  });
}

}  // namespace kvlink
