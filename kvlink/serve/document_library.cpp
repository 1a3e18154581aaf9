#include "kvlink/serve/document_library.h"

#include <xxhash.h>

#include <filesystem>

#include "kvlink/cache/cache_store.h"
#include "kvlink/cache/documents.h"
#include "model/fingerprint.h"
#include "model/gguf.h"
#include "tensor/error.h"

namespace fs = std::filesystem;

namespace kvlink {

std::string document_id(const ChunkText& doc) {
  const std::string both = doc.title + '\0' + doc.text;
  return "doc-" + hex64(XXH3_64bits(both.data(), both.size())) + ".md";
}

DocumentLibrary::DocumentLibrary(const Model& model, std::string cache_dir, std::string docs_dir, int32_t chunk_tokens,
                                 const std::string& kv_type, int n_threads)
    : model_(model), cache_dir_(std::move(cache_dir)), docs_dir_(std::move(docs_dir)), n_threads_(n_threads) {
  const std::string mpath = manifest_path(cache_dir_);
  const bool have = fs::exists(mpath);
  if (have) manifest_ = read_manifest(mpath);
  if (docs_dir_.empty()) docs_dir_ = have ? manifest_.docs_root : (fs::path(cache_dir_) / "documents").string();
  chunk_tokens_ = chunk_tokens > 0 ? chunk_tokens : (have ? manifest_.chunk_tokens : 512);
  kv_type_ = parse_cache_type(!kv_type.empty() ? kv_type : (have ? manifest_.kv_type : "f16"));
  fs::create_directories(docs_dir_);
  // The folder may have changed since the manifest was written (or have another chunk size or cache
  // type): the incremental precompute brings it up to date, encoding only what is new.
  refresh(false);
}

void DocumentLibrary::refresh(bool prune) {
  PrecomputeOptions o;
  o.docs_dir = docs_dir_;
  o.cache_dir = cache_dir_;
  o.chunk_tokens = chunk_tokens_;
  o.kv_type = kv_type_;
  o.n_threads = n_threads_;
  o.prune = prune;
  precompute(model_, o);
  manifest_ = read_manifest(manifest_path(cache_dir_));
}

namespace {

LibraryDocument describe(const ManifestDocument& d) {
  LibraryDocument ld{d.path, d.title, static_cast<int32_t>(d.chunks.size()), 0};
  for (const ManifestChunk& c : d.chunks) ld.tokens += c.n_tokens;
  return ld;
}

}  // namespace

std::vector<LibraryDocument> DocumentLibrary::list() const {
  std::vector<LibraryDocument> out;
  for (const ManifestDocument& d : manifest_.documents) out.push_back(describe(d));
  return out;
}

std::vector<LibraryDocument> DocumentLibrary::add(const std::vector<ChunkText>& docs) {
  std::vector<std::string> ids;
  for (const ChunkText& d : docs) {
    if (d.title.empty() || d.title.find('\n') != std::string::npos) throw Error("a document needs a title of one line");
    if (d.text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error("a document needs a text");
  }
  for (const ChunkText& d : docs) {
    ids.push_back(document_id(d));
    const std::string body = "# " + d.title + "\n\n" + d.text + "\n";
    write_file_atomic((fs::path(docs_dir_) / ids.back()).string(), body.data(), body.size());
  }
  refresh(false);
  std::vector<LibraryDocument> out;
  for (const std::string& id : ids) {
    if (const ManifestDocument* d = find(id)) out.push_back(describe(*d));
  }
  return out;
}

bool DocumentLibrary::remove(const std::string& id) {
  if (!find(id)) return false;
  fs::remove(fs::path(docs_dir_) / id);
  refresh(true);
  return true;
}

const ManifestDocument* DocumentLibrary::find(const std::string& id) const {
  for (const ManifestDocument& d : manifest_.documents) {
    if (d.path == id) return &d;
  }
  return nullptr;
}

std::vector<ChunkText> DocumentLibrary::chunks_of(const std::string& id) const {
  const ManifestDocument* d = find(id);
  if (!d) throw Error("unknown document id '" + id + "'");
  std::vector<ChunkText> out;
  for (const ManifestChunk& c : d->chunks) out.push_back(ChunkText{d->title, c.text});
  return out;
}

std::vector<SourcedChunk> DocumentLibrary::top_k(const std::string& question, size_t k) const {
  if (manifest_.documents.empty()) throw Error("top_k: no document is stored");
  return retrieve_top_k(manifest_, question, k);
}

std::vector<ChunkText> DocumentLibrary::chunks_of_text(const ChunkText& doc) const {
  if (doc.title.empty() || doc.text.empty()) throw Error("an inline document needs a title and a text");
  std::vector<ChunkText> out;
  for (DocumentChunk& c : document_chunks(model_, Document{"", doc.title, doc.text}, chunk_tokens_)) {
    out.push_back(std::move(c.text));
  }
  return out;
}

}  // namespace kvlink
