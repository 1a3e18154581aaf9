#include "kvlink/cache/cache_store.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "kvlink/cache/chunk_encoder.h"
#include "model/generate.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace kvlink {

namespace fs = std::filesystem;

DType parse_cache_type(const std::string& name) {
  if (name == "f16") return DType::F16;
  if (name == "f32") return DType::F32;
  if (name == "q8_0") return DType::Q8_0;
  if (name == "q4_0") return DType::Q4_0;
  throw Error("cache element type must be f16, f32, q8_0 or q4_0, not '" + name + "'");
}

std::string cache_type_name(DType type) {
  switch (type) {
    case DType::F16: return "f16";
    case DType::F32: return "f32";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    default: throw Error(std::string("not a cache element type: ") + dtype_name(type));
  }
}

CacheStore::CacheStore(const Model& model, std::string dir, DType kv_type, int n_threads)
    : model_(model),
      dir_(std::move(dir)),
      kv_type_(kv_type),
      n_threads_(n_threads),
      products_(model.products),
      fingerprint_(products_fingerprint(model.fingerprint(), model.products)),
      geometry_(cache_geometry(model)) {
  cache_type_name(kv_type);  // validates
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) throw Error("cannot create the cache directory '" + dir_ + "'");
}

std::string CacheStore::key(const std::vector<TokenId>& tokens, const std::vector<TokenId>& prefix) const {
  return chunk_cache_key(conditioned_fingerprint(fingerprint_, prefix), tokens);
}

std::string CacheStore::path_of(const std::string& key, DType type) const {
  return (fs::path(dir_) / cache_file_name(key, cache_type_name(type))).string();
}

std::shared_ptr<const ChunkCacheFile> CacheStore::try_open(const std::string& path, const std::vector<TokenId>& tokens,
                                                           uint64_t fp) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  try {
    auto file = std::make_shared<const ChunkCacheFile>(ChunkCacheFile::open(path, fp, geometry_));
    if (file->tokens() != tokens) throw Error(path + ": holds other tokens than its key's chunk");
    if (file->kv_type() != kv_type_) throw Error(path + ": element type differs from its name");
    return file;
  } catch (const Error& e) {
    ++stats_.rejected;
    stats_.notes.push_back(std::string("rejected ") + e.what() + "; recomputing");
    return nullptr;
  }
}

bool CacheStore::read_finer_sibling(const std::string& key, const std::vector<TokenId>& tokens, uint64_t fp, ChunkKV* kv) {
  std::vector<DType> finer;
  if (kv_type_ != DType::F32) finer.push_back(DType::F32);
  if (kv_type_ == DType::Q8_0 || kv_type_ == DType::Q4_0) finer.push_back(DType::F16);
  for (DType type : finer) {
    const std::string path = path_of(key, type);
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    try {
      const ChunkCacheFile file = ChunkCacheFile::open(path, fp, geometry_);
      if (file.tokens() != tokens || file.kv_type() != type) continue;
      const int64_t width = geometry_.width();
      const size_t n = static_cast<size_t>(file.n_tokens());
      kv->tokens = tokens;
      kv->k.assign(static_cast<size_t>(geometry_.n_layer), std::vector<float>(n * static_cast<size_t>(width)));
      kv->v = kv->k;
      for (int32_t l = 0; l < geometry_.n_layer; ++l) {
        for (size_t t = 0; t < n; ++t) {
          const size_t off = t * file.row_bytes();
          dequantize_row(type, file.k_rows(l) + off, kv->k[static_cast<size_t>(l)].data() + t * width, width);
          dequantize_row(type, file.v_rows(l) + off, kv->v[static_cast<size_t>(l)].data() + t * width, width);
        }
      }
      return true;
    } catch (const Error&) {
      continue;  // an invalid sibling is no source; the chunk is encoded instead
    }
  }
  return false;
}

std::shared_ptr<const ChunkCacheFile> CacheStore::encode_and_write(const std::string& path,
                                                                   const std::vector<TokenId>& tokens,
                                                                   const std::vector<TokenId>& prefix) {
  const auto t0 = Clock::now();
  const uint64_t fp = conditioned_fingerprint(fingerprint_, prefix);
  ChunkKV kv;
  const bool derived = read_finer_sibling(key(tokens, prefix), tokens, fp, &kv);
  if (!derived) {
    if (model_.products != products_) throw Error("the model's products changed after its cache store was made");
    kv = encode_chunk_after(model_, prefix, tokens, n_threads_);
  }
  std::shared_ptr<const ChunkCacheFile> file;
  try {
    write_chunk_cache(path, fp, geometry_, kv_type_, kv);
    file = std::make_shared<const ChunkCacheFile>(ChunkCacheFile::open(path, fp, geometry_));
    stats_.bytes_written += static_cast<int64_t>(file->file_bytes());
  } catch (const Error& e) {
    if (!allow_unstored_) throw;
    file = unstored(kv, fp, e.what());
  }
  if (derived) {
    ++stats_.derived;
  } else {
    ++stats_.encoded;
    stats_.tokens_encoded += static_cast<int64_t>(tokens.size());
  }
  if (!derived) stats_.encode_ms += ms_since(t0);
  return file;
}

std::shared_ptr<const ChunkCacheFile> CacheStore::unstored(const ChunkKV& kv, uint64_t fp, const std::string& why) {
  if (!stats_.unstored) stats_.notes.push_back("cannot store chunk caches in '" + dir_ + "' (" + why + "); answering without storing them");
  ++stats_.unstored;
  static int counter = 0;
  const std::string path = (fs::temp_directory_path() / ("kvlink-unstored-" + std::to_string(::getpid()) + "-" +
                                                          std::to_string(counter++) + kCacheFileExtension)).string();
  write_chunk_cache(path, fp, geometry_, kv_type_, kv);
  auto file = std::make_shared<const ChunkCacheFile>(ChunkCacheFile::open(path, fp, geometry_));
  std::error_code ec;
  fs::remove(path, ec);  // the mapping stays valid; nothing is left behind
  return file;
}

std::shared_ptr<const ChunkCacheFile> CacheStore::get(const std::vector<TokenId>& tokens,
                                                      const std::vector<TokenId>& prefix) {
  if (tokens.empty()) throw Error("cannot cache an empty chunk");
  const std::string path = path_of(key(tokens, prefix));
  if (auto file = try_open(path, tokens, conditioned_fingerprint(fingerprint_, prefix))) {
    ++stats_.hits;
    return file;
  }
  return encode_and_write(path, tokens, prefix);
}

bool CacheStore::ensure(const std::vector<TokenId>& tokens, const std::vector<TokenId>& prefix) {
  const int32_t before = stats_.encoded + stats_.derived;
  get(tokens, prefix);
  return stats_.encoded + stats_.derived != before;
}

}  // namespace kvlink
