// Random operands for the product kernels' tests: quantised weight rows and activation columns.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "tensor/dtype.h"

namespace kvlink::testing {

// n_rows weight rows of n values of `type`, quantised from normal values of sigma 0.05 (as a
// model's weights are made), one row after another.
std::vector<uint8_t> normal_weight_rows(DType type, int64_t n_rows, int64_t n, std::mt19937& rng);
// n activations, normal with sigma 1, with an all-zero block of 32 (elements 32..63) when n >= 64.
std::vector<float> normal_activations(int64_t n, std::mt19937& rng);

}  // namespace kvlink::testing
