// The INT16 products (`--products int16`) of a quantised weight with many activation columns (a
// prefill's tokens or batched decoding's sequences), where the CPU has AVX-512 VNNI: the columns'
// activations are quantised once per product to int16 blocks (BlockQ16A's rounding,
// tensor/integer_dot.h) and laid out 16 columns to a vector, each block's 16 int16 pairs of the 16
// columns side by side; per weight block, each pair of R weight rows is broadcast and multiplied
// with the same pair of G groups of 16 columns (vpdpwssd), R x G exact int32 sums per block, each
// turned into a float and scaled by the row's and the column's block scales in one FMA, the block
// offset in one more.
//
// Twice the multiply-adds per instruction of F32 FMAs, and the weights stay in their 4-bit blocks
// (no dequantised copy). These are ref::dot_int16's operations, so a column's numbers are bit for
// bit those of the row kernel (integer_dot.h) for that column alone: batched decoding equals
// decoding alone, and they depend neither on the other columns nor on the thread count.
// Without AVX-512 VNNI (AVX2) the same layout and numbers with 8 columns to a vector, for batched
// decoding's sequences only; there the row kernel takes up to 8 tokens, and longer prefills stay on
// F32 products (tensor/matmul.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace kvlink {

class Arena;
struct Tensor;

namespace integer_gemm {

// Whether this build has the kernel (AVX2; its AVX-512 VNNI form where the CPU has that) and
// `type` is one it takes (Q4_0, Q4_1, Q8_0).
bool takes(DType type);
// Whether MUL_MAT gives it a sequence's tokens beyond the row kernel's 8 (prefills): only with
// AVX-512 VNNI. With AVX2 alone, F32 products (dequantised rows, sgemm) are the faster prefill
// (bench-kernels PrefillProducts, Q4_1 1536 x 576, one thread, AMD EPYC Zen 3: 34-41 G
// multiply-adds/s against 26-27 for this kernel at 64 and 512 tokens), so batched decoding's
// columns alone take it there, with the row kernel's numbers.
bool takes_prefill(DType type);
// How many of MUL_MAT's T int16 columns (the first ones; sequences, or a sequence's tokens) this
// kernel takes; the row kernel (8 rows at a time) takes the rest. With AVX-512 VNNI all of them from
// 5 on. Measured (bench-kernels IntegerTile, Q4_1 1536 x 576, one thread): the row kernel 139, 210,
// 279 us for 4, 6 and 8 columns, this kernel 172-175 us for any count up to 16 (one padded group).
// With AVX2 alone, sequences only, in whole groups of 16 and a last group of kMinLastAvx2 or more
// (the AMD EPYC Zen 3, medians of 3: 16 columns 444 us against the row kernel's 628, 32 columns
// 1,112 against 1,473; 6 and 8 columns padded to 16, 494 and 493 against 264 and 409).
int64_t columns_taken(DType type, int64_t T, bool tokens);
inline constexpr int64_t kMinColumnsVnni = 5;
inline constexpr int64_t kMinLastAvx2 = 12;

// The tokens' activations quantised and laid out: for group g of 16 tokens and block k,
// pairs[((g * n_blocks + k) * 16 + p) * 16 + lane] holds values 2p (low half) and 2p + 1 (high) of
// token 16 g + lane, d[(g * n_blocks + k) * 16 + lane] its block scale and s its d * sum(q); the
// lanes past the last token are 0.
struct Layout {
  int32_t* pairs;
  float* d;
  float* s;
  int64_t n_groups;
  int64_t n_blocks;
};
// Floats of scratch a Layout of T tokens of K elements takes (K a multiple of 32).
size_t layout_floats(int64_t T, int64_t K);
// A Layout over `scratch` (layout_floats(T, K) floats).
Layout layout_at(float* scratch, int64_t T, int64_t K);
// Quantises token t (x: its K activations, nullptr for a padding lane: zeros) into the layout.
void lay_out_token(const float* x, int64_t t, int64_t K, const Layout& laid);

// n_rows weight rows of `type` (`stride` bytes apart) by the token groups [g0, g1) of the layout, of
// which the first n_tokens tokens are real: y[t * ldy + r] for r < n_rows, 16 g0 <= t < min(16 g1, n_tokens).
void tile(DType type, const void* rows, size_t stride, int64_t n_rows, const Layout& laid, int64_t g0, int64_t g1,
          int64_t n_tokens, float* y, int64_t ldy);

// y = W x for T tokens: x [K, T] F32 activations, y [N, T] (y[t * N + r]); W of a type takes() takes.
void mul_mat(const Tensor* w, const float* x, int64_t T, float* y, Arena& arena, int n_threads);

}  // namespace integer_gemm
}  // namespace kvlink
