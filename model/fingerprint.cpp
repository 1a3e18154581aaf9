#include "model/fingerprint.h"

#include <xxhash.h>

#include <cstdio>

#include "model/gguf.h"

namespace kvlink {

uint64_t model_fingerprint(const GGUFFile& file) { return XXH3_64bits(file.file_data(), file.file_size()); }

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace kvlink
