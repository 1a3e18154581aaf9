#include "kvlink/cache/precompute.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "kvlink/cache/cache_lock.h"
#include "kvlink/cache/cache_store.h"
#include "kvlink/cache/documents.h"
#include "kvlink/cache/manifest.h"
#include "kvlink/reuse/prompt.h"
#include "model/fingerprint.h"
#include "tensor/error.h"

namespace kvlink {

namespace fs = std::filesystem;

namespace {

struct Source {
  std::string rel;  // path relative to the documents folder
  std::string abs;
};

// Whether `p` lies under `root` (both canonical).
bool inside(const fs::path& p, const fs::path& root) {
  const auto mismatch = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return mismatch.first == root.end();
}

// Documents under `root`, sorted by relative path. A symbolic link whose target lies outside `root`
// is skipped with a note (its text would reach the manifest and prompts from elsewhere). Hidden entries (".name") are passed over;
// other files that are not .txt/.md are counted and noted.
std::vector<Source> walk(const std::string& root, PrecomputeSummary& s, const PrecomputeCallbacks& cb) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("documents folder '" + root + "' does not exist or is not a folder");
  std::vector<Source> out;
  const fs::path canonical_root = fs::weakly_canonical(root, ec);
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) throw Error("cannot read the documents folder '" + root + "': " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error("cannot walk '" + root + "': " + ec.message());
    const fs::path& p = it->path();
    if (p.filename().string().rfind('.', 0) == 0) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;  // FIFOs, sockets, devices: never opened
    const std::string rel = p.lexically_relative(root).generic_string();  // links named as found, not resolved
    if (it->is_symlink(ec) && !inside(fs::weakly_canonical(p, ec), canonical_root)) {
      ++s.files_skipped;
      if (cb.note) cb.note("skipped " + rel + " (a link to outside the documents folder)");
      continue;
    }
    if (!is_document_file(p.string())) {
      ++s.files_skipped;
      if (cb.note) cb.note("skipped " + rel + " (not .txt or .md)");
      continue;
    }
    out.push_back(Source{rel, p.string()});
  }
  std::sort(out.begin(), out.end(), [](const Source& a, const Source& b) { return a.rel < b.rel; });
  return out;
}

std::string content_hash(const std::string& text) { return hex64(XXH3_64bits(text.data(), text.size())); }

std::string human_bytes(int64_t b) {
  char buf[32];
  if (b >= 1 << 20) {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / (1 << 20));
  } else if (b >= 1 << 10) {
    std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(b) / (1 << 10));
  } else {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  }
  return buf;
}

// Deletes <key>.<type>.kvc files of `type` that no chunk of `m` references and that are older than
// `started` (a file written since, by a query encoding on the way, is kept).
int32_t prune(const std::string& cache_dir, const Manifest& m, fs::file_time_type started) {
  std::set<std::string> keep;
  for (const auto& d : m.documents) {
    for (const auto& c : d.chunks) keep.insert(cache_file_name(c.key, m.kv_type));
  }
  if (!m.opening_key.empty()) keep.insert(cache_file_name(m.opening_key, m.kv_type));
  const std::string suffix = cache_file_name("", m.kv_type);
  int32_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        !keep.count(name) && e.is_regular_file(ec) && e.last_write_time(ec) < started) {
      fs::remove(e.path(), ec);
      n += !ec;
    }
  }
  return n;
}

// What the last run recorded (path -> content hash), when it was made with m's model and settings.
std::map<std::string, std::string> previous_documents(const std::string& mpath, const Manifest& m,
                                                      const PrecomputeCallbacks& cb) {
  std::map<std::string, std::string> previous;
  std::error_code ec;
  if (!fs::exists(mpath, ec)) return previous;
  try {
    const Manifest old = read_manifest(mpath);
    if (old.model_fingerprint == m.model_fingerprint && old.docs_root == m.docs_root &&
        old.chunk_tokens == m.chunk_tokens && old.kv_type == m.kv_type) {
      for (const auto& d : old.documents) previous[d.path] = d.content_hash;
    } else if (cb.note) {
      cb.note("the manifest was made for another model, folder or settings; it is rebuilt");
    }
  } catch (const Error& e) {
    if (cb.note) cb.note(std::string(e.what()) + "; it is rebuilt");
  }
  return previous;
}

// Makes every chunk's cache exist (encoded, derived or found), with progress, and counts the work.
void encode_all(CacheStore& store, const std::vector<std::vector<DocumentChunk>>& chunks, PrecomputeSummary& s,
                const PrecomputeCallbacks& cb) {
  int32_t done = 0;
  int64_t tokens_done = 0;
  for (const auto& doc_chunks : chunks) {
    for (const DocumentChunk& c : doc_chunks) {
      store.ensure(c.tokens);
      ++done;
      tokens_done += static_cast<int64_t>(c.tokens.size());
      if (cb.progress) cb.progress(done, s.chunks, tokens_done);
    }
  }
  const CacheStoreStats& st = store.stats();
  if (cb.note) {
    for (const std::string& n : st.notes) cb.note(n);
  }
  s.chunks_encoded = st.encoded;
  s.chunks_derived = st.derived;
  s.chunks_rejected = st.rejected;
  s.tokens_encoded = st.tokens_encoded;
  s.bytes_written = st.bytes_written;
  s.encode_seconds = st.encode_ms / 1000.0;
}

}  // namespace

std::string PrecomputeSummary::line() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "precompute: %d files (%d changed, %d removed, %d skipped), %d chunks (%d encoded, %d derived, %d "
                "reused, %d rejected), %lld tokens (%lld encoded), %s written, %.2f s, %.0f tokens/s",
                files, files_changed, files_removed, files_skipped, chunks, chunks_encoded, chunks_derived,
                chunks - chunks_encoded - chunks_derived,
                chunks_rejected, static_cast<long long>(tokens), static_cast<long long>(tokens_encoded),
                human_bytes(bytes_written).c_str(), seconds,
                encode_seconds > 0 ? static_cast<double>(tokens_encoded) / encode_seconds : 0.0);
  std::string s = buf;
  if (files_pruned > 0) s += ", " + std::to_string(files_pruned) + " stale cache files pruned";
  return s;
}

PrecomputeSummary precompute(const Model& model, const PrecomputeOptions& o, const PrecomputeCallbacks& cb) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.chunk_tokens < 16) throw Error("--chunk-tokens must be at least 16");
  PrecomputeSummary s;
  CacheStore store(model, o.cache_dir, o.kv_type, o.n_threads);
  const CacheDirectoryLock lock(o.cache_dir, cb.note);
  // The start of the run (once the lock is held) by the file system's clock, for prune: a cache file
  // written since, by a query encoding on the way, is kept.
  const fs::file_time_type started = fs::file_time_type::clock::now();

  Manifest m;
  m.model_fingerprint = hex64(store.fingerprint());
  m.docs_root = fs::absolute(o.docs_dir).lexically_normal().generic_string();
  m.chunk_tokens = o.chunk_tokens;
  m.kv_type = cache_type_name(o.kv_type);

  const std::string mpath = manifest_path(o.cache_dir);
  std::map<std::string, std::string> previous = previous_documents(mpath, m, cb);

  // Chunk every document first (cheap), so the progress bar knows the total.
  std::vector<std::vector<DocumentChunk>> chunks;
  for (const Source& src : walk(o.docs_dir, s, cb)) {
    const Document doc = read_document(src.abs);
    ManifestDocument md;
    md.path = src.rel;
    md.title = doc.title;
    md.content_hash = content_hash(doc.text);
    const auto it = previous.find(src.rel);
    s.files_changed += it == previous.end() || it->second != md.content_hash;
    if (it != previous.end()) previous.erase(it);
    chunks.push_back(document_chunks(model, doc, o.chunk_tokens));
    if (chunks.back().empty() && cb.note) cb.note(src.rel + " holds no text; no chunks");
    for (const DocumentChunk& c : chunks.back()) {
      md.chunks.push_back(ManifestChunk{store.key(c.tokens), static_cast<int32_t>(c.tokens.size()), c.text.text});
      s.tokens += static_cast<int64_t>(c.tokens.size());
    }
    s.chunks += static_cast<int32_t>(chunks.back().size());
    m.documents.push_back(std::move(md));
    ++s.files;
  }
  s.files_removed = static_cast<int32_t>(previous.size());

  encode_all(store, chunks, s, cb);
  const CacheStoreStats& st = store.stats();
  // The opening with the default system prompt is cached too, so that the first query reuses it.
  if (model.has_chat_template) {
    const int64_t before = st.bytes_written;
    const std::vector<TokenId> opening = opening_tokens(model, PromptOptions{}.system_prompt);
    store.ensure(opening);
    m.opening_key = store.key(opening);
    s.bytes_written += store.stats().bytes_written - before;
  }
  std::error_code ec;
  if (write_manifest(mpath, m)) {
    s.bytes_written += static_cast<int64_t>(fs::file_size(mpath, ec));
  }
  if (o.prune) s.files_pruned = prune(o.cache_dir, m, started);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace kvlink
