// The KV cache's storage: rows read as zero until written (calloc, no up-front fill), a copy is a
// copy of the bytes, and bad sizes are refused.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/kv_cache.h"
#include "tensor/error.h"

using namespace kvlink;

namespace {

HParams small() {
  HParams hp;
  hp.n_layer = 3;
  hp.n_head_kv = 2;
  hp.head_dim = 8;
  return hp;
}

bool all_zero(const ZeroedBytes& b) { return std::all_of(b.data(), b.data() + b.size(), [](uint8_t x) { return x == 0; }); }

}  // namespace

TEST(KVCache, EveryLayerHasItsRowsAndReadsZeroUntilWritten) {
  const KVCache c = make_kv_cache(small(), 100, DType::F16);
  ASSERT_EQ(c.k.size(), 3u);
  ASSERT_EQ(c.v.size(), 3u);
  for (size_t l = 0; l < 3; ++l) {
    EXPECT_EQ(c.k[l].size(), 100u * 16 * 2);
    EXPECT_EQ(c.v[l].size(), 100u * 16 * 2);
    EXPECT_TRUE(all_zero(c.k[l]));
    EXPECT_TRUE(all_zero(c.v[l]));
    EXPECT_NE(c.k[l].data(), c.v[l].data());
  }
}

TEST(KVCache, CopiesAreDeepAndMovesKeepTheBytes) {
  KVCache a = make_kv_cache(small(), 10, DType::F32);
  a.k_row(1, 7)[3] = 42;
  KVCache b = a;  // bytes copied
  EXPECT_EQ(b.k_row(1, 7)[3], 42);
  EXPECT_NE(b.k[1].data(), a.k[1].data());
  b.k_row(1, 7)[3] = 9;
  EXPECT_EQ(a.k_row(1, 7)[3], 42);
  b = a;  // assignment copies too
  EXPECT_EQ(b.k_row(1, 7)[3], 42);
  KVCache c = std::move(a);
  EXPECT_EQ(c.k_row(1, 7)[3], 42);
}

TEST(KVCache, BadTypesAndSizesAreRefused) {
  EXPECT_THROW(make_kv_cache(small(), 0, DType::F16), Error);
  EXPECT_THROW(make_kv_cache(small(), -4, DType::F16), Error);
  EXPECT_THROW(make_kv_cache(small(), 4, DType::Q8_0), Error);
}
