#include "tensor/integer_gemm.h"

#include <algorithm>
#include <string>

#include "tensor/arena.h"
#include "tensor/error.h"
#include "tensor/graph.h"
#include "tensor/integer_dot.h"
#include "tensor/lanes.h"
#include "tensor/quant.h"
#include "tensor/thread_pool.h"
#include "tensor/weight_pairs.h"

namespace kvlink::integer_gemm {

namespace {
constexpr int64_t kLanes = lanes::kLanes;
using weight_pairs::kPairs;  // int32 words (int16 pairs) of a token's block

int64_t groups_of(int64_t T) { return (T + kLanes - 1) / kLanes; }

bool has_vnni() {
  static const bool vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vnni");
  return vnni;
}

#if KVLINK_WEIGHT_PAIRS
using weight_pairs::broadcast;
using weight_pairs::load_pairs;
using weight_pairs::to_float;
using weight_pairs::WeightPairs;

constexpr int kRows = 4;    // weight rows per kernel call
constexpr int kGroups = 2;  // groups of 16 tokens per kernel call: 8 int32 sums, 8 float sums, 2 token vectors

// Block k of the R weight rows r0..: its scales and its values as int16 pairs.
template <DType kType, int R>
inline void load_rows(const uint8_t* rows, size_t stride, int64_t r0, int64_t k, BlockScales* s, WeightPairs* w) {
  for (int r = 0; r < R; ++r) {
    const uint8_t* b = rows + static_cast<size_t>(r0 + r) * stride + k * kBlockBytes<kType>;
    s[r] = block_scales(kType, b);
    load_pairs<kType>(b, &w[r]);
  }
}

// Four rows' values of 16 tokens (a, b, c, d: lane l is token l) to y[l * ldy + 0..3] for l < valid:
// transposed in 4 x 4 blocks within each 128-bit lane, so a token's 4 values take one store (16
// scalar stores per token group and row took about a seventh of the kernel's time).
KVLINK_VNNI inline void store_rows4(__m512 a, __m512 b, __m512 c, __m512 d, float* y, int64_t ldy, int64_t valid) {
  constexpr __mmask16 kAll = 0xFFFF;  // (the zero-masked forms: GCC 12 warns of the plain ones' undefined source)
  const __m512 ab_lo = _mm512_maskz_unpacklo_ps(kAll, a, b), ab_hi = _mm512_maskz_unpackhi_ps(kAll, a, b);
  const __m512 cd_lo = _mm512_maskz_unpacklo_ps(kAll, c, d), cd_hi = _mm512_maskz_unpackhi_ps(kAll, c, d);
  const __m512 by_token[4] = {
      _mm512_maskz_shuffle_ps(kAll, ab_lo, cd_lo, 0x44), _mm512_maskz_shuffle_ps(kAll, ab_lo, cd_lo, 0xEE),
      _mm512_maskz_shuffle_ps(kAll, ab_hi, cd_hi, 0x44), _mm512_maskz_shuffle_ps(kAll, ab_hi, cd_hi, 0xEE)};
  alignas(64) float out[4][kLanes];  // out[i][4 j .. 4 j + 3]: token 4 j + i's four rows
  for (int i = 0; i < 4; ++i) _mm512_store_ps(out[i], by_token[i]);
  for (int64_t l = 0; l < valid; ++l) _mm_storeu_ps(y + l * ldy, _mm_load_ps(&out[l % 4][(l / 4) * 4]));
}

// R weight rows r0.. by the G token groups g0..: per block, the R x G exact int32 sums of the 16
// pairs, then f = fma(float(sum), dw dx, f) and, for Q4, f = fma(mw, sx, f).
template <DType kType, int R, int G>
KVLINK_VNNI void kernel(const uint8_t* rows, size_t stride, int64_t r0, const Layout& x, int64_t g0, int64_t n_tokens,
                        float* y, int64_t ldy) {
  const int64_t n_blocks = x.n_blocks;
  const int64_t group_words = n_blocks * kPairs * kLanes;  // int32s of one token group
  const int64_t group_scales = n_blocks * kLanes;
  __m512 f[R][G];
  for (int r = 0; r < R; ++r)
    for (int g = 0; g < G; ++g) f[r][g] = _mm512_setzero_ps();
  WeightPairs w[R];
  for (int64_t k = 0; k < n_blocks; ++k) {
    BlockScales s[R];
    load_rows<kType, R>(rows, stride, r0, k, s, w);
    const int32_t* px = x.pairs + g0 * group_words + k * kPairs * kLanes;
    __m512i sum[R][G];
    for (int r = 0; r < R; ++r)
      for (int g = 0; g < G; ++g) sum[r][g] = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      __m512i a[G];
      for (int g = 0; g < G; ++g) a[g] = _mm512_loadu_si512(px + g * group_words + p * kLanes);
      for (int r = 0; r < R; ++r) {
        const __m512i b = broadcast(w[r].pair(p));
        for (int g = 0; g < G; ++g) sum[r][g] = _mm512_dpwssd_epi32(sum[r][g], a[g], b);
      }
    }
    const int64_t at = g0 * group_scales + k * kLanes;
    for (int g = 0; g < G; ++g) {
      const __m512 dx = _mm512_loadu_ps(x.d + at + g * group_scales);
      const __m512 sx = _mm512_loadu_ps(x.s + at + g * group_scales);
      for (int r = 0; r < R; ++r) {
        f[r][g] = _mm512_fmadd_ps(to_float(sum[r][g]), _mm512_mul_ps(_mm512_set1_ps(s[r].d), dx), f[r][g]);
        if constexpr (kType != DType::Q8_0) f[r][g] = _mm512_fmadd_ps(_mm512_set1_ps(s[r].m), sx, f[r][g]);
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    const int64_t t0 = (g0 + g) * kLanes;
    const int64_t valid = std::min(kLanes, n_tokens - t0);
    if constexpr (R == 4) {
      store_rows4(f[0][g], f[1][g], f[2][g], f[3][g], y + t0 * ldy + r0, ldy, valid);
    } else {
      for (int r = 0; r < R; ++r) {
        alignas(64) float out[kLanes];
        _mm512_store_ps(out, f[r][g]);
        for (int64_t l = 0; l < valid; ++l) y[(t0 + l) * ldy + r0 + r] = out[l];
      }
    }
  }
}

// kGroups groups, or the last one alone.
template <DType kType, int R>
void rows_by_groups(const uint8_t* rows, size_t stride, int64_t r0, const Layout& x, int64_t g0, int64_t n_g,
                    int64_t n_tokens, float* y, int64_t ldy) {
  static_assert(kGroups == 2, "a remainder of one group is the only other case");
  if (n_g == kGroups) return kernel<kType, R, kGroups>(rows, stride, r0, x, g0, n_tokens, y, ldy);
  kernel<kType, R, 1>(rows, stride, r0, x, g0, n_tokens, y, ldy);
}

// Without AVX-512 VNNI: R weight rows r0.. by the token group g as two AVX2 vectors of 8 tokens
// (h = 0, 1), vpmaddwd then vpaddd where vpdpwssd does both: the same exact int32 sums of the 16
// pairs per block, then the same float operations, so the numbers are the VNNI kernel's.
template <DType kType, int R>
void kernel_avx2(const uint8_t* rows, size_t stride, int64_t r0, const Layout& x, int64_t g, int64_t n_tokens, float* y,
                 int64_t ldy) {
  constexpr int64_t kHalf = kLanes / 2;
  const int64_t n_blocks = x.n_blocks;
  const int32_t* gx = x.pairs + g * n_blocks * kPairs * kLanes;
  __m256 f[R][2];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) f[r][0] = f[r][1] = _mm256_setzero_ps();
  WeightPairs w[R];
  for (int64_t k = 0; k < n_blocks; ++k) {
    BlockScales s[R];
    load_rows<kType, R>(rows, stride, r0, k, s, w);
    const int32_t* px = gx + k * kPairs * kLanes;
    __m256i sum[R][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) sum[r][0] = sum[r][1] = _mm256_setzero_si256();
    // unrolled twice, not 16 times: fully unrolled, GCC 12 issued all 16 pairs' products first and
    // kept them on the stack (integer sums may be taken in any order), at about 0.8x the speed
#pragma GCC unroll 2
    for (int p = 0; p < kPairs; ++p) {
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px + p * kLanes));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px + p * kLanes + kHalf));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i b = weight_pairs::broadcast8(w[r].pair(p));
        sum[r][0] = _mm256_add_epi32(sum[r][0], _mm256_madd_epi16(a0, b));
        sum[r][1] = _mm256_add_epi32(sum[r][1], _mm256_madd_epi16(a1, b));
      }
    }
    const int64_t at = (g * n_blocks + k) * kLanes;
    for (int h = 0; h < 2; ++h) {
      const __m256 dx = _mm256_loadu_ps(x.d + at + h * kHalf), sx = _mm256_loadu_ps(x.s + at + h * kHalf);
      for (int r = 0; r < R; ++r) {
        f[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r][h]), _mm256_mul_ps(_mm256_set1_ps(s[r].d), dx), f[r][h]);
        if constexpr (kType != DType::Q8_0) f[r][h] = _mm256_fmadd_ps(_mm256_set1_ps(s[r].m), sx, f[r][h]);
      }
    }
  }
  for (int h = 0; h < 2; ++h) {
    const int64_t t0 = g * kLanes + h * kHalf;
    const int64_t valid = std::min(kHalf, n_tokens - t0);
    for (int r = 0; r < R; ++r) {
      alignas(32) float out[kHalf];
      _mm256_store_ps(out, f[r][h]);
      for (int64_t l = 0; l < valid; ++l) y[(t0 + l) * ldy + r0 + r] = out[l];
    }
  }
}

// The AVX2 kernel over the token groups [g0, g1), rows in steps of kRowsAvx2.
constexpr int kRowsAvx2 = 2;  // (3 and 4 measured slower: 21 against 27 G multiply-adds/s at 64 tokens)
template <DType kType>
void tile_of_avx2(const uint8_t* rows, size_t stride, int64_t n_rows, const Layout& x, int64_t g0, int64_t g1,
                  int64_t n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; ++g) {
    int64_t r = 0;
    for (; r + kRowsAvx2 <= n_rows; r += kRowsAvx2) kernel_avx2<kType, kRowsAvx2>(rows, stride, r, x, g, n_tokens, y, ldy);
    for (; r < n_rows; ++r) kernel_avx2<kType, 1>(rows, stride, r, x, g, n_tokens, y, ldy);
  }
}

// Token groups in steps of kGroups (their values stay in L2 while every row of the tile takes
// them), rows in steps of kRows.
template <DType kType>
void tile_of(const uint8_t* rows, size_t stride, int64_t n_rows, const Layout& x, int64_t g0, int64_t g1,
             int64_t n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; g += kGroups) {
    const int64_t n_g = std::min<int64_t>(kGroups, g1 - g);
    int64_t r = 0;
    for (; r + kRows <= n_rows; r += kRows) rows_by_groups<kType, kRows>(rows, stride, r, x, g, n_g, n_tokens, y, ldy);
    for (; r < n_rows; ++r) rows_by_groups<kType, 1>(rows, stride, r, x, g, n_g, n_tokens, y, ldy);
  }
}

// The VNNI kernel where the CPU has it, else the AVX2 one: the same numbers.
template <DType kType>
void tile_for(const uint8_t* rows, size_t stride, int64_t n_rows, const Layout& x, int64_t g0, int64_t g1,
              int64_t n_tokens, float* y, int64_t ldy) {
  if (has_vnni()) return tile_of<kType>(rows, stride, n_rows, x, g0, g1, n_tokens, y, ldy);
  tile_of_avx2<kType>(rows, stride, n_rows, x, g0, g1, n_tokens, y, ldy);
}
#endif

constexpr int64_t kTileRows = 32;    // weight rows per task
constexpr int64_t kTileGroups = 16;  // token groups (256 tokens) per task
}  // namespace

bool takes(DType type) {
#if KVLINK_WEIGHT_PAIRS
  return has_integer_kernel(type);
#else
  (void)type;
  return false;
#endif
}

bool takes_prefill(DType type) { return has_vnni() && takes(type); }

int64_t columns_taken(DType type, int64_t T, bool tokens) {
  if (!takes(type)) return 0;
  if (has_vnni()) return T >= kMinColumnsVnni ? T : 0;
  return tokens ? 0 : lanes::columns_taken(T, kMinLastAvx2);
}

size_t layout_floats(int64_t T, int64_t K) {
  const auto n = static_cast<size_t>(groups_of(T) * (K / kQK) * kLanes);
  return n * static_cast<size_t>(kPairs + 2);
}

Layout layout_at(float* scratch, int64_t T, int64_t K) {
  Layout laid{};
  laid.n_groups = groups_of(T);
  laid.n_blocks = K / kQK;
  const auto n = static_cast<size_t>(laid.n_groups * laid.n_blocks * kLanes);
  laid.pairs = reinterpret_cast<int32_t*>(scratch);
  laid.d = scratch + n * kPairs;
  laid.s = laid.d + n;
  return laid;
}

void lay_out_token(const float* x, int64_t t, int64_t K, const Layout& laid) {
  const int64_t g = t / kLanes, lane = t % kLanes;
  for (int64_t k = 0; k < K / kQK; ++k) {
    BlockQ16A b{};
    if (x) quantize_activations(x + k * kQK, kQK, &b);
    const int64_t at = (g * laid.n_blocks + k) * kLanes + lane;
    laid.d[at] = b.d;
    laid.s[at] = b.s;
    int32_t* pairs = laid.pairs + (g * laid.n_blocks + k) * kPairs * kLanes + lane;
    for (int64_t p = 0; p < kPairs; ++p) pairs[p * kLanes] = int16_pair(b.qs[2 * p], b.qs[2 * p + 1]);
  }
}

void tile(DType type, const void* rows, size_t stride, int64_t n_rows, const Layout& laid, int64_t g0, int64_t g1,
          int64_t n_tokens, float* y, int64_t ldy) {
  if (!takes(type)) throw Error(std::string("the int16 prefill kernel does not take ") + dtype_name(type) + " here");
  if (g0 < 0 || g1 > laid.n_groups || n_tokens > laid.n_groups * kLanes) throw Error("token groups outside the layout");
#if KVLINK_WEIGHT_PAIRS
  const auto* r = static_cast<const uint8_t*>(rows);
  switch (type) {
    case DType::Q4_0: return tile_for<DType::Q4_0>(r, stride, n_rows, laid, g0, g1, n_tokens, y, ldy);
    case DType::Q4_1: return tile_for<DType::Q4_1>(r, stride, n_rows, laid, g0, g1, n_tokens, y, ldy);
    default: return tile_for<DType::Q8_0>(r, stride, n_rows, laid, g0, g1, n_tokens, y, ldy);
  }
#else
  (void)rows, (void)stride, (void)n_rows, (void)y, (void)ldy;
#endif
}

void mul_mat(const Tensor* w, const float* x, int64_t T, float* y, Arena& arena, int n_threads) {
  const int64_t K = w->ne[0], N = w->ne[1];
  row_bytes(w->type, K);  // throws before the parallel loops unless K is a whole number of blocks
  const Layout laid = layout_at(arena.work(layout_floats(T, K)), T, K);
  const int64_t padded = laid.n_groups * kLanes;
  parallel_for_each(n_threads, padded, kLanes, [&](int64_t t, int) {
    lay_out_token(t < T ? x + t * K : nullptr, t, K, laid);
  });
  const int64_t row_tiles = (N + kTileRows - 1) / kTileRows;
  const int64_t group_tiles = (laid.n_groups + kTileGroups - 1) / kTileGroups;
  const auto* base = static_cast<const uint8_t*>(w->data);
  parallel_for_each(n_threads, row_tiles * group_tiles, 1, [&](int64_t task, int) {
    const int64_t r0 = (task / group_tiles) * kTileRows, g0 = (task % group_tiles) * kTileGroups;
    const int64_t rows = std::min(kTileRows, N - r0);
    const int64_t g1 = std::min(laid.n_groups, g0 + kTileGroups);
    tile(w->type, base + static_cast<size_t>(r0) * w->nb[1], w->nb[1], rows, laid, g0, g1, T, y + r0, N);
  });
}

}  // namespace kvlink::integer_gemm
