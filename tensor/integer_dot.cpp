#include "tensor/integer_dot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/error.h"
#include "tensor/f16.h"
#include "tensor/simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define KVLINK_INTEGER_AVX2 1
#endif

namespace kvlink {

namespace {

// Throws unless `type` has integer kernels.
void check_integer_type(DType type) {
  if (!has_integer_kernel(type)) throw Error(std::string("no integer dot product for ") + dtype_name(type));
}

// The largest |q| of an activation block: 127 or 32767.
template <class Block>
constexpr float kQMax = sizeof(Block{}.qs[0]) == 1 ? 127.0f : 32767.0f;

void check_whole_blocks(int64_t n) {
  if (n % kQK != 0) throw Error("activations of " + std::to_string(n) + " values are not whole blocks of 32");
}

#if KVLINK_INTEGER_AVX2
// A weight block's 32 values, prepared once for every column: as bytes (8-bit activations: Q4
// unsigned, Q8_0 as |q| with its signs kept apart) or widened to two vectors of 16 int16.
struct Weights8 {
  __m256i u, sign;
};
struct Weights16 {
  __m256i lo, hi;  // elements 0..15, 16..31
};

// A Q4 block's 16 bytes as its 32 values 0..15: low nibbles (elements 0..15), high nibbles (16..31).
inline void q4_nibbles(const uint8_t* qs, __m128i* lo, __m128i* hi) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  *lo = _mm_and_si128(raw, mask);
  *hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
}

template <DType kType>
inline Weights8 load_weights8(const uint8_t* qs) {
  Weights8 w;
  if constexpr (kType == DType::Q8_0) {
    w.sign = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    w.u = _mm256_sign_epi8(w.sign, w.sign);
  } else {
    __m128i lo, hi;
    q4_nibbles(qs, &lo, &hi);
    w.u = _mm256_set_m128i(hi, lo);
  }
  return w;
}

template <DType kType>
inline Weights16 load_weights16(const uint8_t* qs) {
  if constexpr (kType == DType::Q8_0) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    return {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(raw)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(raw, 1))};
  } else {
    // the 16 bytes widened once (one int16 per byte), then their low and high nibbles: elements
    // 0..15 and 16..31, as q4_nibbles gives them
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return {_mm256_and_si256(bytes, _mm256_set1_epi16(0x0F)), _mm256_srli_epi16(bytes, 4)};
  }
}

// An activation block's values as the products take them: 32 bytes (BlockQ8A) or two vectors of 16
// int16 (BlockQ16A).
struct Activations8 {
  __m256i q;
};
struct Activations16 {
  __m256i q0, q1;
};
inline Activations8 load_activations(const BlockQ8A& a) { return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs))}; }
inline Activations16 load_activations(const BlockQ16A& a) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 16))};
}

// sum(w_i q_i) over a block as 8 partial sums of 4 products each, in float: exact (a lane's sum is
// at most 4 * 127 * 32767 < 2^24).
template <DType kType>
inline __m256 block_products(const Weights8& w, Activations8 a) {
  if constexpr (kType == DType::Q8_0) a.q = _mm256_sign_epi8(a.q, w.sign);
  const __m256i pairs = _mm256_maddubs_epi16(w.u, a.q);  // |pair| <= 2 * 128 * 127: no saturation
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// The int8 products (BlockQ8A columns). One weight row by C columns from column c0 on;
// out[(c0 + c) * out_stride]. Per block and column:
// acc += (dw dx) * products, offset = fma(mw, sx, offset). For C > 1 the columns' block scales lie
// side by side (ColumnScales), so one vector multiply gives 8 columns' dw dx and one FMA their
// offsets, lane by lane; C = 1 does the same operations in scalars. Every column thus gets the same
// operations in the same order whatever the group's size: its result does not depend on the columns
// beside it (batched decoding equals decoding alone). A group of the last `valid` < C columns repeats
// its last column in the spare lanes (their scales, padded, are 0) and writes only the valid ones.
template <DType kType, int C>
void dot_group(const uint8_t* row, const BlockQ8A* const* x, const ColumnScales& cs, int64_t c0, int64_t n_blocks,
               float* out, int64_t out_stride, int valid = C) {
  const BlockQ8A* xs[C];
  for (int c = 0; c < C; ++c) xs[c] = x[c0 + std::min(c, valid - 1)];
  __m256 acc[C];
  __m256 offset = _mm256_setzero_ps();
  float offset1 = 0.0f;
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n_blocks; ++k) {
    const uint8_t* b = row + k * kBlockBytes<kType>;
    const BlockScales s = block_scales(kType, b);
    const Weights8 w = load_weights8<kType>(b + kBlockValues<kType>);
    if constexpr (C == 1) {
      const BlockQ8A& a = xs[0][k];
      acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(s.d * a.d), block_products<kType>(w, load_activations(a)), acc[0]);
      if constexpr (kType != DType::Q8_0) offset1 = std::fma(s.m, a.s, offset1);
    } else {
      const __m256 dx = _mm256_loadu_ps(cs.d + k * cs.stride + c0);
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(s.d), dx);
      if constexpr (kType != DType::Q8_0) {
        offset = _mm256_fmadd_ps(_mm256_set1_ps(s.m), _mm256_loadu_ps(cs.s + k * cs.stride + c0), offset);
      }
      for (int c = 0; c < C; ++c) {
        const auto q = load_activations(xs[c][k]);
        const __m256i lane = _mm256_set1_epi32(c);
        acc[c] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(scale, lane), block_products<kType>(w, q), acc[c]);
      }
    }
  }
  if constexpr (C == 1) {
    out[c0 * out_stride] = hsum256(acc[0]) + offset1;
  } else {
    alignas(32) float off[8];
    _mm256_store_ps(off, offset);
    for (int c = 0; c < valid; ++c) out[(c0 + c) * out_stride] = hsum256(acc[c]) + off[c];
  }
}

template <int C>
void dot_group_of(DType type, const uint8_t* row, const BlockQ8A* const* x, const ColumnScales& cs, int64_t c0,
                  int64_t n_blocks, float* out, int64_t out_stride, int valid = C) {
  switch (type) {
    case DType::Q4_0: return dot_group<DType::Q4_0, C>(row, x, cs, c0, n_blocks, out, out_stride, valid);
    case DType::Q4_1: return dot_group<DType::Q4_1, C>(row, x, cs, c0, n_blocks, out, out_stride, valid);
    default: return dot_group<DType::Q8_0, C>(row, x, cs, c0, n_blocks, out, out_stride, valid);
  }
}

// The int16 products (BlockQ16A columns), defined by ref::dot_int16: per block one exact int32 sum
// of the 32 products, turned into a float, f = fma(float(sum), dw dx, f), then, for Q4,
// f = fma(mw, sx, f). Every kernel (these, and tensor/integer_gemm.h's for many columns) does these
// float operations in this order, so a number does not depend on the kernel that computed it.

// One row's block times one column's: the 8 partial int32 sums of 4 products each.
template <DType kType>
inline __m256i block_partials16(const uint8_t* block, const Activations16& a) {
  const Weights16 w = load_weights16<kType>(block + kBlockValues<kType>);
  return _mm256_add_epi32(_mm256_madd_epi16(w.lo, a.q0), _mm256_madd_epi16(w.hi, a.q1));
}

// Lane i of the result: the sum of v[i]'s 8 lanes (integers: exact in any order).
inline __m256i sum_lanes8(const __m256i v[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i h03 = _mm256_hadd_epi32(h01, h23), h47 = _mm256_hadd_epi32(h45, h67);  // halves: rows 0-3, 4-7
  return _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20), _mm256_permute2x128_si256(h03, h47, 0x31));
}

inline int32_t sum_lanes1(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// The block scales of 8 rows' blocks, lane i row i's: d, and m (Q4 only; Q4_0's is -8 d, as
// block_scales gives it).
struct Scales8 {
  __m256 d, m;
};

// `b` the first row's block, the others at `offsets` (0, stride, ..., 7 stride): one gather of each
// block's first 4 bytes (d, then m for Q4_1), the 8 d halves and the 8 m halves put side by side and
// converted at once.
template <DType kType>
inline Scales8 scales8(const uint8_t* b, __m256i offsets) {
  const __m256i dm = _mm256_i32gather_epi32(reinterpret_cast<const int*>(b), offsets, 1);
  const __m256i halves = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,  //
                                          0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  const __m256i sorted = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(dm, halves), 0xD8);  // d0-7, m0-7
  Scales8 s{_mm256_cvtph_ps(_mm256_castsi256_si128(sorted)), _mm256_setzero_ps()};
  if constexpr (kType == DType::Q4_1) s.m = _mm256_cvtph_ps(_mm256_extracti128_si256(sorted, 1));
  if constexpr (kType == DType::Q4_0) s.m = _mm256_mul_ps(_mm256_set1_ps(-8.0f), s.d);
  return s;
}

// Eight weight rows (`stride` bytes apart) by one column, the rows in the lanes: out[0..7]. Eight
// rows' blocks at once are eight streams the hardware prefetcher follows poorly (a weight read from
// memory went at 0.6x the one-row kernel's speed), so each block's step also prefetches its share of
// the next eight rows (`next`, unless null).
template <DType kType>
void rows8_int16(const uint8_t* rows, size_t stride, __m256i offsets, const BlockQ16A* x, int64_t n_blocks,
                 const uint8_t* next, float* out) {
  const int64_t lines = next ? static_cast<int64_t>(8 * stride + 63) / 64 : 0;
  const int64_t lines_per_block = (lines + n_blocks - 1) / n_blocks;
  __m256 f = _mm256_setzero_ps();
  for (int64_t k = 0; k < n_blocks; ++k) {
    for (int64_t l = k * lines_per_block; l < std::min(lines, (k + 1) * lines_per_block); ++l)
      _mm_prefetch(reinterpret_cast<const char*>(next + 64 * l), _MM_HINT_T0);
    const Activations16 a = load_activations(x[k]);
    const uint8_t* b = rows + k * kBlockBytes<kType>;
    __m256i v[8];
    for (int i = 0; i < 8; ++i) v[i] = block_partials16<kType>(b + static_cast<size_t>(i) * stride, a);
    const Scales8 w = scales8<kType>(b, offsets);
    f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_lanes8(v)), _mm256_mul_ps(w.d, _mm256_set1_ps(x[k].d)), f);
    if constexpr (kType != DType::Q8_0) f = _mm256_fmadd_ps(w.m, _mm256_set1_ps(x[k].s), f);
  }
  _mm256_storeu_ps(out, f);
}

// One weight row by one column: the same operations in scalars.
template <DType kType>
float row1_int16(const uint8_t* row, const BlockQ16A* x, int64_t n_blocks) {
  float f = 0.0f;
  for (int64_t k = 0; k < n_blocks; ++k) {
    const uint8_t* b = row + k * kBlockBytes<kType>;
    const BlockScales s = block_scales(kType, b);
    const int32_t sum = sum_lanes1(block_partials16<kType>(b, load_activations(x[k])));
    f = std::fma(static_cast<float>(sum), s.d * x[k].d, f);
    if constexpr (kType != DType::Q8_0) f = std::fma(s.m, x[k].s, f);
  }
  return f;
}

// Rows in groups of 8 (their blocks stay in L1 while every column takes them), the rest one by one.
template <DType kType>
void tile_int16(const uint8_t* rows, size_t stride, int64_t n_rows, const BlockQ16A* const* x, int64_t n_x,
                int64_t n_blocks, float* out, int64_t out_stride) {
  // the 8 rows' offsets for scales8's gather, once per tile: 32-bit, up to 7 strides
  if (stride > static_cast<size_t>(INT32_MAX / 8)) throw Error("weight rows of over 256 MiB");
  const int s = static_cast<int>(stride);
  const __m256i offsets = _mm256_setr_epi32(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
  int64_t r = 0;
  for (; r + 8 <= n_rows; r += 8) {
    const uint8_t* group = rows + r * stride;
    for (int64_t c = 0; c < n_x; ++c)  // the first column's pass prefetches the next rows for all
      rows8_int16<kType>(group, stride, offsets, x[c], n_blocks, c == 0 ? group + 8 * stride : nullptr,
                         out + c * out_stride + r);
  }
  for (; r < n_rows; ++r) {
    for (int64_t c = 0; c < n_x; ++c) out[c * out_stride + r] = row1_int16<kType>(rows + r * stride, x[c], n_blocks);
  }
}

// n_rows rows by n_x int8 columns, each row in groups of 8 columns; the 2..7 left over in one group
// of 4 or 8 with spare lanes, a single column alone (a lone sequence's decoding). Measured: groups of
// 8 make batched decoding of 16 sequences 1.16x faster than groups of 4; two rows at a time, no
// faster; the left-over columns one by one were 7 % of an evaluation's time.
void dot_tile_avx2(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ8A* const* x,
                   const ColumnScales& cs, int64_t n_x, int64_t n, float* out, int64_t out_stride) {
  const int64_t whole = n_x / 8 * 8;
  const int rest = static_cast<int>(n_x - whole);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(rows) + r * stride;
    for (int64_t c = 0; c < whole; c += 8) dot_group_of<8>(type, row, x, cs, c, n / kQK, out + r, out_stride);
    if (rest > 4) dot_group_of<8>(type, row, x, cs, whole, n / kQK, out + r, out_stride, rest);
    else if (rest > 1) dot_group_of<4>(type, row, x, cs, whole, n / kQK, out + r, out_stride, rest);
    else if (rest == 1) dot_group_of<1>(type, row, x, cs, whole, n / kQK, out + r, out_stride);
  }
}

void tile_int16_avx2(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ16A* const* x, int64_t n_x,
                     int64_t n, float* out, int64_t out_stride) {
  const auto* base = static_cast<const uint8_t*>(rows);
  switch (type) {
    case DType::Q4_0: return tile_int16<DType::Q4_0>(base, stride, n_rows, x, n_x, n / kQK, out, out_stride);
    case DType::Q4_1: return tile_int16<DType::Q4_1>(base, stride, n_rows, x, n_x, n / kQK, out, out_stride);
    default: return tile_int16<DType::Q8_0>(base, stride, n_rows, x, n_x, n / kQK, out, out_stride);
  }
}

// One block's scale, rounded values (nearest, ties to even: the reference's nearbyint) and sum.
template <class Block>
void round_block(const float* x, Block* out, __m256i q[4]) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], abs_mask));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float d = _mm_cvtss_f32(m) / kQMax<Block>;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  out->d = d;
  out->s = d * static_cast<float>(_mm_cvtsi128_si32(s));
}

// The packs interleave 128-bit lanes; the permutes put the values back in element order.
void quantize_block(const float* x, BlockQ8A* out) {
  __m256i q[4];
  round_block(x, out, q);
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->qs),
                      _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

void quantize_block(const float* x, BlockQ16A* out) {
  __m256i q[4];
  round_block(x, out, q);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->qs), _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->qs + 16),
                      _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xD8));
}
#endif

template <class Block>
void quantize_any(const float* x, int64_t n, Block* out) {
  check_whole_blocks(n);
#if KVLINK_INTEGER_AVX2
  for (int64_t k = 0; k < n / kQK; ++k) quantize_block(x + k * kQK, out + k);
#else
  ref::quantize_activations(x, n, out);
#endif
}

// Throws unless n is a whole number of `type`'s blocks and `type` has integer kernels.
void check_integer_row(DType type, int64_t n) {
  row_bytes(type, n);
  check_integer_type(type);
}

void dot_int8_any(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ8A* const* x,
                  const ColumnScales& cs, int64_t n_x, int64_t n, float* out, int64_t out_stride) {
  check_integer_row(type, n);
#if KVLINK_INTEGER_AVX2
  dot_tile_avx2(type, rows, stride, n_rows, x, cs, n_x, n, out, out_stride);
#else
  (void)cs;
  for (int64_t r = 0; r < n_rows; ++r) {
    const void* row = static_cast<const uint8_t*>(rows) + r * stride;
    for (int64_t c = 0; c < n_x; ++c) out[c * out_stride + r] = static_cast<float>(ref::dot_integer(type, row, x[c], n));
  }
#endif
}

void dot_int16_any(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ16A* const* x, int64_t n_x,
                   int64_t n, float* out, int64_t out_stride) {
  check_integer_row(type, n);
#if KVLINK_INTEGER_AVX2
  tile_int16_avx2(type, rows, stride, n_rows, x, n_x, n, out, out_stride);
#else
  for (int64_t r = 0; r < n_rows; ++r) {
    const void* row = static_cast<const uint8_t*>(rows) + r * stride;
    for (int64_t c = 0; c < n_x; ++c) out[c * out_stride + r] = ref::dot_int16(type, row, x[c], n);
  }
#endif
}

template <class Block>
void ref_quantize(const float* x, int64_t n, Block* out) {
  check_whole_blocks(n);
  for (int64_t k = 0; k < n / kQK; ++k) {
    const float* v = x + k * kQK;
    float amax = 0.0f;
    for (int i = 0; i < kQK; ++i) amax = std::fmax(amax, std::fabs(v[i]));
    const float d = amax / kQMax<Block>;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < kQK; ++i) {
      const int q = static_cast<int>(std::nearbyint(v[i] * id));
      out[k].qs[i] = static_cast<decltype(out[k].qs[0] + 0)>(q);
      sum += q;
    }
    out[k].d = d;
    out[k].s = d * static_cast<float>(sum);
  }
}

// Weight value i (0..31) of a block as its integer q.
int weight_q(DType type, const uint8_t* block, int i) {
  if (type == DType::Q8_0) return reinterpret_cast<const BlockQ8_0*>(block)->qs[i];
  const uint8_t* qs = block + (type == DType::Q4_1 ? 4 : 2);
  return i < kQK / 2 ? (qs[i] & 0x0F) : (qs[i - kQK / 2] >> 4);
}

// A block's exact integer sum of products, weights times activations.
template <class Block>
int32_t block_sum(DType type, const uint8_t* block, const Block& x) {
  int32_t sum = 0;  // |sum| <= 32 * 128 * 32767 < 2^31
  for (int i = 0; i < kQK; ++i) sum += weight_q(type, block, i) * x.qs[i];
  return sum;
}

template <class Block>
double ref_dot(DType type, const void* row, const Block* x, int64_t n) {
  check_integer_type(type);
  const size_t bb = type_traits(type).block_bytes;
  double total = 0.0;
  for (int64_t k = 0; k < n / kQK; ++k) {
    const uint8_t* b = static_cast<const uint8_t*>(row) + k * bb;
    const BlockScales w = block_scales(type, b);
    total += static_cast<double>(w.d) * x[k].d * static_cast<double>(block_sum(type, b, x[k])) + static_cast<double>(w.m) * x[k].s;
  }
  return total;
}

// ref::dot_int16, operation by operation as the kernels do them.
float ref_dot_int16(DType type, const void* row, const BlockQ16A* x, int64_t n) {
  check_integer_row(type, n);
  const size_t bb = type_traits(type).block_bytes;
  float f = 0.0f;
  for (int64_t k = 0; k < n / kQK; ++k) {
    const uint8_t* b = static_cast<const uint8_t*>(row) + k * bb;
    const BlockScales w = block_scales(type, b);
    f = std::fma(static_cast<float>(block_sum(type, b, x[k])), w.d * x[k].d, f);
    if (type != DType::Q8_0) f = std::fma(w.m, x[k].s, f);
  }
  return f;
}

}  // namespace

const char* products_name(Products p) {
  switch (p) {
    case Products::F32: return "f32";
    case Products::INT16: return "int16";
    case Products::INT8: return "int8";
  }
  return "?";
}

const char* products_arithmetic(Products p) { return p == Products::INT16 ? "int16-2" : products_name(p); }

Products parse_products(const std::string& name) {
  for (Products p : {Products::F32, Products::INT16, Products::INT8}) {
    if (name == products_name(p)) return p;
  }
  throw Error("unknown products '" + name + "' (expected f32, int16 or int8)");
}

bool has_integer_kernel(DType type) { return type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q8_0; }

void quantize_activations(const float* x, int64_t n, BlockQ8A* out) { quantize_any(x, n, out); }
void quantize_activations(const float* x, int64_t n, BlockQ16A* out) { quantize_any(x, n, out); }

namespace {

void scales_of(const BlockQ8A* const* x, int64_t n_x, int64_t n_blocks, float* d, float* s) {
  const int64_t stride = column_scales_stride(n_x);
  for (int64_t k = 0; k < n_blocks; ++k) {
    for (int64_t c = 0; c < stride; ++c) {
      d[k * stride + c] = c < n_x ? x[c][k].d : 0.0f;
      s[k * stride + c] = c < n_x ? x[c][k].s : 0.0f;
    }
  }
}

// The columns' scales for one call (the products prepare them once for every row).
void dot_columns_alone(DType type, const void* row, const BlockQ8A* const* x, int64_t n_x, int64_t n, float* out) {
  check_integer_row(type, n);
  const int64_t n_blocks = n / kQK, size = column_scales_size(n_x, n_blocks);
  std::vector<float> d(static_cast<size_t>(size)), s(static_cast<size_t>(size));
  scales_of(x, n_x, n_blocks, d.data(), s.data());
  dot_int8_any(type, row, 0, 1, x, ColumnScales{d.data(), s.data(), column_scales_stride(n_x)}, n_x, n, out, 1);
}

}  // namespace

void column_scales(const BlockQ8A* const* x, int64_t n_x, int64_t n_blocks, float* d, float* s) { scales_of(x, n_x, n_blocks, d, s); }

void dot_integer_columns(DType type, const void* row, const BlockQ8A* const* x, int64_t n_x, int64_t n, float* out) {
  dot_columns_alone(type, row, x, n_x, n, out);
}
void dot_integer_columns(DType type, const void* row, const BlockQ16A* const* x, int64_t n_x, int64_t n, float* out) {
  dot_int16_any(type, row, 0, 1, x, n_x, n, out, 1);
}
void dot_integer_tile(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ8A* const* x,
                      const ColumnScales& scales, int64_t n_x, int64_t n, float* out, int64_t out_stride) {
  dot_int8_any(type, rows, stride, n_rows, x, scales, n_x, n, out, out_stride);
}
void dot_integer_tile(DType type, const void* rows, size_t stride, int64_t n_rows, const BlockQ16A* const* x, int64_t n_x,
                      int64_t n, float* out, int64_t out_stride) {
  dot_int16_any(type, rows, stride, n_rows, x, n_x, n, out, out_stride);
}

namespace ref {
void quantize_activations(const float* x, int64_t n, BlockQ8A* out) { ref_quantize(x, n, out); }
void quantize_activations(const float* x, int64_t n, BlockQ16A* out) { ref_quantize(x, n, out); }
double dot_integer(DType type, const void* row, const BlockQ8A* x, int64_t n) { return ref_dot(type, row, x, n); }
double dot_integer(DType type, const void* row, const BlockQ16A* x, int64_t n) { return ref_dot(type, row, x, n); }
float dot_int16(DType type, const void* row, const BlockQ16A* x, int64_t n) { return ref_dot_int16(type, row, x, n); }
}  // namespace ref

}  // namespace kvlink
