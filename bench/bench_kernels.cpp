// Google Benchmark micro-benchmarks of the decode-time kernels at SmolLM2-135M's shapes: matvec of a
// quantised weight with an F32 vector (1 and 2 threads), and the integer products (int16 activation
// blocks, one thread) of a weight with 1 column (lone decoding) and 16 (batched decoding), reporting
// weight bytes read per second.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "tensor/integer_dot.h"
#include "tensor/quant.h"

namespace {

void BM_Matvec(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  for (auto& v : wf) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  const size_t rb = kvlink::row_bytes(type, cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) kvlink::quantize_row(type, wf.data() + r * cols, w.data() + r * rb, cols);
  for (auto _ : state) {
    kvlink::matvec(type, w.data(), rb, rows, cols, x.data(), y.data(), threads);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// The integer products of a whole weight (all rows in one call, one thread) with n_x columns.
void BM_IntegerTile(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1), n_x = state.range(2);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(cols * n_x));
  for (auto& v : wf) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  const size_t rb = kvlink::row_bytes(type, cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) kvlink::quantize_row(type, wf.data() + r * cols, w.data() + r * rb, cols);
  const int64_t n_blocks = cols / kvlink::kQK;
  std::vector<kvlink::BlockQ16A> q(static_cast<size_t>(n_blocks * n_x));
  std::vector<const kvlink::BlockQ16A*> xs(static_cast<size_t>(n_x));
  for (int64_t c = 0; c < n_x; ++c) {
    kvlink::quantize_activations(x.data() + c * cols, cols, q.data() + c * n_blocks);
    xs[static_cast<size_t>(c)] = q.data() + c * n_blocks;
  }
  std::vector<float> d(static_cast<size_t>(kvlink::column_scales_size(n_x, n_blocks))), s(d.size());
  kvlink::column_scales(xs.data(), n_x, n_blocks, d.data(), s.data());
  kvlink::ColumnScales scales{d.data(), s.data(), kvlink::column_scales_stride(n_x)};
  std::vector<int32_t> pairs(static_cast<size_t>(kvlink::column_pairs_size(n_x, n_blocks)));
  kvlink::column_pairs(xs.data(), n_x, n_blocks, pairs.data());
  scales.pairs = pairs.data();
  std::vector<float> y(static_cast<size_t>(rows * n_x));
  for (auto _ : state) {
    kvlink::dot_integer_tile(type, w.data(), rb, rows, xs.data(), scales, n_x, cols, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// rows x cols x columns: FFN gate/up (1536x576), FFN down (576x1536), output (49152x576), and a weight
// larger than the last-level cache (196608x576, the whole model's size in Q4_1); 1, 4, 16 and 32 columns.
void IntegerShapes(benchmark::internal::Benchmark* b) {
  for (int64_t n_x : {1, 4, 16, 32}) {
    for (auto [rows, cols] : {std::pair{1536, 576}, {576, 1536}, {49152, 576}, {196608, 576}}) b->Args({rows, cols, n_x});
  }
  b->UseRealTime();
}

// rows x cols x threads: attention Q/O (576x576), FFN gate/up (1536x576), FFN down (576x1536), output (49152x576).
void Shapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (auto [rows, cols] : {std::pair{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}}) b->Args({rows, cols, threads});
  }
  b->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Matvec, q4_1, kvlink::DType::Q4_1)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Matvec, q8_0, kvlink::DType::Q8_0)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Matvec, f16, kvlink::DType::F16)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_IntegerTile, q4_1, kvlink::DType::Q4_1)->Apply(IntegerShapes);
BENCHMARK_CAPTURE(BM_IntegerTile, q8_0, kvlink::DType::Q8_0)->Apply(IntegerShapes);

}  // namespace

BENCHMARK_MAIN();
