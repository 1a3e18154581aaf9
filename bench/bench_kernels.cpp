// Google Benchmark micro-benchmarks of the decode-time kernels at SmolLM2-135M's shapes: matvec of a
// quantised weight with an F32 vector (1 and 2 threads), the integer products (int16 activation
// blocks, one thread) of a weight with 1 column (lone decoding) and 16 (batched decoding), reporting
// weight bytes read per second, the F32 products of 12-32 columns through the row kernel and the
// lane kernel (one thread), a prefill's products of a weight with 64-512 tokens through MUL_MAT (int16
// against f32 products, one thread), and batched decode attention over an F16 cache (cache bytes per
// second).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "tensor/arena.h"
#include "tensor/execute.h"
#include "tensor/float_lanes.h"
#include "tensor/graph.h"
#include "tensor/integer_dot.h"
#include "tensor/integer_gemm.h"
#include "tensor/ops.h"
#include "tensor/quant.h"

namespace {

// rows x cols random normal values, each row quantised to `type`: a weight, or a KV cache (F16).
std::vector<uint8_t> random_rows(kvlink::DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t rb = kvlink::row_bytes(type, cols);
  std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& x : row) x = normal(rng);
    kvlink::quantize_row(type, row.data(), out.data() + r * rb, cols);
  }
  return out;
}

// A product's operands: a random weight of rows x cols quantised to `type`, and n_x random columns.
struct Operands {
  std::vector<uint8_t> w;
  size_t rb = 0;  // bytes per weight row
  std::vector<float> x;
};

Operands random_operands(kvlink::DType type, int64_t rows, int64_t cols, int64_t n_x) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Operands o{random_rows(type, rows, cols, rng), kvlink::row_bytes(type, cols), std::vector<float>(static_cast<size_t>(cols * n_x))};
  for (auto& v : o.x) v = normal(rng);
  return o;
}

void BM_Matvec(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const auto [w, rb, x] = random_operands(type, rows, cols, 1);
  std::vector<float> y(static_cast<size_t>(rows));
  for (auto _ : state) {
    kvlink::matvec(type, w.data(), rb, rows, cols, x.data(), y.data(), threads);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// The int16 products of a whole weight with n_x columns of separate sequences, one thread: the row
// kernel (gemm 0: dot_integer_tile over all rows, the columns quantised beforehand) or MUL_MAT (gemm
// 1: quantising in each run, and the int16 kernel of integer_gemm.h for the columns columns_taken
// gives it). Bytes of weight per second.
void BM_IntegerTile(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1), n_x = state.range(2);
  const bool gemm = state.range(3) != 0;
  const auto [w, rb, x] = random_operands(type, rows, cols, n_x);
  const int64_t n_blocks = cols / kvlink::kQK;
  std::vector<kvlink::BlockQ16A> q(static_cast<size_t>(n_blocks * n_x));
  std::vector<const kvlink::BlockQ16A*> xs(static_cast<size_t>(n_x));
  for (int64_t c = 0; c < n_x; ++c) {
    kvlink::quantize_activations(x.data() + c * cols, cols, q.data() + c * n_blocks);
    xs[static_cast<size_t>(c)] = q.data() + c * n_blocks;
  }
  kvlink::Graph g;
  kvlink::Tensor* xt = g.input(kvlink::DType::F32, {cols, n_x}, "x");
  std::copy(x.begin(), x.end(), static_cast<float*>(xt->data));
  g.mark_output(kvlink::mul_mat(g, g.leaf(type, {cols, rows}, w.data(), "w"), xt, kvlink::Products::INT16,
                                kvlink::Columns::SEQUENCES));
  kvlink::Arena arena;
  std::vector<float> y(static_cast<size_t>(rows * n_x));
  for (auto _ : state) {
    if (gemm) {
      kvlink::execute(g, arena, kvlink::ExecOptions{1});
    } else {
      kvlink::dot_integer_tile(type, w.data(), rb, rows, xs.data(), n_x, cols, y.data(), rows);
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// The F32 products (--products f32) of a whole weight with n_x columns, one thread: through the row
// kernel's groups of 4 (lanes 0) or the 16-lane kernel (lanes 1, the columns laid out in the loop).
void BM_F32Columns(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1), n_x = state.range(2);
  const bool lanes = state.range(3) != 0;
  if (lanes && kvlink::float_lanes::lane_columns(type, n_x) != n_x) {
    state.SkipWithError("no lane kernel for these columns on this CPU");
    return;
  }
  const auto [w, rb, x] = random_operands(type, rows, cols, n_x);
  std::vector<const float*> xs(static_cast<size_t>(n_x));
  for (int64_t c = 0; c < n_x; ++c) xs[static_cast<size_t>(c)] = x.data() + c * cols;
  std::vector<float> laid(kvlink::float_lanes::layout_floats(n_x, cols)), y(static_cast<size_t>(rows * n_x));
  for (auto _ : state) {
    if (lanes) {
      kvlink::float_lanes::lay_out(xs.data(), n_x, cols, laid.data());
      kvlink::float_lanes::dot_tile16(type, w.data(), rb, rows, laid.data(), n_x, cols, y.data(), rows);
    } else {
      for (int64_t r = 0; r < rows; ++r) kvlink::dot_row_columns(type, w.data() + r * rb, xs.data(), n_x, cols, y.data() + r * n_x);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// A prefill's products of a whole weight with n_t tokens of one sequence through MUL_MAT, one thread:
// int16 products (1: the int16 prefill kernel, the tokens laid out in each run) or f32 ones (0:
// dequantised weight tiles through small_gemm up to 128 tokens, sgemm beyond). Multiply-adds per second.
void BM_PrefillProducts(benchmark::State& state, kvlink::DType type) {
  const int64_t rows = state.range(0), cols = state.range(1), n_t = state.range(2);
  const bool int16 = state.range(3) != 0;
  if (int16 && !kvlink::integer_gemm::takes_prefill(type)) {
    state.SkipWithError("no int16 prefill kernel on this CPU");
    return;
  }
  const auto [w, rb, x] = random_operands(type, rows, cols, n_t);
  kvlink::Graph g;
  kvlink::Tensor* xt = g.input(kvlink::DType::F32, {cols, n_t}, "x");
  std::copy(x.begin(), x.end(), static_cast<float*>(xt->data));
  const auto products = int16 ? kvlink::Products::INT16 : kvlink::Products::F32;
  g.mark_output(kvlink::mul_mat(g, g.leaf(type, {cols, rows}, w.data(), "w"), xt, products, kvlink::Columns::TOKENS));
  kvlink::Arena arena;
  for (auto _ : state) kvlink::execute(g, arena, kvlink::ExecOptions{1});
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * n_t), benchmark::Counter::kIsIterationInvariantRate);
}

// Batched decode attention as one layer of a batched step runs it: n_seq queries (9 q heads, 3 kv
// heads of 64), each over its own n_keys rows of an F16 cache in slots of 2,048 rows; n_seq = 1 is a
// lone sequence's decoding. Eight layers' caches (32 for fewer than 8 sequences) are taken in turn,
// so that the rows come from memory as in a forward pass, not from the last-level cache. With
// `contexts` > 0 the sequences share that many slots (sequence s reads slot s % contexts): what
// attention would cost if sequences over the same documents read one copy of their rows.
void BM_DecodeAttention(benchmark::State& state) {
  const int64_t n_seq = state.range(0), n_keys = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const int64_t contexts = state.range(3);
  constexpr int32_t hd = 64, n_head = 9, n_head_kv = 3, kv_width = hd * n_head_kv, slot = 2048;
  const int layers = n_seq >= 8 ? 8 : 32;
  const int64_t n_rows = n_seq * slot;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  kvlink::AttentionParams p;
  p.head_dim = hd;
  p.n_head = n_head;
  p.n_head_kv = n_head_kv;
  p.scale = 0.125f;
  std::vector<std::vector<uint8_t>> caches;  // k and v of each layer
  caches.reserve(2 * layers);
  std::vector<std::unique_ptr<kvlink::Graph>> graphs;
  for (int l = 0; l < layers; ++l) {
    caches.push_back(random_rows(kvlink::DType::F16, n_rows, kv_width, rng));
    caches.push_back(random_rows(kvlink::DType::F16, n_rows, kv_width, rng));
    auto g = std::make_unique<kvlink::Graph>();
    kvlink::Tensor* q = g->input(kvlink::DType::F32, {hd * n_head, n_seq}, "q");
    for (int64_t i = 0; i < hd * n_head * n_seq; ++i) static_cast<float*>(q->data)[i] = normal(rng);
    kvlink::KeyVisibility vis;
    vis.n_kv = static_cast<int32_t>(n_rows);
    vis.causal = false;
    vis.last_row = g->input(kvlink::DType::I32, {n_seq}, "rows");
    vis.first_row = g->input(kvlink::DType::I32, {n_seq}, "first");
    for (int64_t s = 0; s < n_seq; ++s) {
      const int64_t first = (contexts > 0 ? s % contexts : s) * slot;
      static_cast<int32_t*>(vis.first_row->data)[s] = static_cast<int32_t>(first);
      static_cast<int32_t*>(vis.last_row->data)[s] = static_cast<int32_t>(first + n_keys - 1);
    }
    kvlink::Tensor* k = g->leaf(kvlink::DType::F16, {kv_width, n_rows}, caches[2 * l].data(), "k");
    kvlink::Tensor* v = g->leaf(kvlink::DType::F16, {kv_width, n_rows}, caches[2 * l + 1].data(), "v");
    g->mark_output(kvlink::attention(*g, q, k, v, p, vis));
    graphs.push_back(std::move(g));
  }
  kvlink::Arena arena;
  int l = 0;
  for (auto _ : state) {
    kvlink::execute(*graphs[l], arena, kvlink::ExecOptions{threads});
    l = (l + 1) % layers;
  }
  const auto rb = static_cast<int64_t>(kvlink::row_bytes(kvlink::DType::F16, kv_width));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * n_seq * n_keys * rb);
}

// rows x cols x columns: FFN gate/up (1536x576), FFN down (576x1536), output (49152x576), and a weight
// larger than the last-level cache (196608x576, the whole model's size in Q4_1); 1-32 columns; row
// kernel or MUL_MAT.
void IntegerShapes(benchmark::internal::Benchmark* b) {
  for (int64_t n_x : {1, 2, 3, 4, 6, 8, 16, 32}) {
    for (auto [rows, cols] : {std::pair{1536, 576}, {576, 1536}, {49152, 576}, {196608, 576}}) {
      for (int64_t gemm : {0, 1}) b->Args({rows, cols, n_x, gemm});
    }
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
// rows x cols x columns x lane kernel: FFN gate/up and the output weight, 12, 16 and 32 columns
void F32Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t n_x : {12, 16, 32}) {
    for (auto [rows, cols] : {std::pair{1536, 576}, {49152, 576}}) {
      for (int64_t lanes : {0, 1}) b->Args({rows, cols, n_x, lanes});
    }
  }
  b->UseRealTime();
}
BENCHMARK_CAPTURE(BM_F32Columns, q4_1, kvlink::DType::Q4_1)->Apply(F32Shapes);
// rows x cols x tokens x int16: FFN gate/up and down, 64 and 512 tokens
void PrefillShapes(benchmark::internal::Benchmark* b) {
  for (int64_t n_t : {64, 512}) {
    for (auto [rows, cols] : {std::pair{1536, 576}, {576, 1536}}) {
      for (int64_t int16 : {0, 1}) b->Args({rows, cols, n_t, int16});
    }
  }
  b->UseRealTime();
}
BENCHMARK_CAPTURE(BM_PrefillProducts, q4_1, kvlink::DType::Q4_1)->Apply(PrefillShapes);
// sequences x keys x threads x shared slots (0: a slot each): a lone sequence, the evaluation's batch
// (16 x 1,500) and the server's (32 x 450; 32 x 800 with and without shared slots)
BENCHMARK(BM_DecodeAttention)->Args({1, 512, 1, 0})->Args({1, 512, 2, 0})->Args({1, 2048, 1, 0})->Args({1, 2048, 2, 0})->Args({16, 1500, 1, 0})->Args({16, 1500, 2, 0})->Args({32, 450, 2, 0})
    ->Args({32, 800, 2, 0})->Args({32, 800, 2, 10})->Args({32, 800, 2, 3})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
