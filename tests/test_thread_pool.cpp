// Thread pool tests (tensor/thread_pool.h): every item runs exactly once for any size, grain and
// thread count; worker indices stay below the thread count and are never shared by two threads at
// once (per-thread scratch depends on it); a chunk's exception reaches the caller and the pool keeps
// working; loops started inside a chunk or from several threads at once complete; a kernel's result
// does not depend on the thread count. Timing is the benchmarks' business (bench/peer), not this file's.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tensor/quant.h"
#include "tensor/thread_pool.h"

namespace kvlink {
namespace {

struct Case {
  int threads;
  int64_t n, grain;
};

TEST(ThreadPool, EveryItemOnceWithValidWorkers) {
  const Case cases[] = {{1, 1000, 7}, {2, 1, 1}, {2, 0, 4}, {2, 16, 16}, {2, 17, 16}, {3, 1000, 1},
                        {4, 12345, 64}, {8, 100, 3}, {2, 5, 0}, {4, 3000000, 1}};
  for (const Case& c : cases) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(c.n));
    std::vector<std::atomic<int>> busy(static_cast<size_t>(c.threads));
    std::atomic<bool> bad_worker{false}, shared_worker{false};
    parallel_for(c.threads, c.n, c.grain, [&](int64_t b, int64_t e, int w) {
      if (w < 0 || w >= c.threads) {
        bad_worker = true;
        return;
      }
      if (busy[static_cast<size_t>(w)].fetch_add(1) != 0) shared_worker = true;
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      busy[static_cast<size_t>(w)].fetch_sub(1);
    });
    EXPECT_FALSE(bad_worker) << c.threads << " threads";
    EXPECT_FALSE(shared_worker) << c.threads << " threads";
    int64_t wrong = 0;
    for (auto& h : hits) wrong += h.load() != 1;
    EXPECT_EQ(wrong, 0) << "n " << c.n << " grain " << c.grain << " threads " << c.threads;
  }
}

TEST(ThreadPool, ChunkExceptionReachesCallerAndPoolRecovers) {
  EXPECT_THROW(parallel_for_each(2, 1000, 1,
                                 [](int64_t i, int) {
                                   if (i == 537) throw std::runtime_error("chunk 537");
                                 }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  parallel_for_each(2, 1000, 1, [&](int64_t i, int) { sum += i; });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

TEST(ThreadPool, NestedLoopRunsInsideTheChunk) {
  std::atomic<int64_t> sum{0};
  parallel_for_each(2, 64, 1, [&](int64_t i, int) {
    parallel_for_each(2, 100, 1, [&](int64_t j, int w) {
      EXPECT_EQ(w, 0);  // serial on the chunk's thread
      sum += i * 100 + j;
    });
  });
  EXPECT_EQ(sum.load(), 6400 * 6399 / 2);
}

TEST(ThreadPool, LoopsFromSeveralThreadsAtOnce) {
  constexpr int kCallers = 4;
  std::vector<int64_t> sums(kCallers, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&sums, c] {
      for (int round = 0; round < 200; ++round) {
        std::atomic<int64_t> s{0};
        parallel_for_each(2, 500, 8, [&](int64_t i, int) { s += i; });
        sums[static_cast<size_t>(c)] += s.load();
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int64_t s : sums) EXPECT_EQ(s, 200 * (499 * 500 / 2));
}

TEST(ThreadPool, MatvecIsIdenticalForEveryThreadCount) {
  constexpr int64_t kRows = 700, kCols = 256;
  std::vector<float> w(static_cast<size_t>(kRows * kCols)), x(static_cast<size_t>(kCols));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 104729) % 1000) / 250.0f - 2.0f;
  std::vector<uint8_t> q(row_bytes(DType::Q4_1, kCols) * kRows);
  for (int64_t r = 0; r < kRows; ++r) {
    quantize_row(DType::Q4_1, w.data() + r * kCols, q.data() + r * row_bytes(DType::Q4_1, kCols), kCols);
  }
  std::vector<float> y1(kRows), yn(kRows);
  matvec(DType::Q4_1, q.data(), row_bytes(DType::Q4_1, kCols), kRows, kCols, x.data(), y1.data(), 1);
  for (int threads : {2, 3, 8}) {
    matvec(DType::Q4_1, q.data(), row_bytes(DType::Q4_1, kCols), kRows, kCols, x.data(), yn.data(), threads);
    EXPECT_EQ(y1, yn) << threads << " threads";
  }
}

}  // namespace
}  // namespace kvlink
