// kvlink-precompute's library side: walks a folder of documents, chunks each one, and makes sure every
// chunk has a valid cache in the cache directory (encoding only what is missing or rejected), then
// writes the manifest. Incremental: a second run over unchanged documents encodes and writes nothing.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "tensor/dtype.h"

namespace kvlink {

struct PrecomputeOptions {
  std::string docs_dir;
  std::string cache_dir;
  int32_t chunk_tokens = 512;
  DType kv_type = DType::F16;
  int n_threads = 1;
  bool prune = false;  // delete cache files of this element type that no document references any more
};

struct PrecomputeSummary {
  int32_t files = 0;            // documents read (.txt, .md)
  int32_t files_skipped = 0;    // other files
  int32_t files_changed = 0;    // new or changed since the last manifest
  int32_t files_removed = 0;    // in the last manifest, gone now
  int32_t chunks = 0;
  int32_t chunks_encoded = 0;
  int32_t chunks_derived = 0;   // made from the chunk's cache of a finer type (cache_store.h)
  int32_t chunks_rejected = 0;  // existing cache files that failed validation (then re-encoded)
  int64_t tokens = 0;
  int64_t tokens_encoded = 0;
  int64_t bytes_written = 0;    // cache files and manifest
  int32_t files_pruned = 0;
  double seconds = 0;
  double encode_seconds = 0;
  std::string line() const;     // the one-line summary the tool prints
};

struct PrecomputeCallbacks {
  std::function<void(const std::string&)> note;                    // one line: a skipped file, a rejected cache
  std::function<void(int32_t done, int32_t total, int64_t tokens)> progress;  // after each chunk
};

// Throws kvlink::Error on a missing documents folder, an unreadable file or an unwritable cache.
PrecomputeSummary precompute(const Model& model, const PrecomputeOptions& options, const PrecomputeCallbacks& cb = {});

}  // namespace kvlink
