// Each graph op against a plainly written reference over random data, through the graph executor,
// with 1 and 2 threads; plus the arena's reuse of memory between nodes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tensor/error.h"
#include "tensor/execute.h"
#include "tensor/f16.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "tensor/small_gemm.h"

using namespace kvlink;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Tensor* f32_input(Graph& g, const std::vector<float>& v, int64_t ne0, int64_t ne1, const char* name) {
  Tensor* t = g.input(DType::F32, {ne0, ne1}, name);
  std::copy(v.begin(), v.end(), static_cast<float*>(t->data));
  return t;
}

std::vector<float> run(Graph& g, Tensor* out, int n_threads) {
  Arena arena;
  g.mark_output(out);
  execute(g, arena, ExecOptions{n_threads});
  const float* p = static_cast<const float*>(out->data);
  return std::vector<float>(p, p + out->n_elements());
}

// Max |a - b| relative to max(1, max |b|): float32 kernels vs double references differ only by
// summation order and rounding, which this measures independently of the values' scale.
double max_rel_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 1.0, diff = 0.0;
  for (double x : b) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i]));
  return diff / scale;
}

class OpsTest : public ::testing::TestWithParam<int> {};  // parameter: thread count

TEST_P(OpsTest, RmsNormMatchesDefinition) {
  const int64_t n = 77, rows = 5;
  const auto x = random_floats(n * rows, 1), w = random_floats(n, 2);
  Graph g;
  Tensor* out = rms_norm(g, f32_input(g, x, n, rows, "x"), f32_input(g, w, n, 1, "w"), 1e-5f);
  const auto got = run(g, out, GetParam());
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    const double s = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i) want[r * n + i] = x[r * n + i] * s * w[i];
  }
  EXPECT_LT(max_rel_diff(got, want), 1e-6);
}

TEST_P(OpsTest, AddBroadcastsASingleRow) {
  const int64_t n = 33, rows = 4;
  const auto a = random_floats(n * rows, 3), b = random_floats(n, 4), c = random_floats(n * rows, 5);
  Graph g;
  Tensor* ta = f32_input(g, a, n, rows, "a");
  Tensor* out = add(g, add(g, ta, f32_input(g, b, n, 1, "b")), f32_input(g, c, n, rows, "c"));
  const auto got = run(g, out, GetParam());
  std::vector<double> want(a.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) want[r * n + i] = double(a[r * n + i]) + b[i] + c[r * n + i];
  EXPECT_LT(max_rel_diff(got, want), 1e-6);
}

TEST_P(OpsTest, SwigluIsSiluTimesUp) {
  const int64_t n = 40, rows = 3;
  const auto a = random_floats(n * rows, 6, 3.0f), b = random_floats(n * rows, 7);
  Graph g;
  Tensor* out = swiglu(g, f32_input(g, a, n, rows, "g"), f32_input(g, b, n, rows, "u"));
  const auto got = run(g, out, GetParam());
  std::vector<double> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] / (1.0 + std::exp(-double(a[i]))) * b[i];
  EXPECT_LT(max_rel_diff(got, want), 1e-6);
}

TEST_P(OpsTest, GetRowsDequantisesSelectedRows) {
  const int64_t n = 64, rows = 10;
  const auto w = random_floats(n * rows, 8);
  std::vector<uint8_t> q(row_bytes(DType::Q8_0, n) * rows);
  for (int64_t r = 0; r < rows; ++r) quantize_row(DType::Q8_0, w.data() + r * n, q.data() + r * row_bytes(DType::Q8_0, n), n);
  Graph g;
  Tensor* table = g.leaf(DType::Q8_0, {n, rows}, q.data(), "table");
  Tensor* ids = g.input(DType::I32, {3}, "ids");
  const int32_t pick[3] = {9, 0, 9};
  std::copy(pick, pick + 3, static_cast<int32_t*>(ids->data));
  const auto got = run(g, get_rows(g, table, ids), GetParam());
  std::vector<float> row(n);
  for (int i = 0; i < 3; ++i) {
    ref::dequantize_row(DType::Q8_0, q.data() + pick[i] * row_bytes(DType::Q8_0, n), row.data(), n);
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(got[i * n + j], row[j]);
  }
}

TEST(Ops, GetRowsRejectsIdsOutsideTheTable) {
  std::vector<float> w(8 * 4, 1.0f);
  Graph g;
  Tensor* ids = g.input(DType::I32, {1}, "ids");
  *static_cast<int32_t*>(ids->data) = 4;
  Tensor* out = get_rows(g, g.leaf(DType::F32, {8, 4}, w.data(), "t"), ids);
  g.mark_output(out);
  Arena arena;
  EXPECT_THROW(execute(g, arena, ExecOptions{1}), Error);
}

TEST_P(OpsTest, GetRowsReadsIdsPastTheTableFromTheExtension) {
  // An adapter's link-token rows (F16) after a quantised base vocabulary of 10 rows.
  const int64_t n = 64, rows = 10, ext_rows = 3;
  const auto w = random_floats(n * rows, 13), e = random_floats(n * ext_rows, 14);
  std::vector<uint8_t> q(row_bytes(DType::Q8_0, n) * rows), h(row_bytes(DType::F16, n) * ext_rows);
  for (int64_t r = 0; r < rows; ++r) quantize_row(DType::Q8_0, w.data() + r * n, q.data() + r * row_bytes(DType::Q8_0, n), n);
  for (int64_t r = 0; r < ext_rows; ++r) quantize_row(DType::F16, e.data() + r * n, h.data() + r * row_bytes(DType::F16, n), n);
  Graph g;
  Tensor* table = g.leaf(DType::Q8_0, {n, rows}, q.data(), "table");
  Tensor* ext = g.leaf(DType::F16, {n, ext_rows}, h.data(), "ext");
  const int32_t pick[5] = {12, 0, 9, 10, 11};
  Tensor* ids = g.input(DType::I32, {5}, "ids");
  std::copy(pick, pick + 5, static_cast<int32_t*>(ids->data));
  const auto got = run(g, get_rows(g, table, ids, ext), GetParam());
  std::vector<float> row(n);
  for (int i = 0; i < 5; ++i) {
    if (pick[i] < rows) {
      ref::dequantize_row(DType::Q8_0, q.data() + pick[i] * row_bytes(DType::Q8_0, n), row.data(), n);
    } else {
      ref::dequantize_row(DType::F16, h.data() + (pick[i] - rows) * row_bytes(DType::F16, n), row.data(), n);
    }
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(got[i * n + j], row[j]) << "id " << pick[i];
  }
}

TEST(Ops, GetRowsRejectsIdsPastTheExtension) {
  std::vector<float> w(8 * 4, 1.0f), e(8 * 2, 2.0f);
  Graph g;
  Tensor* ids = g.input(DType::I32, {1}, "ids");
  *static_cast<int32_t*>(ids->data) = 6;
  Tensor* out = get_rows(g, g.leaf(DType::F32, {8, 4}, w.data(), "t"), ids, g.leaf(DType::F32, {8, 2}, e.data(), "e"));
  g.mark_output(out);
  Arena arena;
  try {
    execute(g, arena, ExecOptions{1});
    ADD_FAILURE() << "id 6 of 4 + 2 rows was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("outside the vocabulary of 6"), std::string::npos) << err.what();
  }
  Graph g2;
  EXPECT_THROW(get_rows(g2, g2.leaf(DType::F32, {8, 4}, w.data(), "t"), g2.input(DType::I32, {1}, "ids"),
                        g2.leaf(DType::F32, {4, 4}, e.data(), "e")),
               Error);  // the extension's rows must have the table's length
}

// LoRA shapes (adapter.h): A [in, r] and B [r, out] with small or odd r, as F32 and F16, on both sides
// of the matvec/gemm switch. K = 3 and N = 3 exercise every vector kernel's scalar tail.
TEST_P(OpsTest, MulMatLowRankShapes) {
  for (DType type : {DType::F32, DType::F16}) {
    for (const auto& [K, N] : std::vector<std::pair<int64_t, int64_t>>{{64, 8}, {8, 96}, {96, 3}, {3, 64}, {16, 64}}) {
      for (const auto& [T, columns] : std::vector<std::pair<int64_t, Columns>>{
               {1, Columns::SEQUENCES}, {7, Columns::SEQUENCES}, {8, Columns::SEQUENCES}, {20, Columns::SEQUENCES},
               {20, Columns::TOKENS}, {50, Columns::TOKENS}}) {
        const auto wf = random_floats(static_cast<size_t>(K * N), 15), x = random_floats(static_cast<size_t>(K * T), 16);
        const size_t rb = row_bytes(type, K);
        std::vector<uint8_t> wq(rb * static_cast<size_t>(N));
        std::vector<float> wd(static_cast<size_t>(K * N));
        for (int64_t r = 0; r < N; ++r) {
          quantize_row(type, wf.data() + r * K, wq.data() + r * rb, K);
          ref::dequantize_row(type, wq.data() + r * rb, wd.data() + r * K, K);
        }
        Graph g;
        const auto got = run(g, mul_mat(g, g.leaf(type, {K, N}, wq.data(), "w"), f32_input(g, x, K, T, "x"), Products::F32, columns),
                             GetParam());
        std::vector<double> want(static_cast<size_t>(N * T));
        for (int64_t t = 0; t < T; ++t)
          for (int64_t r = 0; r < N; ++r) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += double(wd[r * K + k]) * x[t * K + k];
            want[t * N + r] = s;
          }
        // float32 accumulation over at most 96 terms, as MulMatTest.
        EXPECT_LT(max_rel_diff(got, want), 2e-5) << dtype_name(type) << " K " << K << " N " << N << " T " << T;
      }
    }
  }
}

// small_gemm's blocks at every edge (rows 1-9 by tokens 1-13, K with and without a tail of the 8- and
// 16-lane loops), with its AVX2 kernel and with the one this CPU takes (AVX-512 where it has it).
TEST(SmallGemm, MatchesTheDoubleProductAtEveryEdge) {
  for (bool wide : {false, true}) {
    for (int64_t K : {3, 8, 17, 96}) {
      for (int64_t rows = 1; rows <= 9; ++rows) {
        for (int64_t tokens = 1; tokens <= 13; ++tokens) {
          const auto w = random_floats(static_cast<size_t>(rows * K), 21), x = random_floats(static_cast<size_t>(tokens * K), 22);
          const int64_t ldy = rows + 2;
          std::vector<float> y(static_cast<size_t>(tokens * ldy), -7.0f);
          small_gemm(w.data(), rows, x.data(), tokens, K, y.data(), ldy, wide);
          for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < ldy; ++r) {
              const float got = y[static_cast<size_t>(t * ldy + r)];
              if (r >= rows) {
                EXPECT_EQ(got, -7.0f);  // outside the block: untouched
                continue;
              }
              double want = 0;
              for (int64_t k = 0; k < K; ++k) want += double(w[r * K + k]) * x[t * K + k];
              EXPECT_NEAR(got, want, 1e-5 * (1 + std::abs(want))) << "wide " << wide << " K " << K << " rows " << rows
                                                                  << " tokens " << tokens << " r " << r << " t " << t;
            }
          }
        }
      }
    }
  }
}

// Weight types x column counts on every side of the matvec / row kernel / small_gemm / sgemm
// switches (1, 2-64 columns of separate sequences; 2-8 tokens of one in the row kernel, 9-40 in
// small_gemm, 9-128 where it has AVX-512, more in sgemm), for both kinds of columns; T = 3 and 41
// leave the row kernel a short last group of four columns, N = 71 small_gemm a short last task (7
// rows) and block (3 rows).
class MulMatTest : public ::testing::TestWithParam<std::tuple<DType, int64_t, int, Columns>> {};

TEST_P(MulMatTest, MatchesDequantisedProduct) {
  const auto [type, T, threads, columns] = GetParam();
  const int64_t K = 96, N = 71;
  const auto wf = random_floats(K * N, 9), x = random_floats(K * T, 10);
  const size_t rb = row_bytes(type, K);
  std::vector<uint8_t> wq(rb * N);
  std::vector<float> wd(K * N);
  for (int64_t r = 0; r < N; ++r) {
    quantize_row(type, wf.data() + r * K, wq.data() + r * rb, K);
    ref::dequantize_row(type, wq.data() + r * rb, wd.data() + r * K, K);
  }
  Graph g;
  Tensor* out = mul_mat(g, g.leaf(type, {K, N}, wq.data(), "w"), f32_input(g, x, K, T, "x"), Products::F32, columns);
  const auto got = run(g, out, threads);
  std::vector<double> want(N * T);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < N; ++r) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(wd[r * K + k]) * x[t * K + k];
      want[t * N + r] = s;
    }
  // The product of dequantised weights is exact up to float32 accumulation over K = 96 terms.
  EXPECT_LT(max_rel_diff(got, want), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Types, MulMatTest,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_1),
                                            ::testing::Values<int64_t>(1, 2, 3, 8, 9, 40, 41, 70, 130), ::testing::Values(1, 2),
                                            ::testing::Values(Columns::SEQUENCES, Columns::TOKENS)));

// Batched decoding gives each sequence the numbers it gets alone (batch_decode.h): a column of a
// product of up to 64 columns is bit-identical to the same column multiplied alone.
TEST_P(OpsTest, MulMatColumnIsTheSameInAnyBatch) {
  const int64_t K = 96, N = 37;
  for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_1}) {
    const auto wf = random_floats(K * N, 21);
    const size_t rb = row_bytes(type, K);
    std::vector<uint8_t> wq(rb * N);
    for (int64_t r = 0; r < N; ++r) quantize_row(type, wf.data() + r * K, wq.data() + r * rb, K);
    for (int64_t T : {2, 5, 16, 64}) {
      const auto x = random_floats(K * T, 22);
      Graph g;
      const auto batch = run(g, mul_mat(g, g.leaf(type, {K, N}, wq.data(), "w"), f32_input(g, x, K, T, "x")), GetParam());
      for (int64_t t = 0; t < T; ++t) {
        Graph g1;
        const std::vector<float> xt(x.begin() + t * K, x.begin() + (t + 1) * K);
        const auto alone = run(g1, mul_mat(g1, g1.leaf(type, {K, N}, wq.data(), "w"), f32_input(g1, xt, K, 1, "x")), GetParam());
        for (int64_t r = 0; r < N; ++r) ASSERT_EQ(batch[t * N + r], alone[r]) << dtype_name(type) << " T " << T << " t " << t << " r " << r;
      }
    }
  }
}

// The same for attention: five sequences in one cache, one query each (q_first), against each query
// alone over its own rows.
TEST_P(OpsTest, AttentionOfASequenceIsTheSameInAnyBatch) {
  const int32_t hd = 16, n_head = 6, n_head_kv = 2, kv_width = hd * n_head_kv;
  const std::vector<int32_t> first = {0, 40, 47, 150, 151}, last = {39, 46, 149, 150, 230};
  const int32_t n_rows = 231, n_seq = 5;
  const auto kf = random_floats(size_t(kv_width) * n_rows, 23), vf = random_floats(size_t(kv_width) * n_rows, 24);
  const auto q = random_floats(size_t(hd) * n_head * n_seq, 25);
  const size_t rb = row_bytes(DType::F16, kv_width);
  std::vector<uint8_t> kc(rb * n_rows), vc(rb * n_rows);
  for (int32_t j = 0; j < n_rows; ++j) {
    quantize_row(DType::F16, kf.data() + j * kv_width, kc.data() + j * rb, kv_width);
    quantize_row(DType::F16, vf.data() + j * kv_width, vc.data() + j * rb, kv_width);
  }
  AttentionParams p;
  p.head_dim = hd;
  p.n_head = n_head;
  p.n_head_kv = n_head_kv;
  p.scale = 0.25f;
  Graph g;
  KeyVisibility vis;
  vis.n_kv = n_rows;
  vis.causal = false;
  vis.last_row = g.input(DType::I32, {n_seq}, "rows");
  vis.first_row = g.input(DType::I32, {n_seq}, "first");
  std::copy(last.begin(), last.end(), static_cast<int32_t*>(vis.last_row->data));
  std::copy(first.begin(), first.end(), static_cast<int32_t*>(vis.first_row->data));
  const auto batch = run(g, attention(g, f32_input(g, q, hd * n_head, n_seq, "q"), g.leaf(DType::F16, {kv_width, n_rows}, kc.data(), "k"),
                                      g.leaf(DType::F16, {kv_width, n_rows}, vc.data(), "v"), p, vis),
                         GetParam());
  for (int32_t t = 0; t < n_seq; ++t) {
    const int32_t n = last[size_t(t)] - first[size_t(t)] + 1;
    KeyVisibility va;
    va.n_kv = n;
    va.q_pos0 = n - 1;
    Graph g1;
    const std::vector<float> qt(q.begin() + size_t(t) * hd * n_head, q.begin() + size_t(t + 1) * hd * n_head);
    const auto alone = run(g1, attention(g1, f32_input(g1, qt, hd * n_head, 1, "q"),
                                         g1.leaf(DType::F16, {kv_width, n}, kc.data() + size_t(first[size_t(t)]) * rb, "k"),
                                         g1.leaf(DType::F16, {kv_width, n}, vc.data() + size_t(first[size_t(t)]) * rb, "v"), p, va),
                           GetParam());
    for (int32_t e = 0; e < hd * n_head; ++e) ASSERT_EQ(batch[size_t(t) * hd * n_head + e], alone[size_t(e)]) << "sequence " << t << " element " << e;
  }
}

TEST_P(OpsTest, RopeRotatesPairsByPositionTimesFrequency) {
  for (RopeMode mode : {RopeMode::NORM, RopeMode::NEOX}) {
    const int32_t head_dim = 16, n_head = 3, n_rot = 12, T = 5;
    const auto x = random_floats(head_dim * n_head * T, 11);
    const std::vector<float> factors = {1, 1, 2, 4, 8, 1};
    const std::vector<int32_t> positions = {0, 1, 7, 300, 4095};
    Graph g;
    Tensor* pos = g.input(DType::I32, {T}, "pos");
    std::copy(positions.begin(), positions.end(), static_cast<int32_t*>(pos->data));
    RopeParams p;
    p.mode = mode;
    p.n_rot = n_rot;
    p.freq_base = 10000.0f;
    p.freq_scale = 0.5f;
    Tensor* ff = f32_input(g, factors, n_rot / 2, 1, "ff");
    const auto got = run(g, rope(g, f32_input(g, x, head_dim * n_head, T, "x"), pos, head_dim, p, ff), GetParam());
    std::vector<double> want(x.begin(), x.end());
    for (int32_t t = 0; t < T; ++t)
      for (int32_t h = 0; h < n_head; ++h)
        for (int32_t i = 0; i < n_rot / 2; ++i) {
          const double theta = positions[t] * 0.5 * std::pow(10000.0, -2.0 * i / n_rot) / factors[i];
          const int64_t base = (int64_t(t) * n_head + h) * head_dim;
          const int64_t i0 = base + (mode == RopeMode::NEOX ? i : 2 * i);
          const int64_t i1 = base + (mode == RopeMode::NEOX ? i + n_rot / 2 : 2 * i + 1);
          want[i0] = x[i0] * std::cos(theta) - x[i1] * std::sin(theta);
          want[i1] = x[i0] * std::sin(theta) + x[i1] * std::cos(theta);
        }
    EXPECT_LT(max_rel_diff(got, want), 1e-6) << "mode " << int(mode);
  }
}

TEST(Ops, RopeComposes) {
  // R(a) R(b) = R(a + b): what lets a cached key be moved from local to global position.
  const int32_t head_dim = 64, T = 4;
  const auto x = random_floats(head_dim * T, 12);
  RopeParams p;
  p.n_rot = head_dim;
  p.freq_base = 100000.0f;
  auto positions = [](Graph& g, std::vector<int32_t> v) {
    Tensor* t = g.input(DType::I32, {int64_t(v.size())}, "pos");
    std::copy(v.begin(), v.end(), static_cast<int32_t*>(t->data));
    return t;
  };
  Graph g;
  Tensor* xin = f32_input(g, x, head_dim, T, "x");
  Tensor* two_step = rope(g, rope(g, xin, positions(g, {0, 3, 10, 500}), head_dim, p, nullptr),
                          positions(g, {1000, 1000, 1000, 1000}), head_dim, p, nullptr);
  Tensor* one_step = rope(g, xin, positions(g, {1000, 1003, 1010, 1500}), head_dim, p, nullptr);
  g.mark_output(two_step);
  g.mark_output(one_step);
  Arena arena;
  execute(g, arena, ExecOptions{1});
  const float* a = static_cast<const float*>(two_step->data);
  const float* b = static_cast<const float*>(one_step->data);
  for (int64_t i = 0; i < head_dim * T; ++i) EXPECT_NEAR(a[i], b[i], 1e-5f) << i;
}

struct AttnCase {
  int32_t n_q, q_pos0, n_head, n_head_kv;
  bool causal, with_mask;
  DType cache_type;
  bool explicit_rows = false;  // query t at cache row rows[t] (increasing, up to n_kv - 1), sees rows <= it
};

class AttentionTest : public ::testing::TestWithParam<std::tuple<AttnCase, int>> {};

TEST_P(AttentionTest, MatchesSoftmaxReference) {
  const auto [c, threads] = GetParam();
  const int32_t hd = 16, n_kv = c.q_pos0 + c.n_q, n_ctx = n_kv + 3;
  const int32_t kv_width = hd * c.n_head_kv;
  const auto q = random_floats(size_t(hd) * c.n_head * c.n_q, 13);
  const auto kf = random_floats(size_t(kv_width) * n_ctx, 14), vf = random_floats(size_t(kv_width) * n_ctx, 15);
  // The cache holds what the reference reads: values rounded through the cache's type.
  const size_t rb = row_bytes(c.cache_type, kv_width);
  std::vector<uint8_t> kc(rb * n_ctx), vc(rb * n_ctx);
  std::vector<float> kr(kf.size()), vr(vf.size());
  for (int32_t j = 0; j < n_ctx; ++j) {
    quantize_row(c.cache_type, kf.data() + j * kv_width, kc.data() + j * rb, kv_width);
    quantize_row(c.cache_type, vf.data() + j * kv_width, vc.data() + j * rb, kv_width);
    ref::dequantize_row(c.cache_type, kc.data() + j * rb, kr.data() + j * kv_width, kv_width);
    ref::dequantize_row(c.cache_type, vc.data() + j * rb, vr.data() + j * kv_width, kv_width);
  }
  std::vector<float> mask;
  std::mt19937 rng(16);
  if (c.with_mask) {
    mask.resize(size_t(n_kv) * c.n_q);
    for (float& m : mask) m = (rng() % 3 == 0) ? -std::numeric_limits<float>::infinity() : 0.0f;
  }
  Graph g;
  AttentionParams p;
  p.head_dim = hd;
  p.n_head = c.n_head;
  p.n_head_kv = c.n_head_kv;
  p.scale = 0.25f;
  KeyVisibility vis;
  vis.n_kv = n_kv;
  vis.q_pos0 = c.q_pos0;
  vis.causal = c.causal;
  vis.mask = c.with_mask ? f32_input(g, mask, n_kv, c.n_q, "mask") : nullptr;
  std::vector<int32_t> rows(static_cast<size_t>(c.n_q));
  for (int32_t t = 0; t < c.n_q; ++t) rows[size_t(t)] = c.n_q == 1 ? n_kv - 1 : int32_t(int64_t(t) * (n_kv - 1) / (c.n_q - 1));
  if (c.explicit_rows) {
    vis.last_row = g.input(DType::I32, {c.n_q}, "rows");
    std::copy(rows.begin(), rows.end(), static_cast<int32_t*>(vis.last_row->data));
  }
  Tensor* out = attention(g, f32_input(g, q, hd * c.n_head, c.n_q, "q"), g.leaf(c.cache_type, {kv_width, n_ctx}, kc.data(), "k"),
                          g.leaf(c.cache_type, {kv_width, n_ctx}, vc.data(), "v"), p, vis);
  const auto got = run(g, out, threads);

  std::vector<double> want(got.size(), 0.0);
  const int32_t group = c.n_head / c.n_head_kv;
  for (int32_t t = 0; t < c.n_q; ++t)
    for (int32_t h = 0; h < c.n_head; ++h) {
      const int32_t kvh = h / group;
      std::vector<double> s(n_kv, -INFINITY);
      double mx = -INFINITY;
      for (int32_t j = 0; j < n_kv; ++j) {
        if (c.causal && j > c.q_pos0 + t) continue;
        if (c.explicit_rows && j > rows[size_t(t)]) continue;
        if (c.with_mask && std::isinf(mask[size_t(t) * n_kv + j])) continue;
        double d = 0;
        for (int32_t e = 0; e < hd; ++e) d += double(q[(size_t(t) * c.n_head + h) * hd + e]) * kr[size_t(j) * kv_width + kvh * hd + e];
        s[j] = d * 0.25;
        mx = std::max(mx, s[j]);
      }
      if (std::isinf(mx)) continue;  // no visible key: the kernel outputs zeros
      double sum = 0;
      for (double& v : s) sum += (v = std::isinf(v) ? 0.0 : std::exp(v - mx));
      for (int32_t j = 0; j < n_kv; ++j)
        for (int32_t e = 0; e < hd; ++e) want[(size_t(t) * c.n_head + h) * hd + e] += s[j] / sum * vr[size_t(j) * kv_width + kvh * hd + e];
    }
  EXPECT_LT(max_rel_diff(got, want), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Combine(::testing::Values(AttnCase{1, 0, 4, 2, true, false, DType::F32},     // decode, first token
                                         AttnCase{1, 37, 4, 2, true, false, DType::F16},    // decode with history
                                         AttnCase{1, 37, 4, 1, true, false, DType::F16},    // one kv head of 4 q heads
                                         AttnCase{3, 20, 6, 3, true, true, DType::F16},     // few queries + mask
                                         AttnCase{40, 0, 4, 4, true, false, DType::F32},    // prefill
                                         AttnCase{300, 10, 4, 1, true, false, DType::F16},  // crosses the 256-query block
                                         AttnCase{50, 30, 4, 2, false, true, DType::F32},   // mask only
                                         AttnCase{33, 5, 2, 2, true, true, DType::F16},
                                         AttnCase{100, 900, 6, 3, true, false, DType::F16},  // many key tiles
                                         AttnCase{5, 300, 4, 2, false, false, DType::F16, true},  // scattered, few
                                         AttnCase{70, 600, 6, 2, false, true, DType::F32, true},  // scattered + mask
                                         AttnCase{130, 700, 9, 3, false, false, DType::F16, true}),
                       ::testing::Values(1, 2)));

TEST(Arena, ReusesRegionsOfDeadNodes) {
  // A chain of 20 adds: each result is dead after the next node, so the plan needs ~2 buffers, not 20.
  const int64_t n = 1024;
  const auto x = random_floats(n, 17);
  Graph g;
  Tensor* t = f32_input(g, x, n, 1, "x");
  for (int i = 0; i < 20; ++i) t = add(g, t, t);
  g.mark_output(t);
  Arena arena;
  execute(g, arena, ExecOptions{1});
  EXPECT_LE(arena.peak_plan_bytes(), 3 * n * sizeof(float));
  const float* out = static_cast<const float*>(t->data);
  for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(out[i], x[i] * 1048576.0f);
}

TEST(Arena, OutputsSurviveLaterNodes) {
  const int64_t n = 256;
  const auto x = random_floats(n, 18);
  Graph g;
  Tensor* in = f32_input(g, x, n, 1, "x");
  Tensor* first = add(g, in, in);
  g.mark_output(first);
  Tensor* t = first;
  for (int i = 0; i < 5; ++i) t = add(g, t, in);
  g.mark_output(t);
  Arena arena;
  execute(g, arena, ExecOptions{1});
  const float* f = static_cast<const float*>(first->data);
  for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(f[i], 2 * x[i]);
}

TEST(Ops, ShapeErrorsAreReported) {
  std::vector<float> a(12, 0.0f);
  Graph g;
  Tensor* x = g.leaf(DType::F32, {4, 3}, a.data(), "x");
  Tensor* w = g.leaf(DType::F32, {3, 4}, a.data(), "w");
  EXPECT_THROW(mul_mat(g, w, x), Error);
  EXPECT_THROW(add(g, x, w), Error);
}

INSTANTIATE_TEST_SUITE_P(Threads, OpsTest, ::testing::Values(1, 2));

}  // namespace
