#include "kvlink/cache/cache_file.h"

#include <xxhash.h>

#include <cstring>

#include "model/fingerprint.h"
#include "model/gguf.h"
#include "model/mapped_file.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace kvlink {

namespace {

constexpr char kMagic[4] = {'K', 'V', 'L', 'C'};
constexpr size_t kHeaderBytes = 40;  // magic .. reserved, before the token ids
constexpr size_t kDataAlign = 64;
constexpr int64_t kMaxTokens = int64_t{1} << 24;

size_t align_up(size_t n) { return (n + kDataAlign - 1) / kDataAlign * kDataAlign; }

bool storable(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::Q8_0 || t == DType::Q4_0; }

struct Layout {
  size_t data_offset, row_bytes, layer_bytes, total;
};

Layout layout_of(const CacheGeometry& g, DType type, size_t n_tokens) {
  Layout l{};
  l.data_offset = align_up(kHeaderBytes + 4 * n_tokens);
  l.row_bytes = row_bytes(type, g.width());
  l.layer_bytes = 2 * l.row_bytes * n_tokens;  // K rows then V rows
  l.total = l.data_offset + l.layer_bytes * static_cast<size_t>(g.n_layer) + 8;
  return l;
}

template <class T>
void put(std::vector<uint8_t>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}
template <class T>
T get(const uint8_t* p, size_t at) {
  T v;
  std::memcpy(&v, p + at, sizeof v);
  return v;
}

}  // namespace

namespace {
// XXH3 of a fingerprint followed by two byte ranges: the one recipe of the keys and fingerprints below.
uint64_t hash_after(uint64_t fingerprint, const void* a, size_t a_bytes, const void* b, size_t b_bytes) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &fingerprint, sizeof fingerprint);
  XXH3_64bits_update(st, a, a_bytes);
  XXH3_64bits_update(st, b, b_bytes);
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}
}  // namespace

std::string chunk_cache_key(uint64_t model_fingerprint, const std::vector<TokenId>& tokens) {
  return hex64(hash_after(model_fingerprint, &kCacheFormatVersion, sizeof kCacheFormatVersion, tokens.data(),
                          tokens.size() * sizeof(TokenId)));
}

uint64_t products_fingerprint(uint64_t model_fingerprint, Products products) {
  if (products == Products::F32) return model_fingerprint;
  static constexpr char kTag[] = "kvlink-products-";  // then the name, without the tag's terminator
  const char* name = products_arithmetic(products);
  return hash_after(model_fingerprint, kTag, sizeof kTag - 1, name, std::strlen(name));
}

uint64_t conditioned_fingerprint(uint64_t model_fingerprint, const std::vector<TokenId>& prefix) {
  if (prefix.empty()) return model_fingerprint;
  static constexpr char kTag[] = "kvlink-prefix-conditioned";
  return hash_after(model_fingerprint, kTag, sizeof kTag, prefix.data(), prefix.size() * sizeof(TokenId));
}

void write_chunk_cache(const std::string& path, uint64_t model_fingerprint, const CacheGeometry& g, DType kv_type,
                       const ChunkKV& kv) {
  if (!storable(kv_type)) throw Error(std::string("cache element type must be f32, f16, q8_0 or q4_0, not ") + dtype_name(kv_type));
  const size_t n = kv.tokens.size();
  if (n == 0 || static_cast<int64_t>(n) > kMaxTokens) throw Error("a cached chunk needs 1 to 2^24 tokens");
  if (kv.k.size() != static_cast<size_t>(g.n_layer) || kv.v.size() != static_cast<size_t>(g.n_layer)) {
    throw Error("chunk KV has the wrong number of layers");
  }
  const Layout l = layout_of(g, kv_type, n);
  std::vector<uint8_t> out(l.total, 0);
  std::memcpy(out.data(), kMagic, 4);
  put<uint32_t>(out, 4, kCacheFormatVersion);
  put<uint64_t>(out, 8, model_fingerprint);
  put<uint32_t>(out, 16, static_cast<uint32_t>(g.n_layer));
  put<uint32_t>(out, 20, static_cast<uint32_t>(g.n_head_kv));
  put<uint32_t>(out, 24, static_cast<uint32_t>(g.head_dim));
  put<uint32_t>(out, 28, static_cast<uint32_t>(kv_type));
  put<uint32_t>(out, 32, static_cast<uint32_t>(n));
  std::memcpy(out.data() + kHeaderBytes, kv.tokens.data(), 4 * n);
  const size_t width = static_cast<size_t>(g.width());
  for (int32_t layer = 0; layer < g.n_layer; ++layer) {
    const auto& k = kv.k[static_cast<size_t>(layer)];
    const auto& v = kv.v[static_cast<size_t>(layer)];
    if (k.size() != n * width || v.size() != n * width) throw Error("chunk KV rows have the wrong size");
    uint8_t* base = out.data() + l.data_offset + static_cast<size_t>(layer) * l.layer_bytes;
    for (size_t t = 0; t < n; ++t) {
      quantize_row(kv_type, k.data() + t * width, base + t * l.row_bytes, g.width());
      quantize_row(kv_type, v.data() + t * width, base + (n + t) * l.row_bytes, g.width());
    }
  }
  put<uint64_t>(out, l.total - 8, XXH3_64bits(out.data(), l.total - 8));
  write_file_atomic(path, out.data(), out.size());
}

ChunkCacheFile ChunkCacheFile::open(const std::string& path, uint64_t model_fingerprint, const CacheGeometry& g) {
  ChunkCacheFile f;
  f.map_ = std::make_unique<MappedFile>(path);
  const uint8_t* p = f.map_->data();
  const size_t size = f.map_->size();
  auto fail = [&](const std::string& what) { throw Error(path + ": " + what); };
  if (size < kHeaderBytes + 8 || std::memcmp(p, kMagic, 4) != 0) fail("not a kvlink chunk cache (bad magic)");
  if (get<uint32_t>(p, 4) != kCacheFormatVersion) {
    fail("cache format version " + std::to_string(get<uint32_t>(p, 4)) + ", expected " + std::to_string(kCacheFormatVersion));
  }
  if (get<uint64_t>(p, 8) != model_fingerprint) fail("made by a different model (fingerprint mismatch)");
  const CacheGeometry stored{static_cast<int32_t>(get<uint32_t>(p, 16)), static_cast<int32_t>(get<uint32_t>(p, 20)),
                             static_cast<int32_t>(get<uint32_t>(p, 24))};
  if (!(stored == g)) fail("geometry (layers, kv heads, head size) differs from the model's");
  DType type;
  if (!dtype_from_gguf(get<uint32_t>(p, 28), &type) || !storable(type)) fail("unsupported element type");
  const uint32_t n = get<uint32_t>(p, 32);
  if (n == 0 || n > kMaxTokens) fail("bad token count " + std::to_string(n));
  if (g.width() % type_traits(type).block_size != 0) fail("row width is not a whole number of blocks");
  const Layout l = layout_of(g, type, n);
  if (size != l.total) fail("size " + std::to_string(size) + " bytes, expected " + std::to_string(l.total) + " (truncated?)");
  if (get<uint64_t>(p, size - 8) != XXH3_64bits(p, size - 8)) fail("checksum mismatch (corrupted)");
  f.tokens_.resize(n);
  std::memcpy(f.tokens_.data(), p + kHeaderBytes, 4 * static_cast<size_t>(n));
  f.kv_type_ = type;
  f.row_bytes_ = l.row_bytes;
  f.data_offset_ = l.data_offset;
  f.n_layer_ = g.n_layer;
  return f;
}

ChunkCacheFile::ChunkCacheFile(ChunkCacheFile&&) noexcept = default;
ChunkCacheFile& ChunkCacheFile::operator=(ChunkCacheFile&&) noexcept = default;
ChunkCacheFile::~ChunkCacheFile() = default;

const uint8_t* ChunkCacheFile::k_rows(int32_t layer) const {
  if (layer < 0 || layer >= n_layer_) throw Error("cache layer out of range");
  return map_->data() + data_offset_ + static_cast<size_t>(layer) * 2 * row_bytes_ * tokens_.size();
}

const uint8_t* ChunkCacheFile::v_rows(int32_t layer) const { return k_rows(layer) + row_bytes_ * tokens_.size(); }

size_t ChunkCacheFile::file_bytes() const { return map_->size(); }

}  // namespace kvlink
