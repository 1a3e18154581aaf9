// Chunk cache files: the keys and values one document chunk produced when encoded alone at positions
// 0..n-1, stored once and reused by any query. Layout and validation rules: docs/CACHE_FORMAT.md.
// Files are written atomically and read through mmap; any mismatch (magic, version, model
// fingerprint, geometry, size, checksum) raises kvlink::Error so the caller recomputes the chunk.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "tensor/dtype.h"
#include "tensor/integer_dot.h"

namespace kvlink {

class MappedFile;

constexpr uint32_t kCacheFormatVersion = 1;

struct CacheGeometry {
  int32_t n_layer = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t width() const { return n_head_kv * head_dim; }
  bool operator==(const CacheGeometry& o) const {
    return n_layer == o.n_layer && n_head_kv == o.n_head_kv && head_dim == o.head_dim;
  }
};

// The one spelling of a chunk cache file's name: <key>.<type>.kvc (type as its flag spells it: f16...).
inline std::string cache_file_name(const std::string& key, const std::string& type_name) {
  return key + "." + type_name + ".kvc";
}
inline constexpr const char* kCacheFileExtension = ".kvc";

// Content address of a chunk's cache: XXH3 of (model fingerprint, format version, token ids).
std::string chunk_cache_key(uint64_t model_fingerprint, const std::vector<TokenId>& tokens);

// The fingerprint a chunk cache is keyed and stamped with when the chunk was encoded after `prefix`
// (modes prefix and ape: after the prompt's opening) instead of alone: XXH3 of (model fingerprint,
// a tag, the prefix's token ids). An empty prefix gives the model fingerprint itself, so plain caches
// and prefix-conditioned ones never share a key, and neither validates as the other.
uint64_t conditioned_fingerprint(uint64_t model_fingerprint, const std::vector<TokenId>& prefix);

// The fingerprint a cache store keys and stamps its chunks with for a model whose chunks are encoded
// with `products` (tensor/integer_dot.h; prefill takes them too, docs/PRODUCTS.md): F32 gives the model
// fingerprint itself, the others XXH3 of (model fingerprint, a tag, the products_arithmetic name), so caches
// encoded with different arithmetic never share a key, and neither validates as the other.
uint64_t products_fingerprint(uint64_t model_fingerprint, Products products);

// What one chunk's encoding produced, as F32 rows: per layer, n_tokens rows of geometry.width()
// values for K (already rotated to local positions 0..n-1) and for V.
struct ChunkKV {
  std::vector<TokenId> tokens;
  std::vector<std::vector<float>> k, v;  // [n_layer][n_tokens * width]
};

// Writes `kv` to `path` with elements of `kv_type` (F32, F16, Q8_0 or Q4_0), atomically.
void write_chunk_cache(const std::string& path, uint64_t model_fingerprint, const CacheGeometry& geometry,
                       DType kv_type, const ChunkKV& kv);

class ChunkCacheFile {
 public:
  // Maps and validates `path` against the model it must belong to. Throws kvlink::Error naming the
  // first problem found.
  static ChunkCacheFile open(const std::string& path, uint64_t model_fingerprint, const CacheGeometry& geometry);
  ChunkCacheFile(ChunkCacheFile&&) noexcept;
  ChunkCacheFile& operator=(ChunkCacheFile&&) noexcept;
  ~ChunkCacheFile();

  const std::vector<TokenId>& tokens() const { return tokens_; }
  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  DType kv_type() const { return kv_type_; }
  size_t row_bytes() const { return row_bytes_; }
  // n_tokens rows of row_bytes() each, in kv_type().
  const uint8_t* k_rows(int32_t layer) const;
  const uint8_t* v_rows(int32_t layer) const;
  size_t file_bytes() const;

 private:
  ChunkCacheFile() = default;
  std::unique_ptr<MappedFile> map_;
  std::vector<TokenId> tokens_;
  DType kv_type_ = DType::F16;
  size_t row_bytes_ = 0;
  size_t data_offset_ = 0;
  int32_t n_layer_ = 0;
};

}  // namespace kvlink
