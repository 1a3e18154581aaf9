// The manifest of a cache directory (<cache>/manifest.json): which source documents were
// precomputed, their titles, and the chunks (cache keys, token counts, texts) each one gave. It is
// what kvlink-query --top-k searches with BM25 and what lets a second precompute see what changed.
// Format: docs/CACHE_FORMAT.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvlink {

inline constexpr uint32_t kManifestVersion = 1;

struct ManifestChunk {
  std::string key;       // chunk_cache_key: the cache file is <key>.<kv_type>.kvc
  int32_t n_tokens = 0;  // tokens of the rendered chunk
  std::string text;      // the chunk's text (without the title header)
};

struct ManifestDocument {
  std::string path;          // relative to docs_root
  std::string title;
  std::string content_hash;  // XXH3-64 of the file's bytes, hex
  std::vector<ManifestChunk> chunks;
};

struct Manifest {
  std::string model_fingerprint;  // hex
  std::string docs_root;          // absolute
  int32_t chunk_tokens = 0;
  std::string kv_type;            // f16, f32, q8_0, q4_0
  std::string opening_key;        // the cached opening (default system prompt); "" for none
  std::vector<ManifestDocument> documents;  // sorted by path
};

std::string manifest_path(const std::string& cache_dir);
// Throws kvlink::Error naming the problem when the file is missing or malformed.
Manifest read_manifest(const std::string& path);
std::string manifest_to_string(const Manifest& m);
// Writes atomically; returns false (and writes nothing) when the file already holds exactly this.
bool write_manifest(const std::string& path, const Manifest& m);

}  // namespace kvlink
