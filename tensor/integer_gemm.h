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
// Without AVX-512 VNNI the row kernel takes up to 64 sequences and 8 tokens, and longer prefills
// stay on F32 products (tensor/matmul.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace kvlink {

class Arena;
struct Tensor;

namespace integer_gemm {

// Whether this CPU has the kernel and `type` is one it takes (Q4_0, Q4_1, Q8_0).
bool takes(DType type);
// MUL_MAT takes this kernel from this many columns on (fewer: the row kernel, 8 rows at a time).
// Measured (bench-kernels IntegerTile, Q4_1 1536 x 576, one thread): the row kernel 139, 210, 279 us
// for 4, 6 and 8 columns, this kernel 172-175 us for any count up to 16 (one padded group).
inline constexpr int64_t kMinColumns = 5;

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
