// A directory of chunk caches, content-addressed (docs/DESIGN.md, a query's data flow, step 2): a chunk's cache lives
// at <dir>/<key>.<type>.kvc, key = chunk_cache_key(model fingerprint with the products it is
// encoded with, token ids). A lookup opens and
// validates the file; a missing or rejected one (bad magic, version, fingerprint, geometry, size,
// checksum, or other tokens) is encoded again and written atomically, never used. A missing cache whose
// chunk has a valid cache of a finer element type in the directory (F32 for F16; F32 or F16 for Q8_0
// and Q4_0) is made from that one's rows instead of running the model again: the Q8_0 and Q4_0 runs of
// an evaluation reuse the F16 run's work. Quantising F16 rows instead of the encoder's F32 output can
// move a value across a rounding boundary of the coarser type (tests/test_precompute.cpp bounds it).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvlink/cache/cache_file.h"
#include "model/llama_model.h"

namespace kvlink {

struct CacheStoreStats {
  int32_t hits = 0;            // a valid cache was found
  int32_t encoded = 0;         // missing or rejected: encoded and written
  int32_t derived = 0;         // missing: quantised from this chunk's cache of a finer type (no forward)
  int32_t rejected = 0;        // present but invalid; the reason is in notes
  int32_t unstored = 0;        // encoded but not storable in the directory (allow_unstored): used from memory
  int64_t tokens_encoded = 0;
  int64_t bytes_written = 0;
  double encode_ms = 0;        // encoding and writing
  std::vector<std::string> notes;
};

// Cache file element type from its flag spelling: f32, f16, q8_0, q4_0.
DType parse_cache_type(const std::string& name);
std::string cache_type_name(DType type);  // the flag spelling

class CacheStore {
 public:
  // Creates `dir` when missing. Throws kvlink::Error when it cannot. Chunks are keyed with
  // products_fingerprint(model, model.products): set the model's products first.
  CacheStore(const Model& model, std::string dir, DType kv_type, int n_threads);

  const std::string& dir() const { return dir_; }
  DType kv_type() const { return kv_type_; }
  uint64_t fingerprint() const { return fingerprint_; }
  // `prefix` (modes prefix and ape): the chunk is encoded after these tokens (chunk_encoder.h), and
  // keyed and stamped with conditioned_fingerprint(model, prefix); empty: encoded alone.
  std::string key(const std::vector<TokenId>& tokens, const std::vector<TokenId>& prefix = {}) const;
  std::string path_of(const std::string& key) const { return path_of(key, kv_type_); }  // <dir>/<key>.<type>.kvc
  std::string path_of(const std::string& key, DType type) const;

  // The chunk's cache, validated; encoded and written first when missing or rejected.
  std::shared_ptr<const ChunkCacheFile> get(const std::vector<TokenId>& tokens, const std::vector<TokenId>& prefix = {});
  // Makes sure a valid cache exists; true when it had to be made (encoded or derived).
  bool ensure(const std::vector<TokenId>& tokens, const std::vector<TokenId>& prefix = {});

  // A query that cannot store a cache it had to encode (read-only directory, a directory in the way)
  // still answers: the cache is kept in an unlinked temporary file, with one note. Off by default, so
  // that kvlink-precompute, whose job is storing, fails instead.
  void set_allow_unstored(bool allow) { allow_unstored_ = allow; }

  const CacheStoreStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 private:
  std::shared_ptr<const ChunkCacheFile> try_open(const std::string& path, const std::vector<TokenId>& tokens, uint64_t fp);
  std::shared_ptr<const ChunkCacheFile> encode_and_write(const std::string& path, const std::vector<TokenId>& tokens,
                                                         const std::vector<TokenId>& prefix);
  // The chunk's rows as F32 from a valid cache of a finer type than kv_type_, if the directory has one.
  bool read_finer_sibling(const std::string& key, const std::vector<TokenId>& tokens, uint64_t fp, ChunkKV* kv);
  std::shared_ptr<const ChunkCacheFile> unstored(const ChunkKV& kv, uint64_t fp, const std::string& why);

  const Model& model_;
  std::string dir_;
  DType kv_type_;
  int n_threads_;
  Products products_;  // the model's when the store was made: chunks are encoded and keyed with these
  uint64_t fingerprint_;
  CacheGeometry geometry_;
  CacheStoreStats stats_;
  bool allow_unstored_ = false;
};

}  // namespace kvlink
