// The columns in the lanes of one AVX-512 vector: 16 of them (the int16 kernel of
// tensor/integer_gemm.h, the F32 lane kernel of tensor/float_lanes.h), and the rule the F32 lane
// kernel uses for how many of a product's columns it takes.
#pragma once
#include <cstdint>

namespace kvlink::lanes {

inline constexpr int64_t kLanes = 16;

// Of n_x columns, how many (the first ones) a lane kernel takes: the whole groups of 16 and a last
// group of min_last or more, padded.
inline int64_t columns_taken(int64_t n_x, int64_t min_last) {
  const int64_t whole = n_x / kLanes * kLanes;
  return n_x - whole >= min_last ? n_x : whole;
}

}  // namespace kvlink::lanes
