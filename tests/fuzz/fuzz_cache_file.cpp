// The chunk cache file reader (header, geometry, element type, sizes, checksum) on mutated files;
// seeds: small caches of every element type. The checksum makes most mutations fail early, so half
// the inputs get their checksum recomputed and reach the checks behind it.
#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_target.h"
#include "kvlink/cache/cache_file.h"
#include "tensor/error.h"

namespace {
constexpr uint64_t kFingerprint = 0x1234abcd5678ef00ull;
const kvlink::CacheGeometry kGeometry{2, 1, 32};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() > 8 && (bytes.size() & 1)) {  // re-seal: a valid checksum over mutated contents
    const uint64_t h = XXH3_64bits(bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &h, 8);
  }
  const std::string path = kvlink::fuzz::as_file(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ".kvc");
  try {
    const kvlink::ChunkCacheFile f = kvlink::ChunkCacheFile::open(path, kFingerprint, kGeometry);
    volatile uint8_t sink = 0;
    for (int32_t l = 0; l < kGeometry.n_layer; ++l) {  // every row it promises is readable
      const size_t n = static_cast<size_t>(f.n_tokens()) * f.row_bytes();
      if (n) sink = static_cast<uint8_t>(sink + f.k_rows(l)[n - 1] + f.v_rows(l)[n - 1]);
    }
  } catch (const kvlink::Error&) {
  }
  return 0;
}

namespace kvlink::fuzz {
std::vector<std::string> seeds() {
  std::vector<std::string> out;
  const std::string path = as_file(nullptr, 0, ".seed.kvc");
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    ChunkKV kv;
    kv.tokens = {5, 6, 7};
    for (int l = 0; l < kGeometry.n_layer; ++l) {
      std::vector<float> rows(3 * 32);
      for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(i % 7) - 3.0f;
      kv.k.push_back(rows);
      kv.v.push_back(rows);
    }
    write_chunk_cache(path, kFingerprint, kGeometry, t, kv);
    std::ifstream in(path, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}
}  // namespace kvlink::fuzz
