// Google Benchmark micro-benchmarks of the decode-time kernels at SmolLM2-135M's shapes: matvec of a
// quantised weight with an F32 vector (1 and 2 threads), reporting weight bytes read per second.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

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

}  // namespace

BENCHMARK_MAIN();
