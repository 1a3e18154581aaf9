#include "tensor/integer_lanes.h"

#include <algorithm>
#include <string>

#include "tensor/error.h"
#include "tensor/lanes.h"
#include "tensor/quant.h"
#include "tensor/weight_pairs.h"

namespace kvlink::lanes {

#if KVLINK_WEIGHT_PAIRS
namespace {

using weight_pairs::broadcast;
using weight_pairs::kPairs;
using weight_pairs::load_pairs;
using weight_pairs::to_float;
using weight_pairs::WeightPairs;

KVLINK_VNNI inline __m512i pairs_at(const int32_t* p) { return _mm512_loadu_si512(p); }

// R weight rows by the 16 columns c0.. (`valid` of them real): out[(c0 + c) * out_stride + r].
// Per block, row and accumulator l: the exact int32 sum of pairs l and l + 8 of the 16 columns times
// the row's pairs l and l + 8 (vpmaddwd, then vpdpwssd), acc[l] = fma(dw dx, float(sum), acc[l]);
// per block and row off = fma(mw, sx, off); at the end hsum256's order over the 8, plus off.
template <DType kType, int R>
KVLINK_VNNI void lanes16(const uint8_t* rows, size_t stride, const ColumnScales& cs, int64_t c0, int64_t n_blocks,
                         int64_t r0, float* out, int64_t out_stride, int valid) {
  __m512 acc[R][8], off[R];
  for (int r = 0; r < R; ++r) {
    off[r] = _mm512_setzero_ps();
    for (int l = 0; l < 8; ++l) acc[r][l] = _mm512_setzero_ps();
  }
  WeightPairs w[R];
  for (int64_t k = 0; k < n_blocks; ++k) {
    const __m512 dx = _mm512_loadu_ps(cs.d + k * cs.stride + c0);
    const __m512 sx = _mm512_loadu_ps(cs.s + k * cs.stride + c0);
    __m512 scale[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* b = rows + static_cast<size_t>(r0 + r) * stride + k * kBlockBytes<kType>;
      const BlockScales s = block_scales(kType, b);
      load_pairs<kType>(b, &w[r]);
      scale[r] = _mm512_mul_ps(_mm512_set1_ps(s.d), dx);
      if constexpr (kType != DType::Q8_0) off[r] = _mm512_fmadd_ps(_mm512_set1_ps(s.m), sx, off[r]);
    }
    const int32_t* pairs = cs.pairs + k * kPairs * cs.stride + c0;
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const __m512i a0 = pairs_at(pairs + l * cs.stride), a1 = pairs_at(pairs + (l + 8) * cs.stride);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const __m512i sum =
            _mm512_dpwssd_epi32(_mm512_madd_epi16(a0, broadcast(w[r].pair(l))), a1, broadcast(w[r].pair(l + 8)));
        acc[r][l] = _mm512_fmadd_ps(scale[r], to_float(sum), acc[r][l]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 total = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][4]), _mm512_add_ps(acc[r][2], acc[r][6])),
                                       _mm512_add_ps(_mm512_add_ps(acc[r][1], acc[r][5]), _mm512_add_ps(acc[r][3], acc[r][7])));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(total, off[r]));
    for (int c = 0; c < valid; ++c) out[(c0 + c) * out_stride + r0 + r] = lanes[c];
  }
}

// Two rows at a time (their 16 accumulators and inputs fill 25 of the 32 registers), then the last.
template <DType kType>
void tile(const uint8_t* rows, size_t stride, int64_t n_rows, const ColumnScales& cs, int64_t n_x, int64_t n_blocks,
          float* out, int64_t out_stride) {
  for (int64_t r = 0; r < n_rows; r += 2) {
    for (int64_t c0 = 0; c0 < n_x; c0 += 16) {
      const int valid = static_cast<int>(std::min<int64_t>(16, n_x - c0));
      if (n_rows - r >= 2) lanes16<kType, 2>(rows, stride, cs, c0, n_blocks, r, out, out_stride, valid);
      else lanes16<kType, 1>(rows, stride, cs, c0, n_blocks, r, out, out_stride, valid);
    }
  }
}

}  // namespace
#endif

int64_t lane_columns(int64_t n_x) {
#if KVLINK_WEIGHT_PAIRS
  static const bool vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vnni");
  return vnni ? columns_taken(n_x, kMinLanes) : 0;
#else
  (void)n_x;
  return 0;
#endif
}

void dot_tile16(DType type, const void* rows, size_t stride, int64_t n_rows, const ColumnScales& cs, int64_t n_x,
                int64_t n_blocks, float* out, int64_t out_stride) {
  if (lane_columns(n_x) != n_x) throw Error("the int16 lane kernel cannot take " + std::to_string(n_x) + " columns here");
  if (!cs.pairs) throw Error("the int16 products of several columns need their pairs (column_pairs)");
  if (cs.stride % 16 != 0) throw Error("the columns' scales need a stride of a multiple of 16");
#if KVLINK_WEIGHT_PAIRS
  const auto* r = static_cast<const uint8_t*>(rows);
  switch (type) {
    case DType::Q4_0: return tile<DType::Q4_0>(r, stride, n_rows, cs, n_x, n_blocks, out, out_stride);
    case DType::Q4_1: return tile<DType::Q4_1>(r, stride, n_rows, cs, n_x, n_blocks, out, out_stride);
    case DType::Q8_0: return tile<DType::Q8_0>(r, stride, n_rows, cs, n_x, n_blocks, out, out_stride);
    default: throw Error(std::string("no integer dot product for ") + dtype_name(type));
  }
#else
  (void)type, (void)rows, (void)stride, (void)n_rows, (void)n_blocks, (void)out, (void)out_stride;
#endif
}

}  // namespace kvlink::lanes
