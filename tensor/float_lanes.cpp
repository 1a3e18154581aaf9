#include "tensor/float_lanes.h"

#include <algorithm>
#include <string>

#include "tensor/error.h"
#include "tensor/lanes.h"
#include "tensor/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__GNUC__)
#include <immintrin.h>
#define KVLINK_FLOAT_LANES 1
#define KVLINK_AVX512 __attribute__((target("avx512f")))
#endif

namespace kvlink::float_lanes {

namespace {

using lanes::kLanes;
constexpr int64_t kBlockFloats = (kQK + 8) * kLanes;  // a block's 32 elements, then its 8 sums, 16 lanes each

// Q4_0 and Q4_1 only: for Q8_0, whose row kernel has no offset to add, the lanes measured level with
// the row kernel on the AVX-512 AMD EPYC (1536 x 576 and 49152 x 576, 16 and 32 columns).
bool has_kernel(DType type) { return type == DType::Q4_0 || type == DType::Q4_1; }

int64_t groups(int64_t n_x) { return (n_x + kLanes - 1) / kLanes; }

}  // namespace

int64_t lane_columns(DType type, int64_t n_x) {
#if KVLINK_FLOAT_LANES
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && has_kernel(type) ? lanes::columns_taken(n_x, kMinLanes) : 0;
#else
  (void)type, (void)n_x;
  return 0;
#endif
}

size_t layout_floats(int64_t n_x, int64_t n) { return static_cast<size_t>(groups(n_x) * (n / kQK) * kBlockFloats); }

void lay_out(const float* const* x, int64_t n_x, int64_t n, float* laid) {
  static const float kZeroBlock[kQK] = {};  // what the spare lanes of the last group read
  const int64_t n_blocks = n / kQK;
  for (int64_t c0 = 0; c0 < n_x; c0 += kLanes) {
    for (int64_t k = 0; k < n_blocks; ++k, laid += kBlockFloats) {
      const float* v[kLanes];
      for (int64_t lane = 0; lane < kLanes; ++lane) v[lane] = c0 + lane < n_x ? x[c0 + lane] + k * kQK : kZeroBlock;
      for (int64_t e = 0; e < kQK; ++e) {
        for (int64_t lane = 0; lane < kLanes; ++lane) laid[e * kLanes + lane] = v[lane][e];
      }
      for (int64_t l = 0; l < 8; ++l) {  // the row kernel's sum for lane l: (x_l + x_{l+8}) + (x_{l+16} + x_{l+24})
        for (int64_t lane = 0; lane < kLanes; ++lane) {
          const float* b = v[lane];
          laid[(kQK + l) * kLanes + lane] = (b[l] + b[l + 8]) + (b[l + 16] + b[l + 24]);
        }
      }
    }
  }
}

#if KVLINK_FLOAT_LANES
namespace {

constexpr __mmask16 kAll = 0xFFFF;  // the zero-masked forms: GCC 12 warns of the plain ones' undefined source

// A weight block's 32 values as floats in element order (low nibbles are elements 0..15, high
// nibbles 16..31), and its scale and offset (Q4_0: -8 d).
template <DType kType>
KVLINK_AVX512 inline void unpack(const uint8_t* block, float* w, __m512* d, __m512* m) {
  const BlockScales s = block_scales(kType, block);
  *d = _mm512_set1_ps(s.d);
  *m = _mm512_set1_ps(s.m);
  const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kBlockValues<kType>));
  const __m512i bytes = _mm512_maskz_cvtepu8_epi32(kAll, qs);
  _mm512_store_ps(w, _mm512_maskz_cvtepi32_ps(kAll, _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F))));
  _mm512_store_ps(w + 16, _mm512_maskz_cvtepi32_ps(kAll, _mm512_maskz_srli_epi32(kAll, bytes, 4)));
}

// A weight broadcast from the unpacked block in memory (vbroadcastss from memory: a load port's
// work). Written as a plain intrinsic, the compiler keeps the block in registers and broadcasts each
// weight with a shuffle instead, and the permutation indices crowd the accumulators out of the
// registers; hence the one-instruction asm, as in the int16 lane kernel.
KVLINK_AVX512 inline __m512 broadcast(const float* p) {
  __m512 r;
  asm("vbroadcastss %1, %0" : "=v"(r) : "m"(*p));
  return r;
}

// R weight rows from r0 by the 16 laid-out columns of one group (`valid` of them real):
// out[c * out_stride + r0 + r] for c < valid.
template <DType kType, int R>
KVLINK_AVX512 void lanes16(const uint8_t* rows, size_t stride, int64_t r0, const float* group, int64_t n_blocks,
                           float* out, int64_t out_stride, int valid) {
  __m512 acc[R][8];
  for (int r = 0; r < R; ++r)
    for (int l = 0; l < 8; ++l) acc[r][l] = _mm512_setzero_ps();
  alignas(64) float w[R][kQK];
  for (int64_t k = 0; k < n_blocks; ++k) {
    const float* xb = group + k * kBlockFloats;
    __m512 d[R], m[R];
    for (int r = 0; r < R; ++r) unpack<kType>(rows + static_cast<size_t>(r0 + r) * stride + k * kBlockBytes<kType>, w[r], &d[r], &m[r]);
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const __m512 x0 = _mm512_loadu_ps(xb + l * kLanes), x1 = _mm512_loadu_ps(xb + (l + 8) * kLanes),
                   x2 = _mm512_loadu_ps(xb + (l + 16) * kLanes), x3 = _mm512_loadu_ps(xb + (l + 24) * kLanes);
      for (int r = 0; r < R; ++r) {
        __m512 qx = _mm512_mul_ps(broadcast(&w[r][l]), x0);
        qx = _mm512_fmadd_ps(broadcast(&w[r][l + 8]), x1, qx);
        qx = _mm512_fmadd_ps(broadcast(&w[r][l + 16]), x2, qx);
        qx = _mm512_fmadd_ps(broadcast(&w[r][l + 24]), x3, qx);
        acc[r][l] = _mm512_fmadd_ps(d[r], qx, acc[r][l]);
        acc[r][l] = _mm512_fmadd_ps(m[r], _mm512_loadu_ps(xb + (kQK + l) * kLanes), acc[r][l]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {  // hsum's order: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
    const __m512 total = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][4]), _mm512_add_ps(acc[r][2], acc[r][6])),
                                       _mm512_add_ps(_mm512_add_ps(acc[r][1], acc[r][5]), _mm512_add_ps(acc[r][3], acc[r][7])));
    alignas(64) float lanes[kLanes];
    _mm512_store_ps(lanes, total);
    for (int c = 0; c < valid; ++c) out[c * out_stride + r0 + r] = lanes[c];
  }
}

// Two rows at a time (16 accumulators, the 4 element vectors and the scales: 28 of 32 registers).
template <DType kType>
void tile(const uint8_t* rows, size_t stride, int64_t n_rows, const float* laid, int64_t n_x, int64_t n_blocks, float* out,
          int64_t out_stride) {
  for (int64_t r = 0; r < n_rows; r += 2) {
    for (int64_t g = 0; g < groups(n_x); ++g) {
      const float* group = laid + g * n_blocks * kBlockFloats;
      float* o = out + g * kLanes * out_stride;
      const int valid = static_cast<int>(std::min(kLanes, n_x - g * kLanes));
      if (n_rows - r >= 2) lanes16<kType, 2>(rows, stride, r, group, n_blocks, o, out_stride, valid);
      else lanes16<kType, 1>(rows, stride, r, group, n_blocks, o, out_stride, valid);
    }
  }
}

}  // namespace
#endif

void dot_tile16(DType type, const void* rows, size_t stride, int64_t n_rows, const float* laid, int64_t n_x, int64_t n,
                float* out, int64_t out_stride) {
  if (n_x < 1 || lane_columns(type, n_x) != n_x) {
    throw Error("the f32 lane kernel cannot take " + std::to_string(n_x) + " columns of " + dtype_name(type) + " here");
  }
  row_bytes(type, n);  // throws unless n is a whole number of blocks
#if KVLINK_FLOAT_LANES
  const auto* r = static_cast<const uint8_t*>(rows);
  switch (type) {
    case DType::Q4_0: return tile<DType::Q4_0>(r, stride, n_rows, laid, n_x, n / kQK, out, out_stride);
    default: return tile<DType::Q4_1>(r, stride, n_rows, laid, n_x, n / kQK, out, out_stride);
  }
#else
  (void)rows, (void)stride, (void)n_rows, (void)laid, (void)out, (void)out_stride;
#endif
}

}  // namespace kvlink::float_lanes
