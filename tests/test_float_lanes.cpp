// The F32 products of many columns (tensor/float_lanes.h, and the row kernel's groups in
// tensor/quant.cpp): through MUL_MAT with Products::F32, every column of a product of 1..40 columns
// of separate sequences (and 1..8 tokens of one) gets bit for bit the number the one-column kernel
// (a sequence decoded alone) gives it, for Q4_0, Q4_1 (the lanes) and Q8_0 (the row kernel); the
// layout puts each value where the kernel reads it and zeros in the spare lanes; the lane kernel
// writes only its own rows and columns, and refuses a column count it does not take.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tensor/arena.h"
#include "tensor/error.h"
#include "tensor/execute.h"
#include "tensor/float_lanes.h"
#include "tensor/graph.h"
#include "tensor/integer_dot.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "support/random_operands.h"

using namespace kvlink;

namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q8_0};

using kvlink::testing::normal_weight_rows;

// Activations with a channel far larger than the rest (as the default model's hidden states have)
// and an all-zero block.
std::vector<float> activations(int64_t n, std::mt19937& rng) {
  std::vector<float> x = kvlink::testing::normal_activations(n, rng);
  x[7] = 60.0f;
  return x;
}

}  // namespace

TEST(FloatLanes, EveryColumnOfAProductGetsItsAloneNumberBitForBit) {
  std::mt19937 rng(11);
  const int64_t K = 32 * 18, N = 7;  // an odd row count: the lane kernel's last row goes alone
  for (DType type : kTypes) {
    const auto w = normal_weight_rows(type, N, K, rng);
    const size_t rb = row_bytes(type, K);
    std::vector<std::pair<Columns, int64_t>> cases;
    for (int64_t T = 1; T <= 40; ++T) cases.push_back({Columns::SEQUENCES, T});
    for (int64_t T = 2; T <= 8; ++T) cases.push_back({Columns::TOKENS, T});
    for (const auto& [columns, T] : cases) {
      Graph g;
      Tensor* x = g.input(DType::F32, {K, T}, "x");
      const auto xv = activations(K * T, rng);
      std::memcpy(x->data, xv.data(), xv.size() * sizeof(float));
      Tensor* y = mul_mat(g, g.leaf(type, {K, N}, w.data(), "w"), x, Products::F32, columns);
      g.mark_output(y);
      Arena arena;
      execute(g, arena, ExecOptions{2});
      const auto* yd = static_cast<const float*>(y->data);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t r = 0; r < N; ++r) {
          const float alone = dot_row(type, w.data() + r * rb, xv.data() + t * K, K);
          ASSERT_EQ(yd[t * N + r], alone) << dtype_name(type) << " T " << T << " t " << t << " r " << r;
        }
      }
    }
  }
}

TEST(FloatLanes, LayoutHoldsEachValueAndTheRowKernelsSums) {
  std::mt19937 rng(12);
  const int64_t K = 64, C = 18;  // two groups, the second with 2 columns and 14 spare lanes
  std::vector<std::vector<float>> cols;
  std::vector<const float*> xs;
  for (int64_t c = 0; c < C; ++c) cols.push_back(activations(K, rng));
  for (const auto& c : cols) xs.push_back(c.data());
  std::vector<float> laid(float_lanes::layout_floats(C, K), -1.0f);
  ASSERT_EQ(laid.size(), static_cast<size_t>(2 * 2 * (32 + 8) * 16));
  float_lanes::lay_out(xs.data(), C, K, laid.data());
  const auto at = [&](int64_t c, int64_t k, int64_t slot) {  // slot: element 0..31, then sum 32..39
    return laid[static_cast<size_t>(((c / 16 * 2 + k) * 40 + slot) * 16 + c % 16)];
  };
  EXPECT_EQ(at(17, 1, 5), cols[17][32 + 5]);
  EXPECT_EQ(at(3, 0, 31), cols[3][31]);
  const float* b = cols[9].data() + 32;
  EXPECT_EQ(at(9, 1, 32 + 2), (b[2] + b[10]) + (b[18] + b[26]));
  EXPECT_EQ(at(18, 0, 4), 0.0f);  // a spare lane
  EXPECT_EQ(at(31, 1, 39), 0.0f);
}

TEST(FloatLanes, TileWritesOnlyItsRowsAndColumnsAndRefusesOtherCounts) {
  EXPECT_EQ(float_lanes::lane_columns(DType::F16, 32), 0);  // no lane kernel for other weight types
  EXPECT_EQ(float_lanes::lane_columns(DType::Q8_0, 32), 0);
  if (float_lanes::lane_columns(DType::Q4_1, 16) == 0) GTEST_SKIP() << "this CPU has no AVX-512F";
  EXPECT_EQ(float_lanes::lane_columns(DType::Q4_1, 16 + float_lanes::kMinLanes - 1), 16);
  EXPECT_EQ(float_lanes::lane_columns(DType::Q4_1, 16 + float_lanes::kMinLanes), 16 + float_lanes::kMinLanes);
  std::mt19937 rng(13);
  const int64_t K = 32 * 3, R = 5, C = 12, ld = R + 2;
  for (DType type : {DType::Q4_0, DType::Q4_1}) {
    const auto w = normal_weight_rows(type, R, K, rng);
    std::vector<std::vector<float>> cols;
    std::vector<const float*> xs;
    for (int64_t c = 0; c < C; ++c) cols.push_back(activations(K, rng));
    for (const auto& c : cols) xs.push_back(c.data());
    std::vector<float> laid(float_lanes::layout_floats(C, K));
    float_lanes::lay_out(xs.data(), C, K, laid.data());
    std::vector<float> out(static_cast<size_t>((C + 1) * ld), -7.0f);
    float_lanes::dot_tile16(type, w.data(), row_bytes(type, K), R, laid.data(), C, K, out.data(), ld);
    for (int64_t c = 0; c <= C; ++c) {
      for (int64_t r = 0; r < ld; ++r) {
        const float got = out[static_cast<size_t>(c * ld + r)];
        if (c == C || r >= R) {
          EXPECT_EQ(got, -7.0f) << "outside the tile: c " << c << " r " << r;
        } else {
          EXPECT_EQ(got, dot_row(type, w.data() + r * row_bytes(type, K), cols[c].data(), K)) << "c " << c << " r " << r;
        }
      }
    }
    EXPECT_THROW(float_lanes::dot_tile16(type, w.data(), row_bytes(type, K), R, laid.data(), 5, K, out.data(), ld), Error);
  }
}
