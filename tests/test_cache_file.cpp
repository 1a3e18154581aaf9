// Chunk cache files: values survive the round trip in every element type (exactly for F32, within the
// type's rounding otherwise); wrong magic, version, fingerprint, geometry, element type, size or
// checksum are each rejected with their reason; writes are atomic; keys address content.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "kvlink/cache/cache_file.h"
#include "tensor/error.h"
#include "tensor/quant.h"

using namespace kvlink;
namespace fs = std::filesystem;

namespace {

const CacheGeometry kGeo{3, 2, 32};  // width 64: two Q8_0/Q4_0 blocks per row
constexpr uint64_t kFingerprint = 0x1234abcd5678ef00ULL;

ChunkKV random_kv(int n_tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ChunkKV kv;
  for (int i = 0; i < n_tokens; ++i) kv.tokens.push_back(static_cast<TokenId>(rng() % 50000));
  for (int l = 0; l < kGeo.n_layer; ++l) {
    kv.k.emplace_back(static_cast<size_t>(n_tokens * kGeo.width()));
    kv.v.emplace_back(static_cast<size_t>(n_tokens * kGeo.width()));
    for (auto& x : kv.k.back()) x = normal(rng);
    for (auto& x : kv.v.back()) x = normal(rng);
  }
  return kv;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("kvlink-cache-" + std::to_string(::getpid()) + "-" + name)).string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::string open_error(const std::string& path, uint64_t fp = kFingerprint, CacheGeometry g = kGeo) {
  try {
    ChunkCacheFile::open(path, fp, g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class CacheRoundTrip : public ::testing::TestWithParam<DType> {};

TEST_P(CacheRoundTrip, RowsDecodeToWhatWasStored) {
  const DType type = GetParam();
  const ChunkKV kv = random_kv(17, 1);
  const std::string path = temp_path("rt.kvc");
  write_chunk_cache(path, kFingerprint, kGeo, type, kv);
  const ChunkCacheFile f = ChunkCacheFile::open(path, kFingerprint, kGeo);
  EXPECT_EQ(f.tokens(), kv.tokens);
  EXPECT_EQ(f.kv_type(), type);
  EXPECT_EQ(f.row_bytes(), row_bytes(type, kGeo.width()));
  std::vector<float> got(static_cast<size_t>(kGeo.width())), want(static_cast<size_t>(kGeo.width()));
  std::vector<uint8_t> q(f.row_bytes());
  for (int l = 0; l < kGeo.n_layer; ++l) {
    for (int t = 0; t < f.n_tokens(); ++t) {
      for (int which = 0; which < 2; ++which) {
        const float* src = (which ? kv.v : kv.k)[static_cast<size_t>(l)].data() + t * kGeo.width();
        const uint8_t* row = (which ? f.v_rows(l) : f.k_rows(l)) + static_cast<size_t>(t) * f.row_bytes();
        dequantize_row(type, row, got.data(), kGeo.width());
        // The file holds exactly quantize_row's output: decoding must give the same floats.
        quantize_row(type, src, q.data(), kGeo.width());
        dequantize_row(type, q.data(), want.data(), kGeo.width());
        EXPECT_EQ(got, want) << "layer " << l << " token " << t;
        if (type == DType::F32) {
          EXPECT_EQ(std::memcmp(got.data(), src, got.size() * 4), 0);
        }
      }
    }
  }
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Types, CacheRoundTrip, ::testing::Values(DType::F32, DType::F16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CacheFile, MismatchesAreRejectedWithTheirReason) {
  const std::string path = temp_path("bad.kvc");
  write_chunk_cache(path, kFingerprint, kGeo, DType::F16, random_kv(9, 2));
  const auto good = read_bytes(path);
  EXPECT_EQ(open_error(path), "");
  EXPECT_NE(open_error(path, kFingerprint + 1).find("fingerprint"), std::string::npos);
  EXPECT_NE(open_error(path, kFingerprint, CacheGeometry{4, 2, 32}).find("geometry"), std::string::npos);
  auto edited = [&](size_t at, uint8_t value) {
    auto b = good;
    b[at] = value;
    write_bytes(path, b);
    return open_error(path);
  };
  EXPECT_NE(edited(0, 'X').find("bad magic"), std::string::npos);
  EXPECT_NE(edited(4, 7).find("version 7"), std::string::npos);
  EXPECT_NE(edited(28, 12).find("element type"), std::string::npos);  // Q4_K is not a cache type
  EXPECT_NE(edited(good.size() / 2, static_cast<uint8_t>(good[good.size() / 2] ^ 1)).find("checksum"), std::string::npos);
  EXPECT_NE(edited(45, static_cast<uint8_t>(good[45] ^ 0x80)).find("checksum"), std::string::npos);  // a token id
  for (size_t cut : {size_t{0}, size_t{10}, size_t{47}, good.size() / 3, good.size() - 1}) {
    write_bytes(path, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
    EXPECT_NE(open_error(path), "") << "truncated to " << cut;
  }
  auto longer = good;
  longer.push_back(0);
  write_bytes(path, longer);
  EXPECT_NE(open_error(path).find("expected"), std::string::npos);
  fs::remove(path);
  EXPECT_NE(open_error(path).find("cannot open"), std::string::npos);
}

TEST(CacheFile, WritesAreAtomicAndCheckTheirInput) {
  const std::string path = temp_path("atomic.kvc");
  write_chunk_cache(path, kFingerprint, kGeo, DType::Q8_0, random_kv(3, 3));
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path())) {
    EXPECT_EQ(e.path().string().find(path + ".tmp"), std::string::npos);
  }
  EXPECT_THROW(write_chunk_cache("/nonexistent-dir/x.kvc", kFingerprint, kGeo, DType::F16, random_kv(3, 3)), Error);
  EXPECT_THROW(write_chunk_cache(path, kFingerprint, kGeo, DType::Q4_K, random_kv(3, 3)), Error);
  EXPECT_THROW(write_chunk_cache(path, kFingerprint, kGeo, DType::F16, ChunkKV{}), Error);
  ChunkKV short_rows = random_kv(3, 4);
  short_rows.v[1].pop_back();
  EXPECT_THROW(write_chunk_cache(path, kFingerprint, kGeo, DType::F16, short_rows), Error);
  EXPECT_EQ(open_error(path), "");  // the failed writes left the earlier file intact
  fs::remove(path);
}

TEST(CacheFile, KeysAddressModelVersionAndTokens) {
  const std::vector<TokenId> a = {1, 2, 3}, b = {1, 2, 4};
  EXPECT_EQ(chunk_cache_key(kFingerprint, a), chunk_cache_key(kFingerprint, a));
  EXPECT_NE(chunk_cache_key(kFingerprint, a), chunk_cache_key(kFingerprint, b));
  EXPECT_NE(chunk_cache_key(kFingerprint, a), chunk_cache_key(kFingerprint + 1, a));
  EXPECT_EQ(chunk_cache_key(kFingerprint, a).size(), 16u);
}

}  // namespace
