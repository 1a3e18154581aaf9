// The int16 kernel for many columns (tensor/integer_gemm.h): through MUL_MAT with Products::INT16 and a
// sequence's tokens (separate sequences where it takes no prefills), every number equals the scalar
// definition of the int16 block product (ref::dot_integer on the same quantised activations) up to
// float rounding of its block sums, and is bit for bit the float operations of ref::dot_int16 (which
// the row kernel does too); a token's numbers do not depend on how many tokens share the product or on the thread count; the
// layout puts each quantised value and scale where the kernel reads it and zeros in spare lanes;
// the tile writes only its own rows and tokens and refuses weight types it does not take.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/arena.h"
#include "tensor/error.h"
#include "tensor/execute.h"
#include "tensor/graph.h"
#include "tensor/integer_dot.h"
#include "tensor/integer_gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "support/random_operands.h"

using namespace kvlink;

namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q8_0};

std::vector<float> activations(int64_t n, std::mt19937& rng) {
  std::vector<float> x = kvlink::testing::normal_activations(n, rng);
  x[7] = 60.0f;  // a channel far larger than the rest, as the default model's hidden states have
  return x;
}

// y = W x through MUL_MAT for T tokens of one sequence with int16 products, on n_threads threads;
// where the kernel takes no prefills (AVX2 without VNNI), T sequences' columns instead.
std::vector<float> product(DType type, const std::vector<uint8_t>& w, int64_t N, int64_t K, const std::vector<float>& x,
                           int64_t T, int n_threads) {
  const Columns columns = integer_gemm::takes_prefill(type) ? Columns::TOKENS : Columns::SEQUENCES;
  Graph g;
  Tensor* xt = g.input(DType::F32, {K, T}, "x");
  std::memcpy(xt->data, x.data(), static_cast<size_t>(K * T) * sizeof(float));
  Tensor* y = mul_mat(g, g.leaf(type, {K, N}, w.data(), "w"), xt, Products::INT16, columns);
  g.mark_output(y);
  Arena arena;
  execute(g, arena, ExecOptions{n_threads});
  const auto* yd = static_cast<const float*>(y->data);
  return std::vector<float>(yd, yd + N * T);
}

// The scale of a product's float rounding: sum over elements of (|d q| + |m|) |x|, bounded with
// |d q| <= |w| + |m|.
double magnitude(DType type, const uint8_t* row, const float* x, int64_t K) {
  std::vector<float> w(static_cast<size_t>(K));
  dequantize_row(type, row, w.data(), K);
  double sum = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    const BlockScales s = block_scales(type, row + (k / kQK) * row_bytes(type, kQK));
    sum += (std::fabs(w[k]) + 2.0 * std::fabs(s.m)) * std::fabs(x[k]);
  }
  return sum;
}

}  // namespace

TEST(IntegerGemm, EveryTokenGetsTheInt16BlockProductBitForBit) {
  if (!integer_gemm::takes(DType::Q4_1)) GTEST_SKIP() << "built without AVX2";
  std::mt19937 rng(21);
  const int64_t K = 32 * 18, N = 11;  // 11 rows: two kernel calls of 4 and three rows alone
  for (DType type : kTypes) {
    const auto w = kvlink::testing::normal_weight_rows(type, N, K, rng);
    const size_t rb = row_bytes(type, K);
    for (int64_t T : {9, 16, 17, 40, 300}) {
      const auto x = activations(K * T, rng);
      const auto y = product(type, w, N, K, x, T, 2);
      std::vector<BlockQ16A> q(static_cast<size_t>(K / kQK));
      for (int64_t t = 0; t < T; ++t) {
        quantize_activations(x.data() + t * K, K, q.data());
        for (int64_t r = 0; r < N; ++r) {
          const double want = ref::dot_integer(type, w.data() + r * rb, q.data(), K);
          const double bound = 4.0 * (K / kQK) * std::ldexp(magnitude(type, w.data() + r * rb, x.data() + t * K, K), -24);
          ASSERT_NEAR(y[static_cast<size_t>(t * N + r)], want, bound) << dtype_name(type) << " T " << T << " t " << t << " r " << r;
          ASSERT_EQ(y[static_cast<size_t>(t * N + r)], ref::dot_int16(type, w.data() + r * rb, q.data(), K))
              << dtype_name(type) << " T " << T << " t " << t << " r " << r;
        }
      }
    }
  }
}

TEST(IntegerGemm, ATokensNumbersDoNotDependOnTheOtherTokensOrTheThreads) {
  if (!integer_gemm::takes(DType::Q4_1)) GTEST_SKIP() << "built without AVX2";
  std::mt19937 rng(22);
  const int64_t K = 32 * 6, N = 37;
  for (DType type : kTypes) {
    const auto w = kvlink::testing::normal_weight_rows(type, N, K, rng);
    const auto x = activations(K * 300, rng);
    const auto all = product(type, w, N, K, x, 300, 2);
    const auto one_thread = product(type, w, N, K, x, 300, 1);
    const auto first = product(type, w, N, K, x, 21, 2);  // the first 21 tokens alone
    ASSERT_EQ(all, one_thread) << dtype_name(type);
    for (int64_t i = 0; i < 21 * N; ++i) ASSERT_EQ(first[static_cast<size_t>(i)], all[static_cast<size_t>(i)]) << dtype_name(type) << " " << i;
  }
}

TEST(IntegerGemm, LayoutHoldsEachQuantisedValueAndZerosInSpareLanes) {
  std::mt19937 rng(23);
  const int64_t K = 64, T = 18;  // two groups, the second with 2 tokens and 14 spare lanes
  const auto x = activations(K * T, rng);
  std::vector<float> scratch(integer_gemm::layout_floats(T, K), -1.0f);
  ASSERT_EQ(scratch.size(), static_cast<size_t>(2 * 2 * 16 * (16 + 2)));
  const auto laid = integer_gemm::layout_at(scratch.data(), T, K);
  for (int64_t t = 0; t < 32; ++t) integer_gemm::lay_out_token(t < T ? x.data() + t * K : nullptr, t, K, laid);
  const auto scale_at = [](int64_t t, int64_t k) { return (t / 16 * 2 + k) * 16 + t % 16; };
  const auto pair_at = [](int64_t t, int64_t k, int64_t p) { return ((t / 16 * 2 + k) * 16 + p) * 16 + t % 16; };
  for (int64_t t : {0, 3, 17}) {
    BlockQ16A q[2];
    quantize_activations(x.data() + t * K, K, q);
    for (int64_t k = 0; k < 2; ++k) {
      EXPECT_EQ(laid.d[scale_at(t, k)], q[k].d);
      EXPECT_EQ(laid.s[scale_at(t, k)], q[k].s);
      for (int64_t p = 0; p < 16; ++p) {
        const int32_t v = laid.pairs[pair_at(t, k, p)];
        EXPECT_EQ(static_cast<int16_t>(v & 0xFFFF), q[k].qs[2 * p]) << "t " << t << " k " << k << " p " << p;
        EXPECT_EQ(static_cast<int16_t>(v >> 16), q[k].qs[2 * p + 1]) << "t " << t << " k " << k << " p " << p;
      }
    }
  }
  for (int64_t t : {18, 31}) {  // spare lanes
    EXPECT_EQ(laid.d[scale_at(t, 1)], 0.0f);
    EXPECT_EQ(laid.s[scale_at(t, 1)], 0.0f);
    EXPECT_EQ(laid.pairs[pair_at(t, 1, 7)], 0);
  }
}

TEST(IntegerGemm, TileWritesOnlyItsRowsAndTokensAndRefusesOtherTypes) {
  EXPECT_FALSE(integer_gemm::takes(DType::F16));
  EXPECT_FALSE(integer_gemm::takes(DType::F32));
  if (!integer_gemm::takes(DType::Q4_1)) GTEST_SKIP() << "built without AVX2";
  std::mt19937 rng(24);
  const int64_t K = 32 * 3, R = 5, T = 20, ld = R + 2;
  const auto w = kvlink::testing::normal_weight_rows(DType::Q4_1, R, K, rng);
  const auto x = activations(K * T, rng);
  std::vector<float> scratch(integer_gemm::layout_floats(T, K));
  const auto laid = integer_gemm::layout_at(scratch.data(), T, K);
  for (int64_t t = 0; t < 32; ++t) integer_gemm::lay_out_token(t < T ? x.data() + t * K : nullptr, t, K, laid);
  std::vector<float> out(static_cast<size_t>(32 * ld), -7.0f);
  integer_gemm::tile(DType::Q4_1, w.data(), row_bytes(DType::Q4_1, K), R, laid, 0, 2, T, out.data(), ld);
  for (int64_t t = 0; t < 32; ++t) {
    for (int64_t r = 0; r < ld; ++r) {
      const float got = out[static_cast<size_t>(t * ld + r)];
      if (t >= T || r >= R) EXPECT_EQ(got, -7.0f) << "outside the tile: t " << t << " r " << r;
      else EXPECT_NE(got, -7.0f) << "t " << t << " r " << r;
    }
  }
  const auto f16 = kvlink::testing::normal_weight_rows(DType::F16, R, K, rng);
  EXPECT_THROW(integer_gemm::tile(DType::F16, f16.data(), row_bytes(DType::F16, K), R, laid, 0, 2, T, out.data(), ld), Error);
  EXPECT_THROW(integer_gemm::tile(DType::Q4_1, w.data(), row_bytes(DType::Q4_1, K), R, laid, 0, 3, T, out.data(), ld), Error);
}
