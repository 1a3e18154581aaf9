// A product of a few F32 weight rows with a few F32 token rows, both row-major over K, for the
// prefills too short to pay for sgemm's packing: MUL_MAT dequantises a tile of weight rows into a
// per-thread slab (L2-resident) and calls this for every tile, so a weight is read and dequantised
// once per product, and nothing is copied again. Register-blocked: 4 weight rows by 3 tokens, 12
// accumulators of 8 lanes over K, the K loop in steps of 8 (scalar tail), one horizontal sum per
// output; on a CPU with AVX-512 (checked at run time) 4 rows by 6 tokens of 16 lanes. AVX2/FMA when
// compiled in, a plain loop otherwise.
#pragma once
#include <cstdint>

namespace kvlink {

// y[t * ldy + r] = sum_k w[r * K + k] * x[t * K + k] for r < rows, t < tokens.
// allow_wide false: the AVX2 kernel even where AVX-512 is there (tests take both).
void small_gemm(const float* w, int64_t rows, const float* x, int64_t tokens, int64_t K, float* y, int64_t ldy,
                bool allow_wide = true);
// Whether small_gemm takes its AVX-512 kernel on this CPU.
bool small_gemm_wide();

}  // namespace kvlink
