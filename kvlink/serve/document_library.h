// The server's documents: a folder of .txt/.md files and the cache directory kvlink-precompute keeps
// for it, with its manifest. A document's id is its path in the manifest (relative to the folder), so
// a folder precomputed on the shell serves at once. Adding writes `<id>.md` (temp file, then rename)
// and runs the incremental precompute; deleting removes the file and prunes its caches. Not
// thread-safe: the engine calls it from its own thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvlink/cache/manifest.h"
#include "kvlink/cache/precompute.h"
#include "kvlink/retrieval/retrieval.h"
#include "model/llama_model.h"

namespace kvlink {

struct LibraryDocument {
  std::string id;
  std::string title;
  int32_t chunks = 0;
  int64_t tokens = 0;
};

class DocumentLibrary {
 public:
  // docs_dir "": the manifest's folder, else <cache_dir>/documents. chunk_tokens 0 and kv_type "":
  // the manifest's, else 512 and f16.
  DocumentLibrary(const Model& model, std::string cache_dir, std::string docs_dir, int32_t chunk_tokens,
                  const std::string& kv_type, int n_threads);

  const std::string& docs_dir() const { return docs_dir_; }
  DType kv_type() const { return kv_type_; }
  int32_t chunk_tokens() const { return chunk_tokens_; }
  bool empty() const { return manifest_.documents.empty(); }

  std::vector<LibraryDocument> list() const;
  // Stores the documents and encodes their chunks; their ids in order. Throws kvlink::Error for an
  // empty title or text.
  std::vector<LibraryDocument> add(const std::vector<ChunkText>& docs);
  // False when no document has this id.
  bool remove(const std::string& id);
  // Every chunk of the document `id`, in order; throws kvlink::Error("unknown document id ...").
  std::vector<ChunkText> chunks_of(const std::string& id) const;
  std::vector<SourcedChunk> top_k(const std::string& question, size_t k) const;
  // Chunks of inline text, as precompute would cut them (their caches are made when first used).
  std::vector<ChunkText> chunks_of_text(const ChunkText& doc) const;

 private:
  void refresh(bool prune);
  const ManifestDocument* find(const std::string& id) const;

  const Model& model_;
  std::string cache_dir_, docs_dir_;
  int32_t chunk_tokens_ = 512;
  DType kv_type_ = DType::F16;
  int n_threads_ = 1;
  Manifest manifest_;
};

// The id a stored text gets: "doc-" and 16 hex digits of its title and text's hash, then ".md".
std::string document_id(const ChunkText& doc);

}  // namespace kvlink
