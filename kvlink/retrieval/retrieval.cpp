#include "kvlink/retrieval/retrieval.h"

#include "kvlink/retrieval/bm25.h"
#include "kvlink/cache/documents.h"
#include "tensor/error.h"

namespace kvlink {

std::vector<SourcedChunk> chunks_from_files(const Model& model, const std::vector<std::string>& paths, int32_t chunk_tokens) {
  std::vector<SourcedChunk> out;
  for (const std::string& path : paths) {
    if (!is_document_file(path)) throw Error("'" + path + "' is not a .txt or .md document");
    for (DocumentChunk& c : document_chunks(model, read_document(path), chunk_tokens)) {
      out.push_back(SourcedChunk{std::move(c.text), path, 0});
    }
  }
  return out;
}

std::vector<SourcedChunk> retrieve_top_k(const Manifest& manifest, const std::string& question, size_t k) {
  Bm25Index index;
  std::vector<SourcedChunk> all;
  for (const ManifestDocument& d : manifest.documents) {
    for (const ManifestChunk& c : d.chunks) {
      index.add(c.key, d.title + "\n" + c.text);
      all.push_back(SourcedChunk{ChunkText{d.title, c.text}, d.path, 0});
    }
  }
  if (all.empty()) throw Error("the manifest lists no chunks");
  std::vector<SourcedChunk> out;
  for (const auto& [i, score] : index.search(question, k)) {
    out.push_back(all[i]);
    out.back().score = score;
  }
  return out;
}

}  // namespace kvlink
