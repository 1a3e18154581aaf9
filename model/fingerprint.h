// A model's identity for cache keys: reused KV caches are valid only for the exact weights that
// produced them, so the fingerprint hashes the whole GGUF file (XXH3-64, ~100 MB in tens of ms).
#pragma once
#include <cstdint>
#include <string>

namespace kvlink {

class GGUFFile;

uint64_t model_fingerprint(const GGUFFile& file);
std::string hex64(uint64_t v);  // 16 lower-case hex digits

}  // namespace kvlink
