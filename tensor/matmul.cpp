// MUL_MAT: y = W x for a weight W [K, N] of any type and F32 activations x [K, T].
// One column (decoding): quantised matvec straight from W's blocks. Up to 64 columns of separate
// sequences (batched decoding, Columns::SEQUENCES) or 8 of one sequence (Columns::TOKENS: a short
// prefill): each weight row read once and dotted with every column, with the matvec's arithmetic
// per column (with Products::F32 and a Q4_0 or Q4_1 weight, 16 columns in the lanes of one vector
// where the CPU has AVX-512F: tensor/float_lanes.h). With Products::INT16 or INT8 (the node's
// iparams[0]) and a Q4_0, Q4_1 or Q8_0 weight, these products quantise the columns to 16- or 8-bit
// blocks once and multiply in integers (tensor/integer_dot.h); a column's arithmetic still does not
// depend on how many columns there are. INT16 products of many columns (integer_gemm::columns_taken):
// the int16 kernel of tensor/integer_gemm.h, whose numbers are the row kernel's, for sequences (any
// number) and, where the CPU has AVX-512 VNNI, tokens (any number) too.
// Otherwise (F32 or INT8 products, other weight types or CPUs, over 64 sequences): the product is cut into
// tiles of (weight rows x tokens); each task dequantises its weight rows into a per-thread slab and
// multiplies them with its tokens: in registers (tensor/small_gemm.h) for 9-40 tokens of one
// sequence (9-128 with AVX-512; a reuse mode's question), else with a single-threaded OpenBLAS sgemm.
// All parallelism is the thread pool's: letting OpenBLAS start its own threads next to ours
// oversubscribes the cores (measured: 2 threads ran at half the speed of 1).
#include <algorithm>

#include "tensor/blas.h"
#include "tensor/float_lanes.h"
#include "tensor/integer_dot.h"
#include "tensor/integer_gemm.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "tensor/small_gemm.h"
#include "tensor/thread_pool.h"

namespace kvlink {

namespace {
constexpr int64_t kMaxRowColumns = 64;    // columns of separate sequences: up to this, the row kernel
constexpr int64_t kMaxTokenColumns = 8;   // one sequence's tokens: the row kernel up to this, then small_gemm

// y = W x for T <= kMaxRowColumns columns: the threads split W's rows, and `dot(r0, r1)` writes
// y[t * N + r] for rows r0..r1-1 of every column t, reading each weight row once for all columns
// with a per-column arithmetic that does not depend on T, so a column gets the number it gets alone:
// batched decoding's answers are those of decoding alone.
// Tasks start at multiples of `unit` rows (a kernel's rows at a time: the pool evens its chunks out,
// which would otherwise cut them anywhere).
template <class Dot>
void rows_times_columns(const Tensor* w, int n_threads, const Dot& dot, int64_t unit = 1) {
  const int64_t N = w->ne[1], units = (N + unit - 1) / unit;
  parallel_for(n_threads, units, std::max<int64_t>(1, matvec_grain(N, n_threads) / unit),
               [&](int64_t u0, int64_t u1, int) { dot(u0 * unit, std::min(N, u1 * unit)); });
}

// The T columns quantised to integer blocks once, into `q` (T * K / 32 blocks); xs[t]: column t's.
template <class Block>
void quantize_columns(const float* x, int64_t T, int64_t K, Block* q, const Block** xs) {
  for (int64_t t = 0; t < T; ++t) {
    quantize_activations(x + t * K, K, q + t * (K / kQK));
    xs[t] = q + t * (K / kQK);
  }
}

const uint8_t* weight_row(const Tensor* w, int64_t r) {
  return static_cast<const uint8_t*>(w->data) + static_cast<size_t>(r) * w->nb[1];
}

// The F32 products of T columns: the lane kernel's columns (float_lanes.h, laid out once in the
// arena's scratch) and the row kernel for the rest.
void mul_mat_rows(const Tensor* w, const float* x, int64_t T, float* y, Arena& arena, int n_threads) {
  const int64_t K = w->ne[0], N = w->ne[1];
  const float* xs[kMaxRowColumns];
  for (int64_t t = 0; t < T; ++t) xs[t] = x + t * K;
  const int64_t lanes = float_lanes::lane_columns(w->type, T);
  float* laid = nullptr;
  if (lanes > 0) {
    laid = arena.work(float_lanes::layout_floats(lanes, K));
    float_lanes::lay_out(xs, lanes, K, laid);
  }
  rows_times_columns(w, n_threads, [&](int64_t r0, int64_t r1) {
    if (lanes > 0) float_lanes::dot_tile16(w->type, weight_row(w, r0), w->nb[1], r1 - r0, laid, lanes, K, y + r0, N);
    if (lanes == T) return;
    for (int64_t r = r0; r < r1; ++r) {
      float out[kMaxRowColumns];
      dot_row_columns(w->type, weight_row(w, r), xs + lanes, T - lanes, K, out);
      for (int64_t t = lanes; t < T; ++t) y[t * N + r] = out[t - lanes];
    }
  });
}

// The int16 products of T columns: each quantised to BlockQ16A once, in the arena's scratch, then
// the row kernel (tensor/integer_dot.h).
void mul_mat_int16(const Tensor* w, const float* x, int64_t T, float* y, Arena& arena, int n_threads) {
  const int64_t K = w->ne[0], N = w->ne[1], n_blocks = K / kQK;
  static_assert(sizeof(BlockQ16A) % sizeof(float) == 0, "scratch is counted in floats");
  auto* q = reinterpret_cast<BlockQ16A*>(arena.work(static_cast<size_t>(T * n_blocks) * sizeof(BlockQ16A) / sizeof(float)));
  const BlockQ16A* xs[kMaxRowColumns];
  quantize_columns(x, T, K, q, xs);
  rows_times_columns(w, n_threads, [&](int64_t r0, int64_t r1) {
    dot_integer_tile(w->type, weight_row(w, r0), w->nb[1], r1 - r0, xs, T, K, y + r0, N);
  }, 8);  // the row kernel's 8 rows at a time
}

// The int8 products of T columns: each quantised to BlockQ8A once, with their block scales side by
// side (ColumnScales), in the arena's scratch, then the row kernel.
void mul_mat_int8(const Tensor* w, const float* x, int64_t T, float* y, Arena& arena, int n_threads) {
  const int64_t K = w->ne[0], N = w->ne[1], n_blocks = K / kQK;
  static_assert(sizeof(BlockQ8A) % sizeof(float) == 0, "scratch is counted in floats");
  const auto block_floats = static_cast<size_t>(T * n_blocks) * sizeof(BlockQ8A) / sizeof(float);
  const auto scale_floats = static_cast<size_t>(column_scales_size(T, n_blocks));
  float* scratch = arena.work(block_floats + 2 * scale_floats);
  auto* q = reinterpret_cast<BlockQ8A*>(scratch);
  const BlockQ8A* xs[kMaxRowColumns];
  quantize_columns(x, T, K, q, xs);
  float* d = scratch + block_floats;
  float* s = d + scale_floats;
  column_scales(xs, T, n_blocks, d, s);
  const ColumnScales scales{d, s, column_scales_stride(T)};
  rows_times_columns(w, n_threads, [&](int64_t r0, int64_t r1) {
    dot_integer_tile(w->type, weight_row(w, r0), w->nb[1], r1 - r0, xs, scales, T, K, y + r0, N);
  });
}

constexpr int64_t kTileRows = 128;      // weight rows per task (sgemm)
constexpr int64_t kSmallTileRows = 32;  // weight rows per task (small_gemm: its slab stays in L2)
constexpr int64_t kTileTokens = 512;    // tokens per task

// One sequence's tokens up to this: small_gemm on the dequantised tiles, which skips sgemm's packing
// of the weights. Measured through the model on the AVX-512 Xeon (2 threads, against sgemm): with
// small_gemm's AVX2 kernel 12 tokens 75 -> 48 ms, 24: 61 -> 45, 40: 84 -> 72, level at 48; with its
// AVX-512 kernel 24: 60 -> 40, 64: 111 -> 93, 108: 145 -> 129, level at 160, behind at 256.
int64_t max_small_gemm_tokens() { return small_gemm_wide() ? 128 : 40; }

// T > the row kernel's columns: tiles of (weight rows x tokens); each task dequantises its rows into
// a per-thread slab (F32 weights are used in place) and multiplies them with its tokens, by
// small_gemm for a short prefill of one sequence, else by a single-threaded sgemm.
void mul_mat_tiles(const Tensor* w, const float* x, int64_t T, float* y, bool small, Arena& arena, int n_threads) {
  const int64_t K = w->ne[0], N = w->ne[1];
  const int64_t tile_rows = small ? kSmallTileRows : kTileRows;
  const int64_t row_tiles = (N + tile_rows - 1) / tile_rows;
  const int64_t token_tiles = (T + kTileTokens - 1) / kTileTokens;
  const bool f32 = w->type == DType::F32;
  float* slabs = f32 ? nullptr : arena.work(static_cast<size_t>(tile_rows * K * n_threads));
  parallel_for_each(n_threads, row_tiles * token_tiles, 1, [&](int64_t task, int worker) {
    const int64_t r0 = (task / token_tiles) * tile_rows;
    const int64_t t0 = (task % token_tiles) * kTileTokens;
    const int64_t rows = std::min(tile_rows, N - r0);
    const int64_t tokens = std::min(kTileTokens, T - t0);
    const float* wf = reinterpret_cast<const float*>(weight_row(w, r0));
    if (!f32) {
      float* slab = slabs + static_cast<size_t>(tile_rows * K) * static_cast<size_t>(worker);
      for (int64_t r = 0; r < rows; ++r) dequantize_row(w->type, weight_row(w, r0 + r), slab + r * K, K);
      wf = slab;
    }
    // Y[T, N] (row-major view of the [N, T] result), tile (t0.., r0..) = X[t0.., :] * W[r0.., :]^T
    if (small) return small_gemm(wf, rows, x + t0 * K, tokens, K, y + t0 * N + r0, N);
    sgemm(true, static_cast<int>(tokens), static_cast<int>(rows), static_cast<int>(K), 1.0f, x + t0 * K,
          static_cast<int>(K), wf, static_cast<int>(K), 0.0f, y + t0 * N + r0, static_cast<int>(N));
  });
}
}  // namespace

void kernel_mul_mat(Tensor* node, Arena& arena, int n_threads) {
  const Tensor* w = node->src[0];
  const Tensor* x = node->src[1];
  const int64_t K = w->ne[0];
  const int64_t N = w->ne[1];
  const int64_t T = x->n_rows();
  const auto* xd = static_cast<const float*>(x->data);
  auto* yd = static_cast<float*>(node->data);

  if (T < 1) return;
  const bool one_sequence = static_cast<Columns>(node->iparams[1]) == Columns::TOKENS;
  const auto products = static_cast<Products>(node->iparams[0]);
  // int16 products of many columns, sequences or tokens: the same numbers as the row kernel's
  const int64_t gemm = products == Products::INT16 ? integer_gemm::columns_taken(w->type, T, one_sequence) : 0;
  if (gemm > 0) {
    integer_gemm::mul_mat(w, xd, gemm, yd, arena, n_threads);
    if (gemm < T) mul_mat_int16(w, xd + gemm * K, T - gemm, yd + gemm * N, arena, n_threads);  // the row kernel's rest
    return;
  }
  if (T <= (one_sequence ? kMaxTokenColumns : kMaxRowColumns)) {
    row_bytes(w->type, K);  // throws before the parallel loop unless K is a whole number of blocks
    if (products != Products::F32 && has_integer_kernel(w->type)) {
      if (products == Products::INT16) return mul_mat_int16(w, xd, T, yd, arena, n_threads);
      return mul_mat_int8(w, xd, T, yd, arena, n_threads);
    }
    if (T == 1) return matvec(w->type, w->data, w->nb[1], N, K, xd, yd, n_threads);
    return mul_mat_rows(w, xd, T, yd, arena, n_threads);
  }
  mul_mat_tiles(w, xd, T, yd, one_sequence && T <= max_small_gemm_tokens(), arena, n_threads);
}

}  // namespace kvlink
