#include "kvlink/cache/manifest.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/file_io.h"
#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

using nlohmann::json;

std::string manifest_path(const std::string& cache_dir) {
  return (std::filesystem::path(cache_dir) / "manifest.json").string();
}

namespace {
// A missing manifest is "no manifest"; one that is not a regular file (a FIFO) is refused by the read.
std::string read_all(const std::string& path, bool* ok) {
  std::error_code ec;
  *ok = std::filesystem::exists(path, ec);
  return *ok ? read_regular_file(path, "manifest") : "";
}
}  // namespace

Manifest read_manifest(const std::string& path) {
  bool ok = false;
  const std::string text = read_all(path, &ok);
  if (!ok) throw Error(path + ": no manifest (run kvlink-precompute on the documents first)");
  try {
    const json j = json::parse(text);
    if (j.at("format").get<std::string>() != "kvlink-manifest") throw Error("not a kvlink manifest");
    if (j.at("version").get<uint32_t>() != kManifestVersion) throw Error("unsupported manifest version");
    Manifest m;
    m.model_fingerprint = j.at("model_fingerprint").get<std::string>();
    m.docs_root = j.at("docs_root").get<std::string>();
    m.chunk_tokens = j.at("chunk_tokens").get<int32_t>();
    m.kv_type = j.at("kv_type").get<std::string>();
    m.opening_key = j.value("opening_key", "");
    for (const json& d : j.at("documents")) {
      ManifestDocument doc;
      doc.path = d.at("path").get<std::string>();
      doc.title = d.at("title").get<std::string>();
      doc.content_hash = d.at("content_hash").get<std::string>();
      for (const json& c : d.at("chunks")) {
        doc.chunks.push_back(ManifestChunk{c.at("key").get<std::string>(), c.at("n_tokens").get<int32_t>(),
                                           c.at("text").get<std::string>()});
      }
      m.documents.push_back(std::move(doc));
    }
    return m;
  } catch (const json::exception& e) {
    throw Error(path + ": malformed manifest (" + std::string(e.what()) + ")");
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::string manifest_to_string(const Manifest& m) {
  json docs = json::array();
  for (const ManifestDocument& d : m.documents) {
    json chunks = json::array();
    for (const ManifestChunk& c : d.chunks) chunks.push_back({{"key", c.key}, {"n_tokens", c.n_tokens}, {"text", c.text}});
    docs.push_back({{"path", d.path}, {"title", d.title}, {"content_hash", d.content_hash}, {"chunks", chunks}});
  }
  const json j = {{"format", "kvlink-manifest"}, {"version", kManifestVersion}, {"model_fingerprint", m.model_fingerprint},
                  {"docs_root", m.docs_root},    {"chunk_tokens", m.chunk_tokens},  {"kv_type", m.kv_type},
                  {"opening_key", m.opening_key}, {"documents", docs}};
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

bool write_manifest(const std::string& path, const Manifest& m) {
  const std::string text = manifest_to_string(m);
  bool ok = false;
  if (read_all(path, &ok) == text && ok) return false;
  write_file_atomic(path, text.data(), text.size());
  return true;
}

}  // namespace kvlink
