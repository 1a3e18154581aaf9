#include "support/random_operands.h"

#include <algorithm>

#include "tensor/quant.h"

namespace kvlink::testing {

std::vector<uint8_t> normal_weight_rows(DType type, int64_t n_rows, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> f(static_cast<size_t>(n));
  const size_t rb = row_bytes(type, n);
  std::vector<uint8_t> rows(rb * static_cast<size_t>(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (auto& v : f) v = normal(rng);
    quantize_row(type, f.data(), rows.data() + r * rb, n);
  }
  return rows;
}

std::vector<float> normal_activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  return x;
}

}  // namespace kvlink::testing
