// tensor/blas.h: sgemm against a direct triple loop in both layouts of B, products from several
// threads at once against the same products alone, and the kernel set chosen
// for this CPU (OpenBLAS 0.3.21 falls back to SSE3 "Prescott" kernels on CPUs it does not know, which
// multiplied 3.8x slower on this project's machine; blas.cpp asks for the widest set the CPU runs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tensor/blas.h"

namespace kvlink {
namespace {

// Read before any test loads OpenBLAS (loading sets the variable when the caller did not).
const bool kCallerSetCoreType = std::getenv("OPENBLAS_CORETYPE") != nullptr;

std::vector<float> random_matrix(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(Blas, SgemmMatchesDirectProduct) {
  for (bool trans_b : {false, true}) {
    const int m = 37, n = 29, k = 70;
    const auto a = random_matrix(size_t(m) * k, 1), b = random_matrix(size_t(n) * k, 2);
    auto c = random_matrix(size_t(m) * n, 3);
    const auto c0 = c;
    const int ldb = trans_b ? k : n;
    sgemm(trans_b, m, n, k, 0.5f, a.data(), k, b.data(), ldb, 2.0f, c.data(), n);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double want = 2.0 * c0[size_t(i) * n + j];
        for (int p = 0; p < k; ++p) {
          const float bv = trans_b ? b[size_t(j) * k + p] : b[size_t(p) * n + j];
          want += 0.5 * double(a[size_t(i) * k + p]) * bv;
        }
        ASSERT_NEAR(c[size_t(i) * n + j], want, 1e-4) << "trans_b " << trans_b << " at " << i << "," << j;
      }
    }
  }
}

// The pool's threads multiply at the same time (tensor/matmul.cpp, attention.cpp): every product
// must come out as it does alone. OpenBLAS's serial build shares unlocked work buffers and fails this.
TEST(Blas, ConcurrentProductsEqualProductsAlone) {
  constexpr int kTasks = 16, m = 512, n = 128, k = 576;
  const auto a = random_matrix(size_t(m) * k * kTasks, 4), b = random_matrix(size_t(n) * k, 5);
  std::vector<float> alone(size_t(m) * n * kTasks), together(alone.size());
  auto product = [&](std::vector<float>& c, int64_t t) {
    sgemm(true, m, n, k, 1.0f, a.data() + size_t(t) * m * k, k, b.data(), k, 0.0f, c.data() + size_t(t) * m * n, n);
  };
  for (int64_t t = 0; t < kTasks; ++t) product(alone, t);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th) {
      threads.emplace_back([&, th] {
        for (int64_t t = th; t < kTasks; t += 4) product(together, t);
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(alone, together) << "round " << round;
  }
}

TEST(Blas, KernelSetFitsTheCpu) {
  if (kCallerSetCoreType) GTEST_SKIP() << "OPENBLAS_CORETYPE set by the caller";
  const std::string core = blas_core_name();
  EXPECT_FALSE(core.empty());
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(core, "Prescott") << "an AVX2 CPU runs OpenBLAS's SSE3 kernels";
    EXPECT_NE(core, "Core2");
  }
#endif
}

}  // namespace
}  // namespace kvlink
