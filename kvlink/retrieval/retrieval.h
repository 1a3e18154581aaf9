// Where a query's chunks come from: named document files (--docs), chunked exactly as precompute
// chunks them, or the top-k chunks of a cache directory's manifest by BM25 over title and text
// (--top-k).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvlink/cache/manifest.h"
#include "kvlink/reuse/prompt.h"
#include "model/llama_model.h"

namespace kvlink {

struct SourcedChunk {
  ChunkText text;
  std::string source;  // document path
  double score = 0;    // BM25 score (--top-k), 0 otherwise
};

// Every chunk of each file, in the order given. Throws kvlink::Error for an unreadable or unsupported file.
std::vector<SourcedChunk> chunks_from_files(const Model& model, const std::vector<std::string>& paths, int32_t chunk_tokens);

// The k best chunks of the manifest for `question`, best first. Throws when the manifest has no chunks.
std::vector<SourcedChunk> retrieve_top_k(const Manifest& manifest, const std::string& question, size_t k);

}  // namespace kvlink
