#include "kvlink/cache_store.h"

#include <filesystem>
#include <system_error>

#include "kvlink/chunk_encoder.h"
#include "model/generate.h"
#include "tensor/error.h"

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
      fingerprint_(model.fingerprint()),
      geometry_(cache_geometry(model)) {
  cache_type_name(kv_type);  // validates
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) throw Error("cannot create the cache directory '" + dir_ + "'");
}

std::string CacheStore::key(const std::vector<TokenId>& tokens) const { return chunk_cache_key(fingerprint_, tokens); }

std::string CacheStore::path_of(const std::string& key) const {
  return (fs::path(dir_) / (key + "." + cache_type_name(kv_type_) + ".kvc")).string();
}

std::shared_ptr<const ChunkCacheFile> CacheStore::try_open(const std::string& path, const std::vector<TokenId>& tokens) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  try {
    auto file = std::make_shared<const ChunkCacheFile>(ChunkCacheFile::open(path, fingerprint_, geometry_));
    if (file->tokens() != tokens) throw Error(path + ": holds other tokens than its key's chunk");
    if (file->kv_type() != kv_type_) throw Error(path + ": element type differs from its name");
    return file;
  } catch (const Error& e) {
    ++stats_.rejected;
    stats_.notes.push_back(std::string("rejected ") + e.what() + "; recomputing");
    return nullptr;
  }
}

std::shared_ptr<const ChunkCacheFile> CacheStore::encode_and_write(const std::string& path,
                                                                   const std::vector<TokenId>& tokens) {
  const auto t0 = Clock::now();
  write_chunk_cache(path, fingerprint_, geometry_, kv_type_, encode_chunk(model_, tokens, n_threads_));
  auto file = std::make_shared<const ChunkCacheFile>(ChunkCacheFile::open(path, fingerprint_, geometry_));
  ++stats_.encoded;
  stats_.tokens_encoded += static_cast<int64_t>(tokens.size());
  stats_.bytes_written += static_cast<int64_t>(file->file_bytes());
  stats_.encode_ms += ms_since(t0);
  return file;
}

std::shared_ptr<const ChunkCacheFile> CacheStore::get(const std::vector<TokenId>& tokens) {
  if (tokens.empty()) throw Error("cannot cache an empty chunk");
  const std::string path = path_of(key(tokens));
  if (auto file = try_open(path, tokens)) {
    ++stats_.hits;
    return file;
  }
  return encode_and_write(path, tokens);
}

bool CacheStore::ensure(const std::vector<TokenId>& tokens) {
  const int32_t before = stats_.encoded;
  get(tokens);
  return stats_.encoded != before;
}

}  // namespace kvlink
