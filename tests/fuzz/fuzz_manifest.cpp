// The cache directory's manifest parser on mutated JSON; seed: a manifest of two documents.
#include "fuzz/fuzz_target.h"
#include "kvlink/cache/manifest.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kvlink::fuzz::as_file(data, size, ".json");
  try {
    kvlink::read_manifest(path);
  } catch (const kvlink::Error&) {
  }
  return 0;
}

namespace kvlink::fuzz {
std::vector<std::string> seeds() {
  Manifest m;
  m.model_fingerprint = "b8951aa641e75aa1";
  m.docs_root = "/docs";
  m.chunk_tokens = 512;
  m.kv_type = "f16";
  m.opening_key = "00112233aabbccdd";
  for (int d = 0; d < 2; ++d) {
    ManifestDocument doc;
    doc.path = "doc" + std::to_string(d) + ".md";
    doc.title = "Title " + std::to_string(d);
    doc.content_hash = "0123456789abcdef";
    doc.chunks.push_back(ManifestChunk{"fedcba9876543210", 12, "Some text, \"quoted\"."});
    m.documents.push_back(doc);
  }
  return {manifest_to_string(m)};
}
}  // namespace kvlink::fuzz
