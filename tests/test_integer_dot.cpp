// The integer products (tensor/integer_dot.h), for 16- and 8-bit activations and each weight type:
// activation quantisation equals its scalar reference bit for bit and stays within half a step; the
// AVX2 block products equal the scalar definition up to float summation order (int16: bit for bit
// its float operations, ref::dot_int16); they differ from the F32-activation product (quant.h) by no
// more than the activations' rounding allows; a column gets the same number alone and among others;
// MUL_MAT with Products::INT16 / INT8 equals the kernels for 1..64 columns of separate sequences and
// 1..8 tokens of one, and leaves longer products to the F32 path (int16 with AVX-512 VNNI: none);
// int16 MUL_MAT of any column count, either kind, 1 or 2 threads, is ref::dot_int16 bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "tensor/arena.h"
#include "tensor/error.h"
#include "tensor/execute.h"
#include "tensor/f16.h"
#include "tensor/graph.h"
#include "tensor/integer_dot.h"
#include "tensor/integer_gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "support/random_operands.h"

using namespace kvlink;

namespace {

const DType kInt8Types[] = {DType::Q4_0, DType::Q4_1, DType::Q8_0};

// A weight row of `type` quantised from normal values (as a model's weights are made).
std::vector<uint8_t> weight_row(DType type, int64_t n, std::mt19937& rng) {
  return kvlink::testing::normal_weight_rows(type, 1, n, rng);
}

// With a zero value and, from 64 values on, an all-zero block (d = 0).
std::vector<float> activations(int64_t n, std::mt19937& rng) {
  std::vector<float> x = kvlink::testing::normal_activations(n, rng);
  x[3] = 0.0f;
  return x;
}

template <class Block>
void check_quantisation() {
  std::mt19937 rng(1);
  const int64_t n = 32 * 9;
  auto x = activations(n, rng);
  x[5] = 2.5f * 8.0f / 127.0f;  // exact ties are rounded to even in both
  const int qmax = sizeof(Block{}.qs[0]) == 1 ? 127 : 32767;
  std::vector<Block> fast(static_cast<size_t>(n / 32)), slow(static_cast<size_t>(n / 32));
  quantize_activations(x.data(), n, fast.data());
  ref::quantize_activations(x.data(), n, slow.data());
  ASSERT_EQ(std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(Block)), 0);
  for (int64_t k = 0; k < n / 32; ++k) {
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      const float back = fast[k].d * fast[k].qs[i];
      EXPECT_LE(std::fabs(back - x[k * 32 + i]), 0.5f * fast[k].d * (1 + 1e-6f) + 1e-30f) << k << " " << i;
      EXPECT_LE(std::abs(fast[k].qs[i]), qmax);
      sum += fast[k].qs[i];
    }
    EXPECT_EQ(fast[k].s, fast[k].d * static_cast<float>(sum));
  }
  EXPECT_EQ(fast[1].d, 0.0f);  // the zero block
  EXPECT_THROW(quantize_activations(x.data(), 33, fast.data()), Error);
}

TEST(IntegerActivations, QuantisationEqualsReferenceAndStaysWithinHalfAStep) {
  check_quantisation<BlockQ16A>();
  check_quantisation<BlockQ8A>();
}

// Parameters: the weight type and the activations' width.
struct Case {
  DType type;
  int bits;
};
class IntegerDot : public ::testing::TestWithParam<Case> {};

// Runs fn with a value of the case's activation block type.
template <class Fn>
void with_block(int bits, Fn&& fn) {
  if (bits == 16) fn(BlockQ16A{});
  else fn(BlockQ8A{});
}

TEST_P(IntegerDot, KernelEqualsScalarDefinition) {
  const auto [type, bits] = GetParam();
  with_block(bits, [&, type = type](auto block) {
    using Block = decltype(block);
    std::mt19937 rng(2);
    for (int64_t blocks : {1, 2, 7, 18, 48}) {
      const int64_t n = blocks * 32;
      const auto row = weight_row(type, n, rng);
      const auto x = activations(n, rng);
      std::vector<Block> q(static_cast<size_t>(blocks));
      quantize_activations(x.data(), n, q.data());
      const Block* cols[1] = {q.data()};
      float got;
      dot_integer_columns(type, row.data(), cols, 1, n, &got);
      const double want = ref::dot_integer(type, row.data(), q.data(), n);
      // Integer sums are exact; only the float sum over blocks is in another order (and dw dx is a
      // float product): within 1e-5 of the sum of the terms' sizes.
      std::vector<float> w(static_cast<size_t>(n));
      dequantize_row(type, row.data(), w.data(), n);
      double scale = 0;
      for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(w[i]) * x[i]);
      EXPECT_NEAR(got, want, 1e-5 * scale + 1e-6) << dtype_name(type) << " blocks " << blocks;
      if constexpr (std::is_same_v<Block, BlockQ16A>) {  // and int16's float operations are the reference's
        EXPECT_EQ(got, ref::dot_int16(type, row.data(), q.data(), n)) << dtype_name(type) << " blocks " << blocks;
      }
    }
  });
}

// Against the F32-activation product: each activation moved by at most half its block's step d/2, so
// |integer - f32| <= sum over blocks of (d_x / 2) sum_i |w_i| (plus float rounding). For 16 bits the
// bound is 258 times tighter than for 8.
TEST_P(IntegerDot, StaysWithinTheActivationRoundingOfTheF32Product) {
  const auto [type, bits] = GetParam();
  with_block(bits, [&, type = type](auto block) {
    using Block = decltype(block);
    std::mt19937 rng(3);
    const int64_t n = 576;
    for (int trial = 0; trial < 20; ++trial) {
      const auto row = weight_row(type, n, rng);
      const auto x = activations(n, rng);
      std::vector<Block> q(n / 32);
      quantize_activations(x.data(), n, q.data());
      std::vector<float> w(n);
      dequantize_row(type, row.data(), w.data(), n);
      double bound = 0, scale = 0;
      for (int64_t i = 0; i < n; ++i) {
        bound += 0.5 * q[static_cast<size_t>(i / 32)].d * std::fabs(w[i]);
        scale += std::fabs(double(w[i]) * x[i]);
      }
      const Block* cols[1] = {q.data()};
      float got;
      dot_integer_columns(type, row.data(), cols, 1, n, &got);
      EXPECT_LE(std::fabs(got - dot_row(type, row.data(), x.data(), n)), bound + 1e-5 * scale) << trial;
    }
  });
}

TEST_P(IntegerDot, ColumnsGetTheirAloneNumbersBitForBit) {
  const auto [type, bits] = GetParam();
  with_block(bits, [&, type = type](auto block) {
    using Block = decltype(block);
    std::mt19937 rng(4);
    const int64_t n = 32 * 18;
    const auto row = weight_row(type, n, rng);
    // every count of left-over columns: groups of 8, then one of 4 or 8 with spare lanes, or one alone;
    // with AVX-512 VNNI and int16, groups of 16 in the lane kernel first, the last one padded from 12
    for (int64_t C = 1; C <= 40; ++C) {
      std::vector<std::vector<Block>> q(C, std::vector<Block>(n / 32));
      std::vector<const Block*> cols(C);
      for (int64_t c = 0; c < C; ++c) {
        quantize_activations(activations(n, rng).data(), n, q[c].data());
        cols[c] = q[c].data();
      }
      std::vector<float> together(C + 1, -7.0f);  // one past the last column: never written
      dot_integer_columns(type, row.data(), cols.data(), C, n, together.data());
      EXPECT_EQ(together[C], -7.0f) << C << " columns";
      for (int64_t c = 0; c < C; ++c) {
        float alone;
        dot_integer_columns(type, row.data(), &cols[c], 1, n, &alone);
        EXPECT_EQ(together[c], alone) << "column " << c << " of " << C;
      }
    }
  });
}

// 19 rows: two groups of 8 rows in the lanes (int16) and 3 left over.
TEST_P(IntegerDot, TileOfRowsEqualsEachRowAlone) {
  const auto [type, bits] = GetParam();
  with_block(bits, [&, type = type](auto block) {
    using Block = decltype(block);
    std::mt19937 rng(6);
    const int64_t n = 32 * 5, C = 21, R = 19;
    std::vector<uint8_t> rows;
    for (int64_t r = 0; r < R; ++r) {
      const auto row = weight_row(type, n, rng);
      rows.insert(rows.end(), row.begin(), row.end());
    }
    const size_t stride = row_bytes(type, n);
    std::vector<std::vector<Block>> q(C, std::vector<Block>(n / 32));
    std::vector<const Block*> cols(C);
    for (int64_t c = 0; c < C; ++c) {
      quantize_activations(activations(n, rng).data(), n, q[c].data());
      cols[c] = q[c].data();
    }
    std::vector<float> tile(static_cast<size_t>(R * C));  // a product's layout: column c's rows at c * R
    if constexpr (std::is_same_v<Block, BlockQ16A>) {
      dot_integer_tile(type, rows.data(), stride, R, cols.data(), C, n, tile.data(), R);
    } else {  // the int8 kernels take the columns' scales side by side
      std::vector<float> d(static_cast<size_t>(column_scales_size(C, n / 32)), -1.0f), s(d.size(), -1.0f);
      column_scales(cols.data(), C, n / 32, d.data(), s.data());
      EXPECT_EQ(d[static_cast<size_t>(column_scales_stride(C) + 2)], q[2][1].d);
      EXPECT_EQ(s[static_cast<size_t>(column_scales_stride(C) + 2)], q[2][1].s);
      EXPECT_EQ(d[static_cast<size_t>(C)], 0.0f);  // padding after the last column
      dot_integer_tile(type, rows.data(), stride, R, cols.data(), ColumnScales{d.data(), s.data(), column_scales_stride(C)},
                       C, n, tile.data(), R);
    }
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t c = 0; c < C; ++c) {
        float alone;
        dot_integer_columns(type, rows.data() + r * stride, &cols[c], 1, n, &alone);
        EXPECT_EQ(tile[static_cast<size_t>(c * R + r)], alone) << "row " << r << " column " << c;
        if constexpr (std::is_same_v<Block, BlockQ16A>) {
          EXPECT_EQ(alone, ref::dot_int16(type, rows.data() + r * stride, cols[c], n)) << "row " << r << " column " << c;
        }
      }
    }
  });
}

// Columns of separate sequences (batched decoding) take the integer kernel up to 64 columns, one
// sequence's tokens (a prefill) up to 8; longer products take dequantised weights and sgemm, except
// int16 ones where the CPU has the kernel of integer_gemm.h: every column count gets the integer numbers.
TEST_P(IntegerDot, MulMatUsesTheKernelsUpTo64SequencesOr8Tokens) {
  const auto [type, bits] = GetParam();
  with_block(bits, [&, type = type, bits = bits](auto block) {
    using Block = decltype(block);
    std::mt19937 rng(5);
    const int64_t K = 96, N = 70;
    std::vector<uint8_t> w;
    for (int64_t r = 0; r < N; ++r) {
      const auto row = weight_row(type, K, rng);
      w.insert(w.end(), row.begin(), row.end());
    }
    const size_t rb = row_bytes(type, K);
    for (const auto& [columns, T] : std::vector<std::pair<Columns, int64_t>>{
             {Columns::SEQUENCES, 1}, {Columns::SEQUENCES, 3}, {Columns::SEQUENCES, 12}, {Columns::SEQUENCES, 64},
             {Columns::SEQUENCES, 65}, {Columns::TOKENS, 1}, {Columns::TOKENS, 8}, {Columns::TOKENS, 9},
             {Columns::TOKENS, 28}}) {
      const bool gemm = integer_gemm::columns_taken(type, T, columns == Columns::TOKENS) > 0;
      const bool integer = T <= (columns == Columns::TOKENS ? 8 : 64) || (bits == 16 && gemm);
      Graph g;
      Tensor* wt = g.leaf(type, {K, N}, w.data(), "w");
      Tensor* x = g.input(DType::F32, {K, T}, "x");
      const auto xv = activations(K * T, rng);
      std::memcpy(x->data, xv.data(), xv.size() * sizeof(float));
      Tensor* y = mul_mat(g, wt, x, bits == 16 ? Products::INT16 : Products::INT8, columns);
      g.mark_output(y);
      Arena arena;
      execute(g, arena, ExecOptions{2});
      const auto* yd = static_cast<const float*>(y->data);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<Block> q(K / 32);
        quantize_activations(xv.data() + t * K, K, q.data());
        const Block* col = q.data();
        for (int64_t r = 0; r < N; ++r) {
          float want;
          if (integer) {
            dot_integer_columns(type, w.data() + r * rb, &col, 1, K, &want);
            ASSERT_EQ(yd[t * N + r], want) << "T " << T << " t " << t << " r " << r;
          } else {  // dequantised weights and sgemm, F32 activations
            want = dot_row(type, w.data() + r * rb, xv.data() + t * K, K);
            ASSERT_NEAR(yd[t * N + r], want, 1e-4) << "T " << T << " t " << t << " r " << r;
          }
        }
      }
    }
  });
}

// Every column count 1..70 (the row kernel up to 3 columns, then the int16 kernel of integer_gemm.h
// where the CPU has it: padded groups of 16 and the 4-row and 1-row cases with N = 75), of
// sequences and of tokens, on 1 and 2 threads: each number is ref::dot_int16's, bit for bit.
TEST(IntegerDotInt16, MulMatOfAnyColumnCountIsTheReferenceBitForBit) {
  std::mt19937 rng(9);
  const int64_t K = 32 * 7, N = 75;
  for (DType type : kInt8Types) {
    std::vector<uint8_t> w;
    for (int64_t r = 0; r < N; ++r) {
      const auto row = weight_row(type, K, rng);
      w.insert(w.end(), row.begin(), row.end());
    }
    const size_t rb = row_bytes(type, K);
    for (int64_t T = 1; T <= 70; ++T) {
      const auto xv = activations(K * T, rng);
      for (Columns columns : {Columns::SEQUENCES, Columns::TOKENS}) {
        const bool row_kernel = T <= (columns == Columns::TOKENS ? 8 : 64);
        if (!row_kernel && integer_gemm::columns_taken(type, T, columns == Columns::TOKENS) == 0) continue;  // F32 there
        for (int threads : {1, 2}) {
          Graph g;
          Tensor* x = g.input(DType::F32, {K, T}, "x");
          std::memcpy(x->data, xv.data(), xv.size() * sizeof(float));
          Tensor* y = mul_mat(g, g.leaf(type, {K, N}, w.data(), "w"), x, Products::INT16, columns);
          g.mark_output(y);
          Arena arena;
          execute(g, arena, ExecOptions{threads});
          const auto* yd = static_cast<const float*>(y->data);
          for (int64_t t = 0; t < T; ++t) {
            std::vector<BlockQ16A> q(K / 32);
            quantize_activations(xv.data() + t * K, K, q.data());
            for (int64_t r = 0; r < N; ++r) {
              ASSERT_EQ(yd[t * N + r], ref::dot_int16(type, w.data() + r * rb, q.data(), K))
                  << dtype_name(type) << " T " << T << " t " << t << " r " << r << " threads " << threads;
            }
          }
        }
      }
    }
  }
}

TEST(IntegerDotTypes, OnlyTheBlockTypesHaveKernelsAndProductsParse) {
  EXPECT_TRUE(has_integer_kernel(DType::Q4_0));
  EXPECT_TRUE(has_integer_kernel(DType::Q4_1));
  EXPECT_TRUE(has_integer_kernel(DType::Q8_0));
  for (DType t : {DType::F32, DType::F16, DType::Q4_K, DType::Q6_K}) EXPECT_FALSE(has_integer_kernel(t));
  BlockQ16A q[1] = {};
  const BlockQ16A* col = q;
  float out;
  const float row[32] = {};
  EXPECT_THROW(dot_integer_columns(DType::F32, row, &col, 1, 32, &out), Error);
  for (Products p : {Products::F32, Products::INT16, Products::INT8}) EXPECT_EQ(parse_products(products_name(p)), p);
  EXPECT_THROW(parse_products("int4"), Error);
}

const Case kCases[] = {{DType::Q4_0, 16}, {DType::Q4_1, 16}, {DType::Q8_0, 16},
                       {DType::Q4_0, 8},  {DType::Q4_1, 8},  {DType::Q8_0, 8}};
INSTANTIATE_TEST_SUITE_P(Types, IntegerDot, ::testing::ValuesIn(kCases), [](const auto& info) {
  return std::string(dtype_name(info.param.type)) + "_int" + std::to_string(info.param.bits);
});

}  // namespace
